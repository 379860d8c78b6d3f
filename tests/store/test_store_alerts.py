"""Alert history and API tokens in the state database (SQLite always, PostgreSQL when configured)."""

from __future__ import annotations

import math

import pytest
from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from atb.monitor.alerts import AlertEngine, AlertKind, AlertRule, Severity
from atb.store import AlertRepository, current_revision, downgrade, make_engine, session_scope, upgrade
from atb.store.models import AlertRow, ApiTokenRow

T0 = 1_767_225_600.0


def _engine() -> AlertEngine:
    rules = [
        AlertRule(name="drawdown_pct", metric="drawdown_pct", comparison=">", threshold=20, severity=Severity.CRITICAL),
        AlertRule(
            name="feed_staleness_seconds",
            metric="feed_staleness_seconds",
            comparison=">",
            threshold=60.5,
            severity="ERROR",
        ),
    ]
    return AlertEngine(rules, clock=lambda: T0)


def test_alert_history_round_trips_every_field(engine: Engine) -> None:
    alerts = _engine()
    events = alerts.evaluate({"drawdown_pct": 23.4, "feed_staleness_seconds": math.inf}, T0 + 0.123456)
    events.append(alerts.silence("drawdown_pct", until=T0 + 3600, now=T0 + 1))
    events += alerts.evaluate({"drawdown_pct": 0.1 + 0.2, "feed_staleness_seconds": math.inf}, T0 + 300)
    assert [(e.name, e.kind, e.silenced) for e in events] == [
        ("drawdown_pct", AlertKind.FIRED, False),
        ("feed_staleness_seconds", AlertKind.FIRED, False),
        ("drawdown_pct", AlertKind.SILENCED, False),
        ("drawdown_pct", AlertKind.RESOLVED, True),
    ]
    with session_scope(engine) as s:
        ids = [AlertRepository.append(s, e) for e in events]
    with session_scope(engine) as s:
        history = AlertRepository.history(s)
    assert [h.id for h in history] == ids
    for h, e in zip(history, events, strict=True):
        assert (h.rule, h.severity, h.kind, h.silenced, h.ts_ns, h.message) == (
            e.name,
            e.severity.value,
            e.kind.value,
            e.silenced,
            e.ts_ns,
            e.message,
        )
        assert h.threshold == e.threshold
    assert history[0].value == 23.4 and history[0].ts_ns == 1_767_225_600_123_456_000
    assert history[1].value == math.inf and history[1].threshold == 60.5  # inf survives, as NUMERIC could not
    assert history[3].value == 0.1 + 0.2  # the exact float back, not 0.3
    assert history[3].message.startswith("[CRITICAL] drawdown_pct > 20 RESOLVED after 5m")


def test_history_is_the_latest_events_oldest_first_optionally_of_one_rule(engine: Engine) -> None:
    alerts = _engine()
    with session_scope(engine) as s:
        for i in range(6):  # fire / resolve drawdown three times; staleness fires once
            value = 30 if i % 2 == 0 else 10
            for e in alerts.evaluate({"drawdown_pct": value, "feed_staleness_seconds": 100}, T0 + i):
                AlertRepository.append(s, e)
    with session_scope(engine) as s:
        latest = AlertRepository.history(s, limit=3)
        drawdown = AlertRepository.history(s, limit=100, rule="drawdown_pct")
        staleness = AlertRepository.history(s, rule="feed_staleness_seconds")
    assert [(h.rule, h.kind, h.ts_ns) for h in latest] == [
        ("drawdown_pct", "RESOLVED", (1_767_225_600 + 3) * 10**9),
        ("drawdown_pct", "FIRED", (1_767_225_600 + 4) * 10**9),
        ("drawdown_pct", "RESOLVED", (1_767_225_600 + 5) * 10**9),
    ]
    assert [h.kind for h in drawdown] == ["FIRED", "RESOLVED"] * 3
    assert [(h.kind, h.value) for h in staleness] == [("FIRED", 100)]


def test_alert_history_is_append_only(engine: Engine) -> None:
    (fired,) = _engine().evaluate({"drawdown_pct": 30}, T0)
    with session_scope(engine) as s:
        AlertRepository.append(s, fired)
    for sql in ("UPDATE alert_events SET silenced = true", "DELETE FROM alert_events"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(sql))
    with session_scope(engine) as s:
        assert len(AlertRepository.history(s)) == 1


def test_alert_kinds_and_severities_are_checked_by_the_database(engine: Engine) -> None:
    row = {"rule": "r", "value": "1.0", "threshold": "1.0", "message": "m", "silenced": False, "ts_ns": 1}
    for bad in ({"kind": "EXPLODED", "severity": "ERROR"}, {"kind": "FIRED", "severity": "error"}):
        with pytest.raises(IntegrityError), session_scope(engine) as s:
            s.add(AlertRow(**row, **bad))
            s.flush()


def test_api_tokens_keep_unique_hashes_and_a_known_scope(engine: Engine) -> None:
    with session_scope(engine) as s:
        s.add(ApiTokenRow(name="grafana", token_hash="a" * 64, scope="read", created_ns=1))
    with session_scope(engine) as s:
        token = s.scalars(select(ApiTokenRow)).one()
        assert (token.name, token.scope, token.revoked, token.last_used_ns) == ("grafana", "read", False, None)
        token.last_used_ns, token.revoked = 5, True  # tokens are not append-only: use and revocation update them
    with session_scope(engine) as s:
        assert s.scalars(select(ApiTokenRow.revoked)).one() is True
    with pytest.raises(IntegrityError), session_scope(engine) as s:
        s.add(ApiTokenRow(name="again", token_hash="a" * 64, scope="trade", created_ns=2))
        s.flush()
    with pytest.raises(IntegrityError), session_scope(engine) as s:
        s.add(ApiTokenRow(name="root", token_hash="b" * 64, scope="admin", created_ns=3))
        s.flush()


def test_downgrade_to_0001_restores_its_alerts_table_and_upgrades_again(db_url: str) -> None:
    eng = make_engine(db_url)
    try:
        upgrade(db_url)
        assert current_revision(eng) == "0002"
        downgrade(db_url, "0001")
        assert current_revision(eng) == "0001"
        tables = set(inspect(eng).get_table_names())
        assert "alerts" in tables and not {"alert_events", "api_tokens"} & tables
        upgrade(db_url)
        tables = set(inspect(eng).get_table_names())
        assert {"alert_events", "api_tokens"} <= tables and "alerts" not in tables
    finally:
        eng.dispose()


def test_upgrade_refuses_to_drop_rows_of_the_old_alerts_table(db_url: str) -> None:
    eng = make_engine(db_url)
    try:
        upgrade(db_url, "0001")
        with eng.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO alerts (rule, severity, state, message, fired_ns) "
                    "VALUES ('dd', 'CRITICAL', 'firing', 'by hand', 1)"
                )
            )
        with pytest.raises(RuntimeError, match="holds 1 rows"):
            upgrade(db_url)
        assert current_revision(eng) == "0001"
        with eng.connect() as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM alerts")).scalar_one() == 1
    finally:
        eng.dispose()
