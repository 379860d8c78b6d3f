"""What to watch: alert severities, rules, the built-in rules and the ``alerts`` config section.

Kept apart from the state machine (`atb.monitor.alerts`) because this is the part people write
(config files, the API) and validate, while the engine is the part the node runs.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from enum import StrEnum
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class Severity(StrEnum):
    """How bad an alert is. Ordered by rank (INFO < CRITICAL), not alphabetically as a str would be."""

    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"
    CRITICAL = "CRITICAL"

    @property
    def rank(self) -> int:
        return _RANK[self.value]

    @classmethod
    def _missing_(cls, value: object) -> Severity | None:
        # config files and CLI flags write "critical" as often as "CRITICAL"
        return cls.__members__.get(value.upper()) if isinstance(value, str) else None

    def __lt__(self, other: object) -> bool:
        return self.rank < other.rank if isinstance(other, Severity) else NotImplemented

    def __le__(self, other: object) -> bool:
        return self.rank <= other.rank if isinstance(other, Severity) else NotImplemented

    def __gt__(self, other: object) -> bool:
        return self.rank > other.rank if isinstance(other, Severity) else NotImplemented

    def __ge__(self, other: object) -> bool:
        return self.rank >= other.rank if isinstance(other, Severity) else NotImplemented


_RANK = {"INFO": 0, "WARNING": 1, "ERROR": 2, "CRITICAL": 3}

Comparison = Literal[">", ">=", "<", "<=", "==", "!="]
_OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]{0,99}")
"""Rule and metric names: Prometheus-like, at most 100 characters (the history table's column)."""


class AlertRule(BaseModel):
    """One condition on one metric: ``metric comparison threshold`` held for ``for_seconds``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    metric: str
    comparison: Comparison
    threshold: float = Field(allow_inf_nan=False)
    for_seconds: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    severity: Severity
    description: str = ""
    labels: dict[str, str] = Field(default_factory=dict)

    @field_validator("name", "metric")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not _NAME.fullmatch(value):
            raise ValueError(
                f"{value!r} is not a valid name: use letters, digits and _ . : - "
                "(starting with a letter or _), at most 100 characters"
            )
        return value

    def holds(self, value: float) -> bool:
        return _OPS[self.comparison](value, self.threshold)

    @property
    def condition(self) -> str:
        return f"{self.metric} {self.comparison} {format_number(self.threshold)}"


DEFAULT_RENOTIFY: dict[Severity, float | None] = {
    Severity.INFO: None,
    Severity.WARNING: 3600.0,
    Severity.ERROR: 900.0,
    Severity.CRITICAL: 300.0,
}
"""Seconds between reminders while an alert holds; None = never remind (the FIRED event is enough)."""


BUILTIN_METRICS: dict[str, str] = {
    "drawdown_pct": "Equity drawdown from its running peak, in percent (0-100).",
    "daily_loss_pct": "Loss since the start of the UTC day, in percent of that day's opening equity (loss > 0).",
    "feed_staleness_seconds": "Seconds since the last update of the stalest subscribed market-data feed.",
    "breaker_open": "1 while the circuit breaker of any venue is open, else 0 (the maximum over venues).",
    "rejected_order_rate": "Orders rejected (by a venue or a risk check) per minute, over a sliding window.",
    "disk_free_pct": "Free space on the volume holding the state database and market data, in percent.",
    "memory_used_pct": "System memory in use, in percent (psutil.virtual_memory().percent).",
}
"""The metric names the built-in rules read; the monitor's collectors publish values under these names."""


def builtin_rules() -> list[AlertRule]:
    """Rules every node should have; a config rule with the same name replaces one of these."""

    def rule(metric: str, cmp: Comparison, threshold: float, severity: Severity, for_s: float, why: str) -> AlertRule:
        return AlertRule(
            name=metric,
            metric=metric,
            comparison=cmp,
            threshold=threshold,
            for_seconds=for_s,
            severity=severity,
            description=why,
        )

    return [
        rule("drawdown_pct", ">", 20, Severity.CRITICAL, 0, "Equity is more than 20% below its peak."),
        rule("daily_loss_pct", ">", 5, Severity.ERROR, 0, "Today's loss exceeds 5% of the day's opening equity."),
        rule("feed_staleness_seconds", ">", 60, Severity.ERROR, 0, "A market-data feed sent nothing for a minute."),
        rule("breaker_open", ">=", 1, Severity.ERROR, 60, "A venue's circuit breaker has been open for a minute."),
        rule("rejected_order_rate", ">", 5, Severity.WARNING, 120, "More than 5 orders a minute are rejected."),
        rule("disk_free_pct", "<", 10, Severity.WARNING, 300, "Less than 10% disk space is free."),
        rule("memory_used_pct", ">", 90, Severity.WARNING, 300, "More than 90% of memory is in use."),
    ]


class AlertsConfig(BaseModel):
    """The ``alerts`` section of the config: rules, reminder intervals and delivery routes.

    ``channels`` names lists of Apprise URLs (``ops: [slack://..., mailto://...]``); ``routes``
    maps a severity to channel names and/or URLs. Both hold secrets, so they are left out of the
    repr and validation errors never echo the input.
    """

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    include_builtin: bool = True
    rules: list[AlertRule] = Field(default_factory=list)
    renotify_seconds: dict[Severity, float | None] = Field(default_factory=lambda: dict(DEFAULT_RENOTIFY))
    channels: dict[str, list[str]] = Field(default_factory=dict, repr=False)
    routes: dict[Severity, list[str]] = Field(default_factory=dict, repr=False)

    @field_validator("renotify_seconds")
    @classmethod
    def _intervals(cls, value: dict[Severity, float | None]) -> dict[Severity, float | None]:
        for severity, seconds in value.items():
            if seconds is not None and not (math.isfinite(seconds) and seconds > 0):
                raise ValueError(f"renotify_seconds.{severity}: must be a positive number of seconds or null (never)")
        return {**DEFAULT_RENOTIFY, **value}

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        names = [r.name for r in self.rules]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"rules: duplicate rule names {dupes}")
        for name, urls in self.channels.items():
            if not _NAME.fullmatch(name):
                raise ValueError(f"channels: {name!r} is not a valid channel name (letters, digits, _ . : -)")
            for i, url in enumerate(urls):
                if "://" not in url:
                    raise ValueError(f"channels.{name}[{i}]: not an Apprise URL (expected scheme://...)")
        for severity, entries in self.routes.items():
            for entry in entries:
                if "://" not in entry and entry not in self.channels:
                    known = ", ".join(sorted(self.channels)) or "none defined"
                    raise ValueError(f"routes.{severity}: unknown channel {entry!r} (channels: {known})")
        return self

    def effective_rules(self) -> list[AlertRule]:
        """Built-in rules (unless disabled), each replaced by a config rule of the same name, then the rest."""
        own = {r.name: r for r in self.rules}
        base = [own.pop(r.name, r) for r in builtin_rules()] if self.include_builtin else []
        return base + [r for r in self.rules if r.name in own]

    def urls_for(self, severity: Severity) -> list[str]:
        """The Apprise URLs an alert of `severity` goes to, channel names expanded, each once."""
        urls: list[str] = []
        for entry in self.routes.get(severity, []):
            for url in self.channels.get(entry, [entry]):
                if url not in urls:
                    urls.append(url)
        return urls


def format_number(value: float) -> str:
    """Numbers as people read them: 20 not 20.0, 23.4 not 23.400000000000002, tiny ones in e-notation."""
    if not math.isfinite(value):
        return str(value)
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    if abs(value) >= 1e-3:
        return f"{value:.4f}".rstrip("0").rstrip(".")
    return f"{value:.3g}"
