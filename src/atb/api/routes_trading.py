"""/api routes about the trading run: status, balances, positions, orders, trades, equity, bars.

Order submission and cancellation go through the node's own `OrderRouter` under the node's lock,
exactly like the strategy's orders: sized, checked by the same risk engine, recorded before they
are sent. A risk denial is not an HTTP error: the order exists (it is stored, denied, with its
reason), so the answer is 201 with `"status": "denied"` and `"reason"`. The same holds for a venue
rejection (`"rejected"`). HTTP errors are for requests that could not become an order at all.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from starlette.concurrency import run_in_threadpool

import atb
from atb.api import queries
from atb.api.auth import ReadToken, TradeToken, get_state
from atb.api.errors import ApiError
from atb.api.live_view import bars_payload, node_parts, node_portfolio, plain
from atb.api.schemas import OrderBody
from atb.api.state import ApiState
from atb.api.tokens import TokenInfo
from atb.domain.enums import OrderSide, OrderStatus, OrderType, TimeInForce
from atb.strategy.context import OrderRequest

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["trading"])
StateDep = Annotated[ApiState, Depends(get_state)]
RunQuery = Annotated[str | None, Query(max_length=32, description="Run id; default: this node's run, else the latest.")]
LimitQuery = Annotated[int, Query(ge=1, le=10_000)]


@router.get("/status", summary="Process, node and run status")
async def status(state: StateDep, token: ReadToken) -> dict[str, Any]:
    runs = await run_in_threadpool(queries.runs, state.sessions)
    node = state.node
    node_info: dict[str, Any] | None = None
    if node is not None:
        summary, order_router = node.summary, node.router
        run_status = next((r["status"] for r in runs if r["id"] == node.store.run_id), None)
        node_info = {
            "run_id": node.store.run_id,
            "state": state.node_state,
            "run_status": run_status,
            "error": state.node_error,
            "symbols": list(node.settings.symbols),
            "timeframe": node.settings.timeframe,
            "bars": summary.bars,
            "orders": order_router.submitted if order_router is not None else 0,
            "fills": summary.fills,
            "equity": plain(state.equity.values()[-1]) if len(state.equity) else plain(summary.equity),
            "open_orders": len(order_router.open_orders()) if order_router is not None else 0,
            "halted": order_router is not None and order_router.halted,
            "kill_reason": node.risk.kill_switch.reason,
        }
    return {
        "version": atb.__version__,
        "started": state.started,
        "uptime_s": round(time.time() - state.started, 3),
        "mode": state.mode,
        "node": node_info,
        "runs": runs,
        "alerts": {"active": len(state.alerts.active()), "rules": len(state.alerts.rules)},
        "backtests": {"running": state.backtests.running, "queued": state.backtests.queued},
        "websocket_clients": state.websocket_clients,
    }


@router.get("/balances", summary="Cash and equity of the run, and the venue's balances last read")
async def balances(state: StateDep, token: ReadToken, run: RunQuery = None) -> dict[str, Any]:
    stored = await run_in_threadpool(queries.balances, state.sessions, run, state.run_id)
    node = state.node
    if node is not None and node.router is not None and node.context is not None and stored["run_id"] == state.run_id:
        account = node.router.account
        precision = account.currency.precision
        stored["currency"] = account.currency.code
        stored["cash"] = plain(account.cash.amount)
        stored["equity"] = plain(Decimal(node.context.equity_units()).scaleb(-precision))
        stored["venue_free"] = {k: plain(v) for k, v in sorted(node.router.venue_free.items())}
    return stored


@router.get("/positions", summary="Open positions with their metrics (PnL, MAE/MFE, VaR, liquidity, exit cost)")
async def positions(state: StateDep, token: ReadToken, run: RunQuery = None) -> dict[str, Any]:
    node = state.node
    if node is not None and (run is None or run == state.run_id) and node.router is not None:
        portfolio = node_portfolio(node, state.equity).as_dict()
        rows = portfolio.pop("positions")
        return {"run_id": state.run_id, "source": "node", "portfolio": portfolio, "positions": rows}
    return await run_in_threadpool(queries.positions, state.sessions, run, state.run_id)


@router.get("/orders", summary="Orders of the run, newest first")
def orders(
    state: StateDep,
    token: ReadToken,
    status: Annotated[Literal["open", "all"], Query(description="open: working orders only")] = "open",
    run: RunQuery = None,
    limit: LimitQuery = 200,
) -> dict[str, Any]:
    return queries.orders(state.sessions, run, state.run_id, open_only=status == "open", limit=limit)


@router.post("/orders", status_code=201, summary="Submit an order through the node's risk engine")
async def submit_order(body: OrderBody, state: StateDep, token: TradeToken) -> dict[str, Any]:
    node, order_router, _ = node_parts(state.node)
    if state.node_state != "running":
        raise ApiError(409, f"the trading node is {state.node_state}; it takes no orders")
    inst = order_router.instruments.get(body.symbol)
    if inst is None:
        raise ApiError(
            422, f"this node does not trade {body.symbol!r} (symbols: {', '.join(order_router.instruments)})"
        )
    lots = inst.quantity(body.quantity).lots(inst.lot)
    limit_ticks = None if body.limit_price is None else inst.price(body.limit_price).ticks(inst.tick)
    request = OrderRequest(
        body.symbol, OrderSide(body.side), OrderType(body.type), lots, None, None, limit_ticks, None,
        TimeInForce(body.tif), False, body.reduce_only, body.tag,
    )  # fmt: skip
    async with node._lock:  # every venue step of the node runs under this lock
        order = order_router.submit(request)
        if order.status is not OrderStatus.DENIED:
            await order_router.flush()
            await order_router.sync()
    cid = str(order.client_order_id)
    if order.is_open:  # closed ones (denied, rejected, filled) were published by the node itself
        state.bus.publish(
            "order", {"client_order_id": cid, "symbol": body.symbol, "status": order.status.value, "reason": ""}
        )
    return await _audited(state, token, "api_order_submitted", cid, order.status)


@router.delete("/orders/{client_order_id}", summary="Cancel an open order of the running node")
async def cancel_order(client_order_id: str, state: StateDep, token: TradeToken) -> dict[str, Any]:
    node, order_router, _ = node_parts(state.node)
    if state.node_state != "running":
        raise ApiError(409, f"the trading node is {state.node_state}; it cancels nothing now")
    order = order_router.orders.get(client_order_id)
    if order is None or not order.is_open:
        stored = await run_in_threadpool(queries.order, state.sessions, client_order_id)
        if stored is None:
            raise ApiError(404, f"no order {client_order_id!r}")
        if stored["run_id"] != state.run_id:
            raise ApiError(409, f"order {client_order_id} belongs to run {stored['run_id']}, not this node's run")
        raise ApiError(409, f"order {client_order_id} is {stored['status']}: only open orders can be cancelled")
    async with node._lock:
        order_router.cancel(order)
        await order_router.flush()
        await order_router.sync()
    return await _audited(state, token, "api_order_cancelled", client_order_id, order.status)


async def _audited(
    state: ApiState, token: TokenInfo, action: str, client_order_id: str, status: OrderStatus
) -> dict[str, Any]:
    """Record what the token holder did in the audit log, then answer with the order as stored."""
    details = {"client_order_id": client_order_id, "status": status.value, "run_id": state.run_id}
    queries.audit(state.sessions, f"api:{token.name}", action, details)
    stored = await run_in_threadpool(queries.order, state.sessions, client_order_id)
    if stored is None:
        raise ApiError(500, f"order {client_order_id} is missing from the database after {action}")
    return stored


@router.get("/trades", summary="Fills of the run, oldest first")
def trades(state: StateDep, token: ReadToken, run: RunQuery = None, limit: LimitQuery = 500) -> dict[str, Any]:
    return queries.fills(state.sessions, run, state.run_id, limit=limit)


@router.get("/equity", summary="Equity at each bar close since this process started, and its drawdown")
async def equity(state: StateDep, token: ReadToken, limit: LimitQuery = 5000) -> dict[str, Any]:
    payload = state.equity.payload(limit)
    payload["run_id"] = state.run_id
    if state.node is None:
        payload["note"] = "no trading node in this process: the equity curve comes from a running node"
    return payload


@router.get("/bars", summary="The node's recent closed bars (for the candlestick chart)")
async def bars(
    state: StateDep,
    token: ReadToken,
    symbol: Annotated[str | None, Query(max_length=40, description="Default: the node's first symbol.")] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 300,
) -> dict[str, Any]:
    node, _, ctx = node_parts(state.node)
    return bars_payload(node, symbol or ctx.symbols()[0], limit)
