"""/api routes beside trading: alerts, strategies, backtests, and the websocket event stream."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Response, WebSocket
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocketDisconnect

from atb.api import queries
from atb.api.auth import ReadToken, TradeToken, get_state, websocket_token
from atb.api.errors import ApiError
from atb.api.schemas import BacktestBody, SilenceBody
from atb.api.state import ApiState
from atb.errors import UserInputError

__all__ = ["router"]

log = logging.getLogger("atb.api")
router = APIRouter(prefix="/api", tags=["operations"])
StateDep = Annotated[ApiState, Depends(get_state)]


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


# ------------------------------------------------------------------------------------------- alerts


@router.get("/alerts", summary="Firing alerts, the rules, and the alert history")
async def alerts(
    state: StateDep, token: ReadToken, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> dict[str, Any]:
    active = [
        {
            "rule": a.rule.name,
            "severity": str(a.rule.severity),
            "condition": a.rule.condition,
            "value": _finite(a.value),
            "since": a.since,
            "silenced_until": a.silenced_until,
            "description": a.rule.description,
        }
        for a in state.alerts.active()
    ]
    rules = [
        {"name": r.name, "condition": r.condition, "severity": str(r.severity), "for_seconds": r.for_seconds}
        for r in state.alerts.rules
    ]
    history = await run_in_threadpool(queries.alert_history, state.sessions, limit)
    return {"active": active, "rules": rules, "history": history}


@router.post("/alerts/{rule}/silence", summary="Suppress a rule's notifications for some minutes")
async def silence(rule: str, body: SilenceBody, state: StateDep, token: TradeToken) -> dict[str, Any]:
    if rule not in {r.name for r in state.alerts.rules}:
        raise ApiError(404, f"no alert rule {rule!r} (rules: {', '.join(r.name for r in state.alerts.rules)})")
    until = time.time() + body.minutes * 60
    try:
        event = state.alerts.silence(rule, until)
    except UserInputError as exc:
        raise ApiError(422, str(exc)) from None
    state.monitor.record(event)
    details = {"rule": rule, "minutes": body.minutes}
    queries.audit(state.sessions, f"api:{token.name}", "alert_silenced", details)
    return {"rule": rule, "silenced_until": until, "message": event.title}


# ------------------------------------------------------------------------------------------- strategies


@router.get("/strategies", summary="Built-in strategies and their typed parameters")
def strategies(token: ReadToken) -> list[dict[str, Any]]:
    from atb.strategy.registry import builtin_names, load_builtin

    out = []
    for name in builtin_names():
        cls = load_builtin(name)
        summary = cls.description or (cls.__doc__ or "").strip().splitlines()[0]
        params = [
            {
                "name": spec.name,
                "type": spec.type.__name__,
                "default": spec.default,
                "ge": spec.ge,
                "le": spec.le,
                "choices": list(spec.choices) if spec.choices else None,
                "doc": spec.doc,
            }
            for spec in cls.param_specs()
        ]
        out.append(
            {
                "name": name,
                "description": summary,
                "multi_asset": bool(getattr(cls, "multi_asset", False)),
                "params": params,
            }
        )
    return out


# ------------------------------------------------------------------------------------------- backtests


@router.post("/backtests", status_code=202, summary="Start a backtest in the background")
async def start_backtest(body: BacktestBody, state: StateDep, token: TradeToken) -> dict[str, Any]:
    job = state.backtests.submit(body)
    return job.as_dict()


@router.get("/backtests", summary="Backtests of this process and those saved in the results folder")
def list_backtests(state: StateDep, token: ReadToken) -> list[dict[str, Any]]:
    return [job.as_dict() for job in state.backtests.jobs()]


@router.get("/backtests/{job_id}", summary="One backtest; with its result JSON once done")
def get_backtest(job_id: str, state: StateDep, token: ReadToken) -> Response:
    job = state.backtests.get(job_id).as_dict()
    result = state.backtests.result(job_id) if job["status"] == "done" else b"null"
    # the result is spliced in as the raw bytes written to disk: re-parsing tens of MB buys nothing
    head = orjson.dumps(job)[:-1]
    return Response(head + b',"result":' + result + b"}", media_type="application/json")


@router.get("/backtests/{job_id}/result", summary="The result JSON alone (the `atb backtest --json` contract)")
def get_backtest_result(job_id: str, state: StateDep, token: ReadToken) -> Response:
    return Response(
        state.backtests.result(job_id),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{job_id}.json"'},
    )


# ------------------------------------------------------------------------------------------- websocket


@router.websocket("/ws")
async def events(websocket: WebSocket, token: str | None = None) -> None:
    """Stream bus events as JSON text frames: fill, order, equity, status, alert, backtest, dropped.

    The first frame is `{"type": "hello", ...}`. A bad token gets an `error` frame and close code
    4401 (4403 for a scope problem) — after accepting, because a browser sees nothing of a refused
    handshake but the bare failure.
    """
    state: ApiState = websocket.app.state.atb
    try:
        info = await websocket_token(state, token)
    except ApiError as exc:
        await websocket.accept()
        await websocket.send_text(orjson.dumps({"type": "error", "error": exc.error}).decode())
        await websocket.close(code=4000 + exc.status, reason=exc.error[:120])
        return
    await websocket.accept()
    queue = state.bus.subscribe()
    state.websocket_clients += 1
    hello = {"type": "hello", "ts": time.time(), "token": info.name, "run_id": state.run_id, "mode": state.mode}
    receiver = asyncio.ensure_future(_drain(websocket))
    try:
        await websocket.send_text(orjson.dumps(hello).decode())
        while True:
            getter = asyncio.ensure_future(queue.get())
            done, _ = await asyncio.wait({getter, receiver}, return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:
                getter.cancel()
                break
            await websocket.send_text(orjson.dumps(getter.result(), default=str).decode())
    except (WebSocketDisconnect, RuntimeError):
        log.debug("websocket client went away")
    finally:
        state.websocket_clients -= 1
        state.bus.unsubscribe(queue)
        receiver.cancel()
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
            await receiver


async def _drain(websocket: WebSocket) -> None:
    """Read (and ignore) what the client sends, until it disconnects: that is how a close is noticed."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
