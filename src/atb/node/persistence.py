"""The node's writes to the state database: one short transaction per fact, committed before acting.

Order intent is committed before the order is sent and every event as it happens, so after a
crash the database knows each order the node may have sent (`OrderRepository.open_orders` with
intents) and every fill it has booked. Calls are synchronous: a local SQLite commit takes well
under a millisecond, a PostgreSQL one a few, against bars that arrive seconds apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from atb.domain import Order, Position
from atb.domain.events import OrderEvent, OrderFilled
from atb.store import (
    AuditLog,
    BalanceRepository,
    OrderRepository,
    PositionRepository,
    RunRepository,
    RunStatus,
    session_scope,
)
from atb.store.run_state import run_fills, run_status


class NodeStore:
    """Persistence of one run, as the order router and the reconciliation need it."""

    def __init__(self, sessions: sessionmaker[Session], run_id: str, orders: OrderRepository, *, actor: str) -> None:
        self.sessions = sessions
        self.run_id = run_id
        self.orders = orders
        self.actor = actor

    def record_intent(self, order: Order) -> None:
        with session_scope(self.sessions) as session:
            self.orders.record_intent(session, order, run_id=self.run_id)

    def apply(self, order: Order, event: OrderEvent) -> None:
        """Apply `event` to `order` and store both (all or nothing; see `OrderRepository.apply_event`)."""
        with session_scope(self.sessions) as session:
            self.orders.apply_event(session, order, event)

    def save_position(self, position: Position) -> None:
        with session_scope(self.sessions) as session:
            PositionRepository.upsert(session, self.run_id, position)

    def snapshot_balances(self, balances: Mapping[str, tuple[Decimal, Decimal]]) -> None:
        with session_scope(self.sessions) as session:
            BalanceRepository.snapshot(
                session,
                self.run_id,
                {asset: free for asset, (free, _) in balances.items()},
                {asset: locked for asset, (_, locked) in balances.items()},
            )

    def audit(self, action: str, details: Mapping[str, Any]) -> None:
        with session_scope(self.sessions) as session:
            AuditLog.append(session, self.actor, action, {"run_id": self.run_id, **details})

    def open_orders(self) -> list[Order]:
        """Orders that may still be live at the venue, intents included (a crash may have sent them)."""
        with session_scope(self.sessions) as session:
            return self.orders.open_orders(session, self.run_id, include_initialized=True)

    def fills(self) -> list[OrderFilled]:
        with session_scope(self.sessions) as session:
            return run_fills(session, self.orders, self.run_id)

    def finish(self, status: RunStatus) -> None:
        """Record a clean stop (a crash leaves the run RUNNING, which the next start reports)."""
        with session_scope(self.sessions) as session:
            if run_status(session, self.run_id) is RunStatus.RUNNING:
                RunRepository.finish(session, self.run_id, status=status)

    def status(self) -> RunStatus | None:
        with session_scope(self.sessions) as session:
            return run_status(session, self.run_id)
