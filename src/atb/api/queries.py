"""Read-only database queries behind the API's GET routes (synchronous: routes run them off the loop).

The node writes every order, fill, position and balance snapshot as it happens, so the database
is the one source for those lists whether or not a node runs in this process.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from atb.api.errors import ApiError
from atb.api.schemas import (
    alert_row_dict,
    fill_row_dict,
    order_row_dict,
    position_row_dict,
    run_row_dict,
)
from atb.domain.enums import OPEN_STATUSES
from atb.store import BalanceRepository, session_scope
from atb.store.models import AlertRow, FillRow, OrderRow, PositionRow, RunRow
from atb.store.repositories import AuditLog

__all__ = [
    "alert_history",
    "audit",
    "balances",
    "fills",
    "order",
    "orders",
    "positions",
    "resolve_run",
    "runs",
]


def _resolve(session: Session, run: str | None, default: str | None) -> str | None:
    if run is not None:
        if session.get(RunRow, run) is None:
            raise ApiError(404, f"no run {run!r} in the database")
        return run
    if default is not None:
        return default
    return session.scalars(select(RunRow.id).order_by(RunRow.started_ns.desc()).limit(1)).first()


def resolve_run(sessions: sessionmaker[Session], run: str | None, default: str | None) -> str | None:
    """`run` if it exists (404 if not), else the node's run, else the most recently started one."""
    with session_scope(sessions) as session:
        return _resolve(session, run, default)


def runs(sessions: sessionmaker[Session], limit: int = 20) -> list[dict[str, Any]]:
    with session_scope(sessions) as session:
        rows = session.scalars(select(RunRow).order_by(RunRow.started_ns.desc()).limit(limit)).all()
        return [run_row_dict(r) for r in rows]


def orders(
    sessions: sessionmaker[Session], run: str | None, default: str | None, *, open_only: bool, limit: int
) -> dict[str, Any]:
    with session_scope(sessions) as session:
        run_id = _resolve(session, run, default)
        if run_id is None:
            return {"run_id": None, "orders": []}
        query = select(OrderRow).where(OrderRow.run_id == run_id)
        if open_only:
            query = query.where(OrderRow.status.in_([s.value for s in OPEN_STATUSES]))
        rows = session.scalars(query.order_by(OrderRow.id.desc()).limit(limit)).all()
        return {"run_id": run_id, "orders": [order_row_dict(r) for r in rows]}


def order(sessions: sessionmaker[Session], client_order_id: str) -> dict[str, Any] | None:
    with session_scope(sessions) as session:
        row = session.scalars(select(OrderRow).where(OrderRow.client_order_id == client_order_id)).one_or_none()
        return None if row is None else order_row_dict(row)


def fills(sessions: sessionmaker[Session], run: str | None, default: str | None, *, limit: int) -> dict[str, Any]:
    with session_scope(sessions) as session:
        run_id = _resolve(session, run, default)
        if run_id is None:
            return {"run_id": None, "trades": []}
        rows = session.execute(
            select(FillRow, OrderRow.client_order_id)
            .join(OrderRow, FillRow.order_id == OrderRow.id)
            .where(OrderRow.run_id == run_id)
            .order_by(FillRow.id.desc())
            .limit(limit)
        ).all()
        return {"run_id": run_id, "trades": [fill_row_dict(f, cid) for f, cid in reversed(rows)]}


def positions(sessions: sessionmaker[Session], run: str | None, default: str | None) -> dict[str, Any]:
    with session_scope(sessions) as session:
        run_id = _resolve(session, run, default)
        rows = (
            []
            if run_id is None
            else session.scalars(
                select(PositionRow).where(PositionRow.run_id == run_id).order_by(PositionRow.instrument)
            ).all()
        )
        return {
            "run_id": run_id,
            "source": "database",
            "portfolio": None,
            "positions": [position_row_dict(r) for r in rows if r.lots],
            "note": "metrics at market prices need a running node; these are the stored ledger values",
        }


def balances(sessions: sessionmaker[Session], run: str | None, default: str | None) -> dict[str, Any]:
    with session_scope(sessions) as session:
        run_id = _resolve(session, run, default)
        latest = {} if run_id is None else BalanceRepository.latest(session, run_id)
        return {
            "run_id": run_id,
            "venue": {
                c: {"free": _text(b.free), "locked": _text(b.locked), "total": _text(b.total), "ts_ms": b.ts // 10**6}
                for c, b in sorted(latest.items())
            },
        }


def _text(value: Any) -> str:
    from atb.api.live_view import plain

    return plain(value) or "0"


def alert_history(sessions: sessionmaker[Session], limit: int) -> list[dict[str, Any]]:
    with session_scope(sessions) as session:
        rows = session.scalars(select(AlertRow).order_by(AlertRow.id.desc()).limit(limit)).all()
        return [alert_row_dict(r) for r in rows]


def audit(sessions: sessionmaker[Session], actor: str, action: str, details: dict[str, Any]) -> None:
    """Who did what through the API, in the append-only audit log (token names, never tokens).

    A write: call it on the node's event loop thread, never from a request thread (see
    `atb.api.tokens.TokenUsage` for why).
    """
    with session_scope(sessions) as session:
        AuditLog.append(session, actor, action, details)
