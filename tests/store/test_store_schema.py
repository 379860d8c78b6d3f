"""Migrations, backend setup, exact decimals, append-only tables, no floats in the schema."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import Engine, Float, inspect, select, text
from sqlalchemy.exc import DBAPIError, StatementError

from atb.store import AuditLog, BalanceRepository, RunRepository, current_revision, downgrade, session_scope, upgrade
from atb.store.models import BalanceSnapshotRow, Base

TABLES = {
    "runs",
    "orders",
    "order_events",
    "fills",
    "positions",
    "balance_snapshots",
    "audit_log",
    "alert_events",
    "api_tokens",
}


def _tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def test_migrations_empty_to_head_down_to_base_and_up_again(db_url: str) -> None:
    from atb.store import make_engine

    engine = make_engine(db_url)
    try:
        assert _tables(engine) == set()
        upgrade(db_url)
        assert current_revision(engine) == "0002"
        assert _tables(engine) == TABLES
        downgrade(db_url, "base")
        assert current_revision(engine) is None
        assert _tables(engine) == set()
        upgrade(engine)  # the engine itself works too (needed for in-memory SQLite)
        assert _tables(engine) == TABLES
        with session_scope(engine) as s:  # and the schema is usable after the round trip
            run = RunRepository.start(s, mode="paper", strategy="sma", ts=1)
            AuditLog.append(s, "test", "ping", ts=1)
        with session_scope(engine) as s:
            assert RunRepository.get(s, run) is not None
    finally:
        engine.dispose()


def test_schema_matches_models(engine: Engine) -> None:
    """The migration creates exactly the columns the ORM models declare."""
    insp = inspect(engine)
    for table in Base.metadata.sorted_tables:
        assert {c["name"] for c in insp.get_columns(table.name)} == set(table.columns.keys()), table.name


def test_in_memory_sqlite_migrates_through_the_engine() -> None:
    from atb.store import make_engine

    engine = make_engine("sqlite://")
    upgrade(engine)
    assert _tables(engine) == TABLES


def test_sqlite_uses_wal_and_enforces_foreign_keys(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite pragmas")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    with pytest.raises(DBAPIError, match="FOREIGN KEY"), session_scope(engine) as s:
        BalanceRepository.snapshot(s, "no-such-run", {"USDT": Decimal(1)}, ts=1)


def test_no_float_columns_anywhere(engine: Engine) -> None:
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            assert not isinstance(column.type, Float), f"{table.name}.{column.name} is a float"
    insp = inspect(engine)
    for name in insp.get_table_names():
        for col in insp.get_columns(name):
            type_name = str(col["type"]).upper()
            assert not any(f in type_name for f in ("FLOAT", "REAL", "DOUBLE")), f"{name}.{col['name']}: {type_name}"


def test_decimal_money_round_trips_exactly(engine: Engine) -> None:
    values = {
        "A": Decimal("0.1") + Decimal("0.2"),
        "B": Decimal("0.000000000000000001"),  # 18th decimal
        "C": Decimal("12345678901234567890.123456789012345678"),  # 38 significant digits
        "D": Decimal("-99999999999999999999.999999999999999999"),
    }
    with session_scope(engine) as s:
        run = RunRepository.start(s, mode="live", strategy="x", ts=1)
        BalanceRepository.snapshot(s, run, values, {"A": Decimal("0.7")}, ts=5)
    with session_scope(engine) as s:
        got = BalanceRepository.latest(s, run)
        raw = s.scalars(select(BalanceSnapshotRow.free).order_by(BalanceSnapshotRow.currency)).all()
    assert got["A"].free == Decimal("0.3") and str(got["A"].free) == "0.300000000000000000"
    assert got["A"].total == Decimal("1.0")
    assert [got[k].free for k in "ABCD"] == list(values.values())
    assert all(type(v) is Decimal for v in raw)
    assert got["B"].free + got["B"].free == Decimal("2E-18")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (Decimal("0.0000000000000000001"), "more than 18 decimals"),
        (Decimal("100000000000000000000"), "integer digits"),
        (0.3, "not float"),
    ],
)
def test_money_that_cannot_be_stored_exactly_is_refused(engine: Engine, value: object, message: str) -> None:
    with session_scope(engine) as s:
        run = RunRepository.start(s, mode="live", strategy="x", ts=1)
    with pytest.raises((StatementError, TypeError), match=message), session_scope(engine) as s:
        s.add(BalanceSnapshotRow(run_id=run, currency="X", free=value, locked=0, total=0, ts=1))
        s.flush()


def test_audit_log_is_append_only_and_never_holds_secrets(engine: Engine) -> None:
    with session_scope(engine) as s:
        AuditLog.append(s, "cli", "set_keys", {"venue": "binance", "api_key": "AK", "nested": {"secret": "S"}}, ts=1)
        AuditLog.append(s, "node", "start", {"run": "r1"}, ts=2)
    for sql in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(sql))
    with session_scope(engine) as s:
        entries = AuditLog.entries(s)
    assert [(e.actor, e.action, e.ts) for e in entries] == [("cli", "set_keys", 1), ("node", "start", 2)]
    assert entries[0].details == {"venue": "binance", "api_key": "[redacted]", "nested": {"secret": "[redacted]"}}


def test_runs_start_and_finish_once(engine: Engine) -> None:
    with session_scope(engine) as s:
        run = RunRepository.start(
            s, mode="backtest", strategy="sma", params={"fast": 10, "fee": Decimal("0.001")}, ts=7
        )
    with session_scope(engine) as s:
        RunRepository.finish(s, run, status="failed", ts=9)
    with session_scope(engine) as s:
        rec = RunRepository.get(s, run)
        assert rec is not None
        assert (rec.mode, rec.status, rec.started_ns, rec.ended_ns) == ("backtest", "failed", 7, 9)
        assert rec.params == {"fast": 10, "fee": "0.001"}  # Decimals in params stored as exact strings
        from atb.store import StoreError

        with pytest.raises(StoreError, match="already ended"):
            RunRepository.finish(s, run, ts=10)
