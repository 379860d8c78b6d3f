"""Initial schema: runs, orders, order events, fills, positions, balances, audit log, alerts.

Revision ID: 0001
Revises:
Create Date: 2026-11-25

`order_events` and `audit_log` are append-only: a trigger refuses UPDATE and
DELETE on them, so history cannot be rewritten even by hand-written SQL (only
dropping the table, i.e. this migration's downgrade, removes it).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from atb.store.types import ExactDecimal, JSONType

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


APPEND_ONLY = ("order_events", "audit_log")


def _protect(table: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION atb_append_only()"
        )
        return
    for action in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
        )


def _unprotect(table: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        return
    for action in ("update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{action}")


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("rule", sa.String(length=100), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("fired_ns", sa.BigInteger(), nullable=False),
        sa.Column("resolved_ns", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
    )
    op.create_index(op.f("ix_alerts_rule_state"), "alerts", ["rule", "state"])

    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("details", JSONType, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_ts"), "audit_log", ["ts"])

    op.create_table(
        "runs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("strategy", sa.String(length=200), nullable=False),
        sa.Column("params", JSONType, nullable=False),
        sa.Column("started_ns", sa.BigInteger(), nullable=False),
        sa.Column("ended_ns", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runs")),
    )
    op.create_table(
        "balance_snapshots",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("currency", sa.String(length=16), nullable=False),
        sa.Column("free", ExactDecimal(), nullable=False),
        sa.Column("locked", ExactDecimal(), nullable=False),
        sa.Column("total", ExactDecimal(), nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_balance_snapshots_run_id_runs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_balance_snapshots")),
    )
    op.create_index(op.f("ix_balance_snapshots_run_id_currency_ts"), "balance_snapshots", ["run_id", "currency", "ts"])

    op.create_table(
        "orders",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("client_order_id", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("instrument", sa.String(length=64), nullable=False),
        sa.Column("side", sa.String(length=8), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("lots", sa.BigInteger(), nullable=True),
        sa.Column("quantity", ExactDecimal(), nullable=True),
        sa.Column("notional", ExactDecimal(), nullable=True),
        sa.Column("equity_fraction", ExactDecimal(), nullable=True),
        sa.Column("limit_ticks", sa.BigInteger(), nullable=True),
        sa.Column("limit_price", ExactDecimal(), nullable=True),
        sa.Column("stop_ticks", sa.BigInteger(), nullable=True),
        sa.Column("stop_price", ExactDecimal(), nullable=True),
        sa.Column("tif", sa.String(length=8), nullable=False),
        sa.Column("post_only", sa.Boolean(), nullable=False),
        sa.Column("reduce_only", sa.Boolean(), nullable=False),
        sa.Column("triggered", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("filled_lots", sa.BigInteger(), nullable=False),
        sa.Column("filled_quantity", ExactDecimal(), nullable=False),
        sa.Column("venue_order_id", sa.String(length=128), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("tag", sa.String(length=200), nullable=False),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.Column("created_ns", sa.BigInteger(), nullable=False),
        sa.Column("updated_ns", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_orders_run_id_runs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint("client_order_id", name=op.f("uq_orders_client_order_id")),
    )
    op.create_index(op.f("ix_orders_run_id_status"), "orders", ["run_id", "status"])

    op.create_table(
        "positions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("instrument", sa.String(length=64), nullable=False),
        sa.Column("lots", sa.BigInteger(), nullable=False),
        sa.Column("quantity", ExactDecimal(), nullable=False),
        sa.Column("cost", ExactDecimal(), nullable=False),
        sa.Column("realised", ExactDecimal(), nullable=False),
        sa.Column("fees", ExactDecimal(), nullable=False),
        sa.Column("currency", sa.String(length=16), nullable=False),
        sa.Column("opened_ns", sa.BigInteger(), nullable=False),
        sa.Column("updated_ns", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_positions_run_id_runs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_positions")),
        sa.UniqueConstraint("run_id", "instrument", name=op.f("uq_positions_run_id_instrument")),
    )
    op.create_table(
        "fills",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("trade_id", sa.String(length=128), nullable=False),
        sa.Column("instrument", sa.String(length=64), nullable=False),
        sa.Column("side", sa.String(length=8), nullable=False),
        sa.Column("lots", sa.BigInteger(), nullable=False),
        sa.Column("ticks", sa.BigInteger(), nullable=False),
        sa.Column("quantity", ExactDecimal(), nullable=False),
        sa.Column("price", ExactDecimal(), nullable=False),
        sa.Column("fee", ExactDecimal(), nullable=False),
        sa.Column("fee_currency", sa.String(length=16), nullable=False),
        sa.Column("liquidity", sa.String(length=8), nullable=False),
        sa.Column("ts_event", sa.BigInteger(), nullable=False),
        sa.Column("ts_init", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name=op.f("fk_fills_order_id_orders")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fills")),
        sa.UniqueConstraint("order_id", "trade_id", name=op.f("uq_fills_order_id_trade_id")),
    )
    op.create_index(op.f("ix_fills_order_id"), "fills", ["order_id"])

    op.create_table(
        "order_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("ts_event", sa.BigInteger(), nullable=False),
        sa.Column("ts_init", sa.BigInteger(), nullable=False),
        sa.Column("payload", JSONType, nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name=op.f("fk_order_events_order_id_orders")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_events")),
        sa.UniqueConstraint("order_id", "seq", name=op.f("uq_order_events_order_id_seq")),
    )
    op.create_index(op.f("ix_order_events_order_id"), "order_events", ["order_id"])

    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION atb_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'integrity_constraint_violation'; "
            "END $$"
        )
    for table in APPEND_ONLY:
        _protect(table)


def downgrade() -> None:
    for table in APPEND_ONLY:
        _unprotect(table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS atb_append_only()")
    op.drop_index(op.f("ix_order_events_order_id"), table_name="order_events")
    op.drop_table("order_events")
    op.drop_index(op.f("ix_fills_order_id"), table_name="fills")
    op.drop_table("fills")
    op.drop_table("positions")
    op.drop_index(op.f("ix_orders_run_id_status"), table_name="orders")
    op.drop_table("orders")
    op.drop_index(op.f("ix_balance_snapshots_run_id_currency_ts"), table_name="balance_snapshots")
    op.drop_table("balance_snapshots")
    op.drop_table("runs")
    op.drop_index(op.f("ix_audit_log_ts"), table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_index(op.f("ix_alerts_rule_state"), table_name="alerts")
    op.drop_table("alerts")
