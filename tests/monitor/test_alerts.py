"""The alert state machine and the alert config, driven by an explicit clock (no sleeps, no wall time)."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from atb.errors import UserInputError
from atb.monitor.alerts import (
    BUILTIN_METRICS,
    DEFAULT_RENOTIFY,
    AlertEngine,
    AlertKind,
    AlertRule,
    AlertsConfig,
    Severity,
    builtin_rules,
)

T0 = 1_767_225_600.0  # 2026-01-01 00:00:00 UTC


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def rule(
    name: str = "dd",
    metric: str = "drawdown_pct",
    comparison: str = ">",
    threshold: float = 20,
    for_seconds: float = 0,
    severity: Severity = Severity.CRITICAL,
    **kw: object,
) -> AlertRule:
    return AlertRule.model_validate(
        dict(
            name=name,
            metric=metric,
            comparison=comparison,
            threshold=threshold,
            for_seconds=for_seconds,
            severity=severity,
            **kw,
        )
    )


def kinds(events: list) -> list[tuple[str, AlertKind]]:
    return [(e.name, e.kind) for e in events]


def test_severity_is_ordered_by_rank_not_alphabet_and_parses_any_case() -> None:
    assert Severity.INFO < Severity.WARNING < Severity.ERROR < Severity.CRITICAL
    assert sorted([Severity.CRITICAL, Severity.INFO, Severity.ERROR, Severity.WARNING]) == list(Severity)
    assert max(Severity) is Severity.CRITICAL and Severity.ERROR >= Severity.ERROR
    assert Severity("critical") is Severity.CRITICAL
    with pytest.raises(ValueError):
        Severity("FATAL")


@pytest.mark.parametrize(
    ("comparison", "holds_at"),
    [(">", [3]), (">=", [2, 3]), ("<", [1]), ("<=", [1, 2]), ("==", [2]), ("!=", [1, 3])],
)
def test_each_comparison(comparison: str, holds_at: list[int]) -> None:
    r = rule(comparison=comparison, threshold=2)
    assert [v for v in (1, 2, 3) if r.holds(v)] == holds_at


def test_fires_only_after_holding_for_its_duration_and_pending_restarts_when_it_clears() -> None:
    engine = AlertEngine([rule(for_seconds=60)])
    assert engine.evaluate({"drawdown_pct": 25}, T0) == []
    assert engine.evaluate({"drawdown_pct": 25}, T0 + 59.9) == []
    assert engine.active() == []  # pending is not an alert yet
    (fired,) = engine.evaluate({"drawdown_pct": 26}, T0 + 60)
    assert (fired.kind, fired.value, fired.at, fired.fired_at, fired.silenced) == (
        AlertKind.FIRED,
        26,
        T0 + 60,
        T0 + 60,
        False,
    )

    engine = AlertEngine([rule(for_seconds=60)])
    engine.evaluate({"drawdown_pct": 25}, T0)
    assert engine.evaluate({"drawdown_pct": 5}, T0 + 30) == []  # cleared while pending: no event, no resolve
    engine.evaluate({"drawdown_pct": 25}, T0 + 40)
    assert engine.evaluate({"drawdown_pct": 25}, T0 + 99) == []
    assert kinds(engine.evaluate({"drawdown_pct": 25}, T0 + 100)) == [("dd", AlertKind.FIRED)]


def test_fires_once_then_stays_quiet_while_it_holds() -> None:
    engine = AlertEngine([rule()])
    assert kinds(engine.evaluate({"drawdown_pct": 23.4}, T0)) == [("dd", AlertKind.FIRED)]
    for i in range(1, 300):
        assert engine.evaluate({"drawdown_pct": 23.4 + i / 100}, T0 + i) == []
    (active,) = engine.active()
    assert (active.since, active.last_notified, active.silenced_until) == (T0, T0, None)
    assert active.value == pytest.approx(23.4 + 2.99)


@pytest.mark.parametrize("severity", [Severity.WARNING, Severity.ERROR, Severity.CRITICAL])
def test_reminders_come_every_renotify_interval_of_the_severity(severity: Severity) -> None:
    interval = DEFAULT_RENOTIFY[severity]
    assert interval is not None
    engine = AlertEngine([rule(severity=severity)])
    engine.evaluate({"drawdown_pct": 30}, T0)
    reminders = []
    for step in range(1, 4 * 60 + 1):  # four intervals, sampled 60 times each
        reminders += engine.evaluate({"drawdown_pct": 30}, T0 + step * interval / 60)
    assert [e.kind for e in reminders] == [AlertKind.REMINDER] * 4
    assert [e.at - T0 for e in reminders] == pytest.approx([interval, 2 * interval, 3 * interval, 4 * interval])
    assert all(e.fired_at == T0 for e in reminders)
    assert engine.active()[0].last_notified == reminders[-1].at


def test_default_intervals_and_info_never_reminds() -> None:
    assert DEFAULT_RENOTIFY == {
        Severity.INFO: None,
        Severity.WARNING: 3600,
        Severity.ERROR: 900,
        Severity.CRITICAL: 300,
    }
    engine = AlertEngine([rule(severity=Severity.INFO)])
    assert len(engine.evaluate({"drawdown_pct": 30}, T0)) == 1
    assert all(engine.evaluate({"drawdown_pct": 30}, T0 + h * 3600) == [] for h in range(1, 100))


def test_config_intervals_override_the_defaults() -> None:
    cfg = AlertsConfig(include_builtin=False, rules=[rule()], renotify_seconds={"CRITICAL": 60})
    assert cfg.renotify_seconds[Severity.CRITICAL] == 60 and cfg.renotify_seconds[Severity.WARNING] == 3600
    engine = AlertEngine.from_config(cfg)
    engine.evaluate({"drawdown_pct": 30}, T0)
    assert engine.evaluate({"drawdown_pct": 30}, T0 + 59) == []
    assert kinds(engine.evaluate({"drawdown_pct": 30}, T0 + 60)) == [("dd", AlertKind.REMINDER)]


def test_resolves_when_the_condition_clears_and_says_so() -> None:
    engine = AlertEngine([rule(name="drawdown_pct", description="Equity is more than 20% below its peak.")])
    (fired,) = engine.evaluate({"drawdown_pct": 23.4}, T0)
    assert fired.title == "[CRITICAL] drawdown_pct > 20 (value 23.4) FIRING"
    assert "Equity is more than 20% below its peak." in fired.body
    assert "Value: 23.4 (threshold 20)" in fired.body
    assert "Firing since: 2026-01-01 00:00:00 UTC" in fired.body
    (resolved,) = engine.evaluate({"drawdown_pct": 12.1}, T0 + 300)
    assert resolved.kind is AlertKind.RESOLVED
    assert resolved.title == "[CRITICAL] drawdown_pct > 20 RESOLVED after 5m (value 12.1)"
    assert "Resolved at: 2026-01-01 00:05:00 UTC, the condition no longer holds" in resolved.body
    assert engine.active() == []
    assert engine.evaluate({"drawdown_pct": 12.1}, T0 + 400) == []
    assert kinds(engine.evaluate({"drawdown_pct": 21}, T0 + 500)) == [("drawdown_pct", AlertKind.FIRED)]


def test_titles_name_the_rule_when_it_differs_from_the_metric() -> None:
    engine = AlertEngine([rule(name="deep_drawdown", threshold=0.5, severity=Severity.ERROR)])
    (fired,) = engine.evaluate({"drawdown_pct": 0.623456}, T0)
    assert fired.title == "[ERROR] deep_drawdown: drawdown_pct > 0.5 (value 0.6235) FIRING"


def test_reminder_title_says_how_long_it_has_been_firing() -> None:
    engine = AlertEngine([rule(name="x", metric="x", threshold=1, severity=Severity.ERROR)])
    engine.evaluate({"x": 2}, T0)
    (reminder,) = engine.evaluate({"x": 3}, T0 + 900)
    assert reminder.title == "[ERROR] x > 1 (value 3) STILL FIRING after 15m"


def test_a_missing_or_nan_metric_leaves_the_state_alone() -> None:
    engine = AlertEngine([rule(for_seconds=60), rule(name="mem", metric="memory_used_pct", threshold=90)])
    engine.evaluate({"drawdown_pct": 25}, T0)  # dd pending; mem never seen
    assert engine.evaluate({}, T0 + 30) == []
    assert engine.evaluate({"drawdown_pct": math.nan}, T0 + 45) == []
    assert kinds(engine.evaluate({"drawdown_pct": 25}, T0 + 60)) == [("dd", AlertKind.FIRED)]  # pending kept its start
    assert engine.evaluate({"memory_used_pct": math.nan}, T0 + 61) == []
    assert engine.evaluate({}, T0 + 10_000) == []  # firing, no data: neither resolved nor reminded
    assert [a.rule.name for a in engine.active()] == ["dd"]


def test_silence_records_state_changes_but_flags_them_and_re_announces_when_it_ends() -> None:
    clock = Clock()
    engine = AlertEngine([rule()], clock=clock)
    engine.evaluate({"drawdown_pct": 30}, T0)
    silence = engine.silence("dd", until=T0 + 1000)
    assert (silence.kind, silence.silenced, silence.silenced_until, silence.value) == (
        AlertKind.SILENCED,
        False,  # the announcement that someone muted it is itself delivered
        T0 + 1000,
        30,
    )
    assert silence.title == "[CRITICAL] dd: drawdown_pct > 20 SILENCED until 2026-01-01 00:16:40 UTC"
    (reminder,) = engine.evaluate({"drawdown_pct": 31}, T0 + 300)
    assert reminder.kind is AlertKind.REMINDER and reminder.silenced and reminder.silenced_until == T0 + 1000
    clock.now = T0 + 500
    assert engine.active()[0].silenced_until == T0 + 1000
    assert engine.active()[0].last_notified == T0  # the silenced reminder reached nobody
    # the silence ends while it still holds: the next evaluation says so at once, unsilenced
    (after,) = engine.evaluate({"drawdown_pct": 31}, T0 + 1000)
    assert (after.kind, after.silenced, after.silenced_until) == (AlertKind.REMINDER, False, None)
    assert engine.evaluate({"drawdown_pct": 31}, T0 + 1001) == []


def test_silenced_fire_and_resolve_are_recorded_and_flagged() -> None:
    engine = AlertEngine([rule()], clock=Clock())
    engine.silence("dd", until=T0 + 3600)
    (fired,) = engine.evaluate({"drawdown_pct": 30}, T0 + 10)
    (resolved,) = engine.evaluate({"drawdown_pct": 10}, T0 + 20)
    assert [(e.kind, e.silenced) for e in (fired, resolved)] == [(AlertKind.FIRED, True), (AlertKind.RESOLVED, True)]
    assert "Silenced until: 2026-01-01 01:00:00 UTC" in fired.body


def test_unsilence_re_announces_a_firing_alert_and_bad_silences_are_refused() -> None:
    engine = AlertEngine([rule()], clock=Clock())
    engine.silence("dd", until=T0 + 3600)
    engine.evaluate({"drawdown_pct": 30}, T0 + 10)
    assert engine.unsilence("dd") is True and engine.unsilence("dd") is False
    (again,) = engine.evaluate({"drawdown_pct": 30}, T0 + 11)
    assert (again.kind, again.silenced) == (AlertKind.REMINDER, False)
    with pytest.raises(UserInputError, match="no alert rule named 'nope'"):
        engine.silence("nope", until=T0 + 60)
    with pytest.raises(UserInputError, match="must end in the future"):
        engine.silence("dd", until=T0 - 1)


def test_event_timestamps_in_nanoseconds() -> None:
    engine = AlertEngine([rule()])
    (fired,) = engine.evaluate({"drawdown_pct": 30}, T0 + 0.25)
    assert fired.ts_ns == 1_767_225_600_250_000_000


def test_builtin_rules_cover_the_documented_metrics() -> None:
    rules = {r.name: r for r in builtin_rules()}
    assert (
        set(rules)
        == set(BUILTIN_METRICS)
        == {
            "drawdown_pct",
            "daily_loss_pct",
            "feed_staleness_seconds",
            "breaker_open",
            "rejected_order_rate",
            "disk_free_pct",
            "memory_used_pct",
        }
    )
    assert all(r.metric == r.name and r.description for r in rules.values())
    assert rules["disk_free_pct"].holds(5) and not rules["disk_free_pct"].holds(50)
    assert rules["breaker_open"].holds(1) and not rules["breaker_open"].holds(0)
    engine = AlertEngine(builtin_rules())
    healthy = {"drawdown_pct": 3, "daily_loss_pct": 0, "feed_staleness_seconds": 2, "breaker_open": 0}
    healthy |= {"rejected_order_rate": 0, "disk_free_pct": 60, "memory_used_pct": 40}
    assert engine.evaluate(healthy, T0) == []
    events = engine.evaluate(healthy | {"feed_staleness_seconds": math.inf, "drawdown_pct": 25}, T0 + 1)
    assert kinds(events) == [("drawdown_pct", AlertKind.FIRED), ("feed_staleness_seconds", AlertKind.FIRED)]


def test_config_rules_replace_builtins_by_name_and_builtins_can_be_left_out() -> None:
    mine = rule(name="drawdown_pct", threshold=10, severity=Severity.ERROR)
    extra = rule(name="cpu", metric="cpu_percent", threshold=95, severity=Severity.INFO)
    cfg = AlertsConfig(rules=[extra, mine])
    effective = {r.name: r for r in cfg.effective_rules()}
    assert len(effective) == len(BUILTIN_METRICS) + 1
    assert effective["drawdown_pct"] is mine and effective["cpu"] is extra
    assert [r.name for r in AlertsConfig(include_builtin=False, rules=[extra]).effective_rules()] == ["cpu"]


def test_routes_expand_channels_once_each() -> None:
    cfg = AlertsConfig(
        channels={"ops": ["json://127.0.0.1:1/a", "mailto://u:p@127.0.0.1:2"], "pager": ["json://127.0.0.1:1/a"]},
        routes={"critical": ["ops", "pager", "json://127.0.0.1:3/b"], "ERROR": ["ops"]},
    )
    assert cfg.urls_for(Severity.CRITICAL) == [
        "json://127.0.0.1:1/a",
        "mailto://u:p@127.0.0.1:2",
        "json://127.0.0.1:3/b",
    ]
    assert cfg.urls_for(Severity.INFO) == []
    assert "u:p" not in repr(cfg)  # URLs hold secrets: kept out of the repr


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"comparison": "=>"}, "comparison"),
        ({"for_seconds": -1}, "greater than or equal to 0"),
        ({"threshold": math.nan}, "finite number"),
        ({"name": "has space"}, "not a valid name"),
        ({"metric": ""}, "not a valid name"),
        ({"severity": "FATAL"}, "severity"),
        ({"for": 60}, "Extra inputs are not permitted"),
    ],
)
def test_invalid_rules_are_refused_clearly(fields: dict[str, object], message: str) -> None:
    base: dict[str, object] = {"name": "r", "metric": "m", "comparison": ">", "threshold": 1, "severity": "ERROR"}
    with pytest.raises(ValidationError, match=message):
        AlertRule.model_validate(base | fields)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"rules": [rule(), rule()]}, r"duplicate rule names \['dd'\]"),
        ({"renotify_seconds": {"ERROR": 0}}, "renotify_seconds.ERROR: must be a positive number"),
        ({"routes": {"ERROR": ["ops"]}}, r"routes.ERROR: unknown channel 'ops' \(channels: none defined\)"),
        ({"channels": {"ops": ["hunter2-not-a-url"]}}, r"channels.ops\[0\]: not an Apprise URL"),
        ({"routes": {"LOUD": []}}, "routes.LOUD"),
    ],
)
def test_invalid_configs_are_refused_clearly_without_echoing_secrets(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message) as info:
        AlertsConfig.model_validate(fields)
    assert "hunter2" not in str(info.value)


def test_duplicate_rule_names_are_refused_by_the_engine_too() -> None:
    with pytest.raises(UserInputError, match="unique"):
        AlertEngine([rule(), rule()])
