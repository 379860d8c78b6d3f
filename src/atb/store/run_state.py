"""What a restarting node reads and changes about its run: its status, halt flag and every fill.

Kept apart from `repositories` (orders, positions, balances) because these are run-level
questions: "may this run trade?", "what did it fill, in order?" — the two a restart and the
kill switch ask.
"""

from __future__ import annotations

import time

from sqlalchemy import select
from sqlalchemy.orm import Session

from atb.domain.events import OrderFilled
from atb.store.errors import StoreError
from atb.store.models import FillRow, OrderRow, RunRow, RunStatus
from atb.store.repositories import AuditLog, OrderRepository


def run_status(session: Session, run_id: str) -> RunStatus | None:
    row = session.get(RunRow, run_id)
    return None if row is None else RunStatus(row.status)


def resume_run(session: Session, run_id: str, *, actor: str = "node") -> RunStatus:
    """Mark an existing run RUNNING again (a restart); returns the status it had.

    A HALTED run is refused: the kill switch stopped it and only `reset_halt` may undo that.
    A run found RUNNING was not shut down cleanly (a crash); that is logged in the audit log.
    """
    row = session.get(RunRow, run_id, with_for_update=True)
    if row is None:
        raise StoreError(f"run {run_id} was never started")
    before = RunStatus(row.status)
    if before is RunStatus.HALTED:
        raise StoreError(f"run {run_id} was halted by the kill switch; reset the halt before trading again")
    row.status = RunStatus.RUNNING.value
    row.ended_ns = None
    AuditLog.append(session, actor, "run_resumed", {"run_id": run_id, "previous_status": before.value})
    session.flush()
    return before


def halt_run(session: Session, run_id: str, reason: str, *, actor: str) -> None:
    """Set the run's halt flag (status HALTED); a running node sees it at its next cycle and stops."""
    row = session.get(RunRow, run_id, with_for_update=True)
    if row is None:
        raise StoreError(f"run {run_id} was never started")
    row.status = RunStatus.HALTED.value
    row.ended_ns = time.time_ns()
    AuditLog.append(session, actor, "kill_switch", {"run_id": run_id, "reason": reason})
    session.flush()


def reset_halt(session: Session, run_id: str, *, actor: str) -> None:
    """Clear a halt: the run is STOPPED, so the next node start resumes it."""
    row = session.get(RunRow, run_id, with_for_update=True)
    if row is None:
        raise StoreError(f"run {run_id} was never started")
    if row.status != RunStatus.HALTED.value:
        raise StoreError(f"run {run_id} is {row.status}, not halted")
    row.status = RunStatus.STOPPED.value
    AuditLog.append(session, actor, "kill_switch_reset", {"run_id": run_id})
    session.flush()


def run_fills(session: Session, orders: OrderRepository, run_id: str) -> list[OrderFilled]:
    """Every fill of the run in the order it was stored: replaying them rebuilds the ledger exactly."""
    keys = session.execute(
        select(OrderRow.client_order_id, FillRow.trade_id)
        .join(FillRow, FillRow.order_id == OrderRow.id)
        .where(OrderRow.run_id == run_id)
        .order_by(FillRow.id)
    ).all()
    by_key: dict[tuple[str, str], OrderFilled] = {}
    for cid in dict.fromkeys(cid for cid, _ in keys):
        for fill in orders.fills_for(session, cid):
            by_key[(cid, str(fill.trade_id))] = fill
    return [by_key[(cid, trade_id)] for cid, trade_id in keys]


def run_orders(session: Session, run_id: str) -> list[str]:
    """Client order ids of every order of the run, oldest first."""
    return list(
        session.scalars(select(OrderRow.client_order_id).where(OrderRow.run_id == run_id).order_by(OrderRow.id)).all()
    )
