"""`atb serve --config FILE`: one TOML file for the node, its alerts and the monitor.

    [node] / [venue] / [risk] / [paper]   the node, exactly as `atb live` reads them (atb.node.config)
    [alerts]                              rules, reminders, Apprise channels and routes (AlertsConfig)
    [monitor]                             sampling intervals

A file without `[node]` serves the API with alerts on system metrics and no trading node. Unknown
sections are errors with a suggestion, like unknown keys inside a section: a misspelt `[alert]`
that silently disables every notification is the kind of mistake this refuses.
"""

from __future__ import annotations

import difflib
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from atb.errors import UserInputError
from atb.monitor.alerts import AlertsConfig
from atb.node.config import NodeConfig

__all__ = ["MonitorSection", "ServeConfig", "load_serve_config"]

_NODE_SECTIONS = ("node", "venue", "risk", "paper")
_SECTIONS = (*_NODE_SECTIONS, "alerts", "monitor")


class MonitorSection(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    interval_seconds: float = Field(default=15.0, gt=0, le=3600, description="Sampling and alert evaluation.")
    fast_interval_seconds: float | None = Field(
        default=None, gt=0, le=3600, description="The same while an alert fires (default: 2 s, or the interval)."
    )

    @model_validator(mode="after")
    def _ordered(self) -> MonitorSection:
        if self.fast_interval_seconds is not None and self.fast_interval_seconds > self.interval_seconds:
            raise ValueError("fast_interval_seconds must not exceed interval_seconds")
        return self

    @property
    def fast(self) -> float:
        return self.fast_interval_seconds or min(2.0, self.interval_seconds)


class ServeConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    node: NodeConfig | None = None
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    monitor: MonitorSection = Field(default_factory=MonitorSection)


def _first_error(path: Path, section: str | None, exc: ValidationError) -> UserInputError:
    first = exc.errors()[0]
    loc = [section] if section else []
    where = ".".join([*loc, *(str(p) for p in first["loc"])]) or "(top level)"
    message = str(first["msg"]).removeprefix("Value error, ")
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return UserInputError(f"{path}: {where}: {message}{more}")


def load_serve_config(path: Path | str) -> ServeConfig:
    """Read and validate the file; every problem is one `UserInputError` naming the section and key."""
    path = Path(path)
    try:
        raw: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserInputError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UserInputError(f"{path}: not valid TOML: {exc}") from None
    for key in raw:
        if key not in _SECTIONS:
            near = difflib.get_close_matches(key, _SECTIONS, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            # no [brackets] in messages: the CLI prints errors with Rich, which reads them as markup
            raise UserInputError(f"{path}: unknown section {key!r}{hint}; sections: {', '.join(_SECTIONS)}")
    node: NodeConfig | None = None
    node_part = {k: raw[k] for k in _NODE_SECTIONS if k in raw}
    if node_part:
        if "node" not in node_part:
            raise UserInputError(f"{path}: section(s) {', '.join(node_part)} given without a 'node' section")
        try:
            node = NodeConfig.model_validate(node_part)
        except ValidationError as exc:
            raise _first_error(path, None, exc) from None
    try:
        alerts = AlertsConfig.model_validate(raw.get("alerts", {}))
    except ValidationError as exc:
        raise _first_error(path, "alerts", exc) from None
    try:
        monitor = MonitorSection.model_validate(raw.get("monitor", {}))
    except ValidationError as exc:
        raise _first_error(path, "monitor", exc) from None
    return ServeConfig(node=node, alerts=alerts, monitor=monitor)
