"""The alert state machine: metric values in, alert events out (rules and config: `alert_rules`).

The engine is a pure state machine on purpose: the node hands it the latest metric values and
its own clock reading, and it answers with the events to record and deliver. It never sleeps,
does I/O or touches a metric registry, and time only comes from the caller (``now``) or the
injected clock, so it costs microseconds per call, is tested exactly (no timing in tests), and
the caller decides where events go
(`atb.store.AlertRepository` for history, `atb.monitor.notify.Notifier` for people).

Per rule: inactive → pending (condition true, waiting ``for_seconds``) → firing (one FIRED
event) → REMINDER events only every ``renotify_seconds[severity]`` while it holds → RESOLVED
when the condition clears → inactive. A metric missing from ``values`` (or NaN, the
Prometheus way of saying "no sample") is no evidence either way and leaves the state alone.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum, StrEnum

from atb.errors import UserInputError
from atb.monitor.alert_rules import (
    BUILTIN_METRICS,
    DEFAULT_RENOTIFY,
    AlertRule,
    AlertsConfig,
    Comparison,
    Severity,
    builtin_rules,
)
from atb.monitor.alert_rules import format_number as _num

__all__ = [
    "BUILTIN_METRICS",
    "DEFAULT_RENOTIFY",
    "ActiveAlert",
    "AlertEngine",
    "AlertEvent",
    "AlertKind",
    "AlertRule",
    "AlertsConfig",
    "Comparison",
    "Severity",
    "builtin_rules",
]


class AlertKind(StrEnum):
    FIRED = "FIRED"
    REMINDER = "REMINDER"
    RESOLVED = "RESOLVED"
    SILENCED = "SILENCED"


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """Something to record and (unless `silenced`) tell people about.

    `value` is the metric value that caused the event (for SILENCED, the last one seen, NaN if
    none); `fired_at` is when the alert started firing (None for SILENCED of an inactive rule).
    Times are epoch seconds, the unit of the engine's clock.
    """

    rule: AlertRule
    kind: AlertKind
    value: float
    at: float
    fired_at: float | None = None
    silenced: bool = False
    silenced_until: float | None = None

    @property
    def name(self) -> str:
        return self.rule.name

    @property
    def severity(self) -> Severity:
        return self.rule.severity

    @property
    def threshold(self) -> float:
        return self.rule.threshold

    @property
    def ts_ns(self) -> int:
        """`at` in epoch nanoseconds, to the microsecond: a float epoch carries no finer digits."""
        return round(self.at * 1_000_000) * 1_000

    @property
    def title(self) -> str:
        """One line that says what happened: ``[CRITICAL] drawdown_pct > 20 (value 23.4) FIRING``."""
        rule = self.rule
        head = f"[{rule.severity}] " + (
            rule.condition if rule.name == rule.metric else f"{rule.name}: {rule.condition}"
        )
        value = f"(value {_num(self.value)})"
        if self.kind is AlertKind.FIRED:
            return f"{head} {value} FIRING"
        if self.kind is AlertKind.REMINDER:
            return f"{head} {value} STILL FIRING after {_duration(self.at - (self.fired_at or self.at))}"
        if self.kind is AlertKind.RESOLVED:
            return f"{head} RESOLVED after {_duration(self.at - (self.fired_at or self.at))} {value}"
        return f"{head} SILENCED until {_utc(self.silenced_until or self.at)}"

    @property
    def body(self) -> str:
        rule = self.rule
        lines = [rule.description] if rule.description else []
        held = f" for {_duration(rule.for_seconds)}" if rule.for_seconds else ""
        lines.append(f"Rule: {rule.name} ({rule.condition}{held})")
        lines.append(f"Value: {_num(self.value)} (threshold {_num(rule.threshold)})")
        if self.fired_at is not None:
            lines.append(f"Firing since: {_utc(self.fired_at)}")
        if self.kind is AlertKind.RESOLVED:
            lines.append(f"Resolved at: {_utc(self.at)}, the condition no longer holds")
        if self.silenced_until is not None:
            lines.append(f"Silenced until: {_utc(self.silenced_until)}")
        if rule.labels:
            lines.append("Labels: " + ", ".join(f"{k}={v}" for k, v in sorted(rule.labels.items())))
        return "\n".join(lines)

    @property
    def message(self) -> str:
        return f"{self.title}\n{self.body}"


@dataclass(frozen=True, slots=True)
class ActiveAlert:
    """A firing alert as `AlertEngine.active` reports it (for the API and the dashboard)."""

    rule: AlertRule
    value: float
    since: float
    last_notified: float | None
    silenced_until: float | None


class _Phase(Enum):
    INACTIVE = 0
    PENDING = 1
    FIRING = 2


@dataclass(slots=True)
class _State:
    phase: _Phase = _Phase.INACTIVE
    pending_since: float = 0.0
    fired_at: float = 0.0
    last_sent: float = 0.0
    """Time of the last FIRED or REMINDER, silenced or not: reminders are scheduled from it."""
    last_notified: float | None = None
    """Time of the last FIRED or REMINDER that was not silenced."""
    value: float = math.nan


class AlertEngine:
    """Evaluates rules against metric values; see the module docstring for the state machine.

    Not thread-safe: one owner (the node's monitoring task) calls it.
    """

    def __init__(
        self,
        rules: Iterable[AlertRule],
        *,
        renotify_seconds: Mapping[Severity, float | None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._rules = list(rules)
        names = [r.name for r in self._rules]
        if len(set(names)) != len(names):
            raise UserInputError(f"alert rule names must be unique: {sorted({n for n in names if names.count(n) > 1})}")
        self._renotify = {**DEFAULT_RENOTIFY, **(renotify_seconds or {})}
        self._clock = clock
        self._states = {r.name: _State() for r in self._rules}
        self._silences: dict[str, float] = {}

    @classmethod
    def from_config(cls, config: AlertsConfig, *, clock: Callable[[], float] = time.time) -> AlertEngine:
        return cls(config.effective_rules(), renotify_seconds=config.renotify_seconds, clock=clock)

    @property
    def rules(self) -> list[AlertRule]:
        return list(self._rules)

    def evaluate(self, values: Mapping[str, float], now: float) -> list[AlertEvent]:
        """Advance every rule whose metric has a value at `now`; return the events, in rule order."""
        events: list[AlertEvent] = []
        for rule in self._rules:
            value = values.get(rule.metric)
            if value is None or math.isnan(value):
                continue
            event = self._step(rule, self._states[rule.name], float(value), now)
            if event is not None:
                events.append(event)
        return events

    def _step(self, rule: AlertRule, st: _State, value: float, now: float) -> AlertEvent | None:
        st.value = value
        until = self._silenced_until(rule.name, now)
        if not rule.holds(value):
            fired_at, was_firing = st.fired_at, st.phase is _Phase.FIRING
            st.phase = _Phase.INACTIVE
            if not was_firing:
                return None
            return AlertEvent(rule, AlertKind.RESOLVED, value, now, fired_at, until is not None, until)
        if st.phase is _Phase.INACTIVE:
            st.phase, st.pending_since = _Phase.PENDING, now
        if st.phase is _Phase.PENDING:
            if now - st.pending_since < rule.for_seconds:
                return None
            st.phase, st.fired_at = _Phase.FIRING, now
            return self._sent(st, AlertEvent(rule, AlertKind.FIRED, value, now, now, until is not None, until))
        interval = self._renotify.get(rule.severity)
        due = interval is not None and now - st.last_sent >= interval
        # the last FIRED/REMINDER went out while silenced and the silence is over: say it still holds
        missed = until is None and (st.last_notified is None or st.last_notified < st.last_sent)
        if not (due or missed):
            return None
        return self._sent(st, AlertEvent(rule, AlertKind.REMINDER, value, now, st.fired_at, until is not None, until))

    @staticmethod
    def _sent(st: _State, event: AlertEvent) -> AlertEvent:
        st.last_sent = event.at
        if not event.silenced:
            st.last_notified = event.at
        return event

    def _silenced_until(self, name: str, now: float) -> float | None:
        until = self._silences.get(name)
        if until is not None and until <= now:
            del self._silences[name]
            return None
        return until

    def _rule(self, name: str) -> AlertRule:
        for rule in self._rules:
            if rule.name == name:
                return rule
        raise UserInputError(f"no alert rule named {name!r} (rules: {', '.join(r.name for r in self._rules)})")

    def silence(self, rule_name: str, until: float, *, now: float | None = None) -> AlertEvent:
        """Suppress notifications of `rule_name` until `until` (epoch s); state changes go on and are recorded.

        Returns the SILENCED event, itself not silenced: whoever gets this rule's alerts
        should learn that someone muted it, and until when.
        """
        rule = self._rule(rule_name)
        at = self._clock() if now is None else now
        if until <= at:
            raise UserInputError(f"silence of {rule_name!r} must end in the future (until {_utc(until)})")
        self._silences[rule_name] = until
        st = self._states[rule_name]
        fired_at = st.fired_at if st.phase is _Phase.FIRING else None
        return AlertEvent(rule, AlertKind.SILENCED, st.value, at, fired_at, False, until)

    def unsilence(self, rule_name: str) -> bool:
        """End a silence early; True if there was one. A still-firing alert is re-announced at the next evaluate."""
        self._rule(rule_name)
        return self._silences.pop(rule_name, None) is not None

    def active(self) -> list[ActiveAlert]:
        """Firing alerts (pending ones are not alerts yet), in rule order; silences as of the clock."""
        out = []
        now = self._clock()
        for rule in self._rules:
            st = self._states[rule.name]
            if st.phase is _Phase.FIRING:
                until = self._silences.get(rule.name)
                until = until if until is not None and until > now else None
                out.append(ActiveAlert(rule, st.value, st.fired_at, st.last_notified, until))
        return out


def _duration(seconds: float) -> str:
    s = max(0, round(seconds))
    if s < 60:
        return f"{s}s"
    parts = [(s // 86400, "d"), (s % 86400 // 3600, "h"), (s % 3600 // 60, "m"), (s % 60, "s")]
    shown = [f"{n}{unit}" for n, unit in parts if n]
    return "".join(shown[:2])


def _utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
