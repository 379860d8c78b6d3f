"""Alert history (append-only ``alert_events``) and REST API tokens (``api_tokens``).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25

0001 created an ``alerts`` table shaped as one mutable row per alert (state, fired, resolved).
Nothing ever wrote to it, and the monitor records alert *events* instead (FIRED, REMINDER,
RESOLVED, SILENCED), so this revision replaces it with ``alert_events``, append-only like
``audit_log``: a trigger refuses UPDATE and DELETE, so alert history cannot be rewritten. Should
the old table hold rows after all (written by hand), the upgrade stops rather than drop them.
The downgrade restores the empty ``alerts`` table of 0001 and drops the alert history.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def _protect(table: str) -> None:
    """As in 0001; on PostgreSQL the trigger function ``atb_append_only()`` from 0001 is reused."""
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


def _create_legacy_alerts() -> None:
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


def _refuse_legacy_rows() -> None:
    if context.is_offline_mode():  # generating SQL: no database to ask
        return
    legacy_rows = op.get_bind().execute(sa.text("SELECT COUNT(*) FROM alerts")).scalar_one()
    if legacy_rows:
        raise RuntimeError(
            f"migration 0002 replaces the unused 'alerts' table, but it holds {legacy_rows} rows: "
            "export them (or delete them if they are not needed) and run the upgrade again"
        )


def upgrade() -> None:
    _refuse_legacy_rows()
    op.drop_index(op.f("ix_alerts_rule_state"), table_name="alerts")
    op.drop_table("alerts")

    op.create_table(
        "alert_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("rule", sa.String(length=100), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=32), nullable=False),
        sa.Column("threshold", sa.String(length=32), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("silenced", sa.Boolean(), nullable=False),
        sa.Column("ts_ns", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("kind IN ('FIRED', 'REMINDER', 'RESOLVED', 'SILENCED')", name=op.f("ck_alert_events_kind")),
        sa.CheckConstraint(
            "severity IN ('INFO', 'WARNING', 'ERROR', 'CRITICAL')", name=op.f("ck_alert_events_severity")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_events")),
    )
    op.create_index(op.f("ix_alert_events_rule_id"), "alert_events", ["rule", "id"])
    op.create_index(op.f("ix_alert_events_ts_ns"), "alert_events", ["ts_ns"])
    _protect("alert_events")

    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_hash", sa.String(length=128), nullable=False),
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("created_ns", sa.BigInteger(), nullable=False),
        sa.Column("last_used_ns", sa.BigInteger(), nullable=True),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.CheckConstraint("scope IN ('read', 'trade')", name=op.f("ck_api_tokens_scope")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )


def downgrade() -> None:
    op.drop_table("api_tokens")
    _unprotect("alert_events")
    op.drop_index(op.f("ix_alert_events_ts_ns"), table_name="alert_events")
    op.drop_index(op.f("ix_alert_events_rule_id"), table_name="alert_events")
    op.drop_table("alert_events")
    _create_legacy_alerts()
