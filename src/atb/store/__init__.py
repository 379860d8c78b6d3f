"""State store: orders, fills, positions, balances, runs, audit log and alerts in SQL.

SQLAlchemy 2 + Alembic; SQLite (WAL) by default (``sqlite:///atb.db``),
PostgreSQL (``postgresql+psycopg://...``) in production. Imports `atb.domain`
only; rows are mapped to and from domain values explicitly in the repositories.
Needs the ``live`` extra (SQLAlchemy, Alembic, psycopg).
"""

from atb.store.alerts import AlertRecord, AlertRepository
from atb.store.db import (
    DEFAULT_URL,
    current_revision,
    downgrade,
    make_engine,
    make_session_factory,
    session_scope,
    upgrade,
)
from atb.store.errors import DuplicateFillError, DuplicateOrderError, StaleOrderError, StoreError, UnknownOrderError
from atb.store.models import RunMode, RunStatus
from atb.store.repositories import (
    AuditEntry,
    AuditLog,
    BalanceRepository,
    BalanceSnapshot,
    OrderRepository,
    PositionRepository,
    RunRecord,
    RunRepository,
)

__all__ = [
    "DEFAULT_URL",
    "AlertRecord",
    "AlertRepository",
    "AuditEntry",
    "AuditLog",
    "BalanceRepository",
    "BalanceSnapshot",
    "DuplicateFillError",
    "DuplicateOrderError",
    "OrderRepository",
    "PositionRepository",
    "RunMode",
    "RunRecord",
    "RunRepository",
    "RunStatus",
    "StaleOrderError",
    "StoreError",
    "UnknownOrderError",
    "current_revision",
    "downgrade",
    "make_engine",
    "make_session_factory",
    "session_scope",
    "upgrade",
]
