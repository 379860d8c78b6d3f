"""Small HTML building blocks of the report: escaping, number formats, tables, sections.

Every value taken from a result passes through `escape` (or a formatter
that calls it) before it reaches the page.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any


def escape(value: Any) -> str:
    return html.escape(str(value), quote=True)


def num(value: Any, digits: int = 2) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return escape(value)
    if isinstance(value, float) and not math.isfinite(value):
        return escape(value)
    return f"{value:,.{digits}f}" if isinstance(value, float) else f"{value:,}"


def days(value: Any) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return num(value)
    return f"{value:,.1f} d" if value >= 1 else f"{value * 24:,.1f} h"


def table(head: Sequence[str], rows: Sequence[Sequence[str]], cls: str = "") -> str:
    """Cells are already-escaped HTML."""
    th = "".join(f"<th>{h}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>'


def section(sid: str, heading: str, body: str, attrs: str = "") -> str:
    return f'<section id="{sid}"{attrs}><h2>{heading}</h2>{body}</section>'


def note(text: str) -> str:
    return f'<p class="note">{escape(text)}</p>'
