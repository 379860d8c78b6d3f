"""Bearer-token authentication for every route except `/health/live` and the dashboard's static files.

HTTP routes take the token only from `Authorization: Bearer <token>`: a token in a URL ends up in
proxy and access logs. The websocket is the exception (`?token=`), because browsers cannot set
headers on a websocket; the dashboard's page is same-origin, so that URL never leaves the machine
pair it runs between. GET routes need `read`, routes that change something need `trade`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from atb.api.errors import ApiError
from atb.api.state import ApiState
from atb.api.tokens import Scope, TokenInfo, verify_token

__all__ = ["ReadToken", "TradeToken", "get_state", "require", "websocket_token"]

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="atb"'}


def get_state(request: Request) -> ApiState:
    state: ApiState = request.app.state.atb
    return state


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization")
    if header is None:
        raise ApiError(
            401,
            "missing API token: send 'Authorization: Bearer <token>' (create one: atb token create)",
            None,
            _CHALLENGE,
        )
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise ApiError(401, "the Authorization header must be 'Bearer <token>'", None, _CHALLENGE)
    return value.strip()


def _check(info: TokenInfo | None, needed: Scope) -> TokenInfo:
    if info is None:
        raise ApiError(401, "invalid or revoked API token", None, _CHALLENGE)
    if not info.allows(needed):
        raise ApiError(403, f"token {info.name!r} has scope {info.scope}; this needs a {needed} token")
    return info


def require(needed: Scope) -> object:
    """A dependency that answers 401/403 unless the request carries an active token of `needed` scope.

    Synchronous on purpose: FastAPI runs it on its thread pool, so the database look-up never
    holds the event loop the node trades on.
    """

    def dependency(request: Request) -> TokenInfo:
        state = get_state(request)
        info = _check(verify_token(state.sessions, _bearer(request)), needed)
        state.token_usage.note(info)
        return info

    return Depends(dependency)


ReadToken = Annotated[TokenInfo, require("read")]
TradeToken = Annotated[TokenInfo, require("trade")]


async def websocket_token(state: ApiState, token: str | None, needed: Scope = "read") -> TokenInfo:
    """The websocket's check (token from the query string); raises `ApiError` like the HTTP one."""
    if not token:
        raise ApiError(401, "missing API token: connect to /api/ws?token=<token>")
    info = _check(await run_in_threadpool(verify_token, state.sessions, token), needed)
    state.token_usage.note(info)
    return info
