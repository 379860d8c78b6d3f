"""ORM rows of the state database. Rows are storage, not domain objects: the
repositories map them to and from `atb.domain` values explicitly.

Schema conventions:

- Money, prices and quantities are `ExactDecimal` (NUMERIC(38, 18)); never a float.
  Orders and fills also keep their integer grid units (lots, ticks) so a
  domain `Order` is rebuilt exactly without re-rounding a decimal.
- Times are ``BigInteger`` nanoseconds since the epoch (`*_ns`), the domain's clock.
- Enumerations are short strings (the domain `StrEnum` values).
- ``order_events``, ``audit_log`` and ``alert_events`` are append-only: database
  triggers refuse UPDATE and DELETE on them (see the migrations).
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from atb.store.types import ExactDecimal, JSONType

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class RunMode(StrEnum):
    BACKTEST = "backtest"
    PAPER = "paper"
    LIVE = "live"


class RunStatus(StrEnum):
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    STOPPED = "stopped"
    HALTED = "halted"
    """Stopped by the kill switch: a node refuses to resume the run until the halt is reset."""


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {Decimal: ExactDecimal(), dict[str, Any]: JSONType}  # noqa: RUF012


class RunRow(Base):
    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    mode: Mapped[str] = mapped_column(String(16))
    strategy: Mapped[str] = mapped_column(String(200))
    params: Mapped[dict[str, Any]]
    started_ns: Mapped[int] = mapped_column(BigInteger)
    ended_ns: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))


class OrderRow(Base):
    __tablename__ = "orders"
    __table_args__ = (Index(None, "run_id", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client_order_id: Mapped[str] = mapped_column(String(64), unique=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"))
    instrument: Mapped[str] = mapped_column(String(64))
    side: Mapped[str] = mapped_column(String(8))
    type: Mapped[str] = mapped_column(String(16))
    # size: exactly one intent (lots / notional / equity fraction); lots set once resolved
    lots: Mapped[int | None] = mapped_column(BigInteger)
    quantity: Mapped[Decimal | None]
    notional: Mapped[Decimal | None]
    equity_fraction: Mapped[Decimal | None]
    limit_ticks: Mapped[int | None] = mapped_column(BigInteger)
    limit_price: Mapped[Decimal | None]
    stop_ticks: Mapped[int | None] = mapped_column(BigInteger)
    stop_price: Mapped[Decimal | None]
    tif: Mapped[str] = mapped_column(String(8))
    post_only: Mapped[bool] = mapped_column(Boolean)
    reduce_only: Mapped[bool] = mapped_column(Boolean)
    triggered: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(20))
    filled_lots: Mapped[int] = mapped_column(BigInteger)
    filled_quantity: Mapped[Decimal]
    venue_order_id: Mapped[str | None] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(Text)
    tag: Mapped[str] = mapped_column(String(200))
    event_count: Mapped[int] = mapped_column(Integer)
    created_ns: Mapped[int] = mapped_column(BigInteger)
    updated_ns: Mapped[int] = mapped_column(BigInteger)


class OrderEventRow(Base):
    __tablename__ = "order_events"
    __table_args__ = (UniqueConstraint("order_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    """Position in the order's event history (1-based); unique, so two writers cannot both append event n."""
    kind: Mapped[str] = mapped_column(String(32))
    ts_event: Mapped[int] = mapped_column(BigInteger)
    ts_init: Mapped[int] = mapped_column(BigInteger)
    payload: Mapped[dict[str, Any]]


class FillRow(Base):
    __tablename__ = "fills"
    __table_args__ = (UniqueConstraint("order_id", "trade_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    trade_id: Mapped[str] = mapped_column(String(128))
    instrument: Mapped[str] = mapped_column(String(64))
    side: Mapped[str] = mapped_column(String(8))
    lots: Mapped[int] = mapped_column(BigInteger)
    ticks: Mapped[int] = mapped_column(BigInteger)
    quantity: Mapped[Decimal]
    price: Mapped[Decimal]
    fee: Mapped[Decimal]
    fee_currency: Mapped[str] = mapped_column(String(16))
    liquidity: Mapped[str] = mapped_column(String(8))
    ts_event: Mapped[int] = mapped_column(BigInteger)
    ts_init: Mapped[int] = mapped_column(BigInteger)


class PositionRow(Base):
    __tablename__ = "positions"
    __table_args__ = (UniqueConstraint("run_id", "instrument"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"))
    instrument: Mapped[str] = mapped_column(String(64))
    lots: Mapped[int] = mapped_column(BigInteger)
    quantity: Mapped[Decimal]
    """Signed: long > 0, short < 0."""
    cost: Mapped[Decimal]
    """Signed quote notional of the open lots at their entry prices."""
    realised: Mapped[Decimal]
    fees: Mapped[Decimal]
    currency: Mapped[str] = mapped_column(String(16))
    opened_ns: Mapped[int] = mapped_column(BigInteger)
    updated_ns: Mapped[int] = mapped_column(BigInteger)


class BalanceSnapshotRow(Base):
    __tablename__ = "balance_snapshots"
    __table_args__ = (Index(None, "run_id", "currency", "ts"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"))
    currency: Mapped[str] = mapped_column(String(16))
    free: Mapped[Decimal]
    locked: Mapped[Decimal]
    total: Mapped[Decimal]
    ts: Mapped[int] = mapped_column(BigInteger)


class AuditRow(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ts: Mapped[int] = mapped_column(BigInteger, index=True)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(100))
    details: Mapped[dict[str, Any]]


class AlertRow(Base):
    """One alert event (FIRED, REMINDER, RESOLVED, SILENCED): the alert history, append-only.

    `value` and `threshold` are metric floats kept as their shortest round-trip text (``repr``):
    exact, and able to hold ``inf`` (a feed never heard from), which NUMERIC cannot, while the
    schema stays free of binary-float columns.
    """

    __tablename__ = "alert_events"
    __table_args__ = (
        Index(None, "rule", "id"),
        CheckConstraint("kind IN ('FIRED', 'REMINDER', 'RESOLVED', 'SILENCED')", name="kind"),
        CheckConstraint("severity IN ('INFO', 'WARNING', 'ERROR', 'CRITICAL')", name="severity"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rule: Mapped[str] = mapped_column(String(100))
    severity: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(32))
    threshold: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text)
    silenced: Mapped[bool] = mapped_column(Boolean)
    """Notifications of this event were suppressed by a silence (it is recorded all the same)."""
    ts_ns: Mapped[int] = mapped_column(BigInteger, index=True)


class ApiTokenRow(Base):
    """A REST API bearer token. Only its hash is stored: a leaked database does not leak tokens."""

    __tablename__ = "api_tokens"
    __table_args__ = (CheckConstraint("scope IN ('read', 'trade')", name="scope"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    scope: Mapped[str] = mapped_column(String(8))
    created_ns: Mapped[int] = mapped_column(BigInteger)
    last_used_ns: Mapped[int | None] = mapped_column(BigInteger)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


APPEND_ONLY_TABLES = ("order_events", "audit_log", "alert_events")
