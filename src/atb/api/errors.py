"""Every error the API answers is JSON `{"error": "<one clear line>", "detail": ...}`, never a traceback.

A client (or the person reading its log) should learn what was wrong from `error` alone; `detail`
carries structure when there is some (the fields a request failed on). Unexpected exceptions are
logged here with their traceback, server-side, and answered as a bare 500 with an incident id
that appears in that log line, so the two can be matched without leaking internals.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from atb.domain.errors import DomainError
from atb.errors import UserInputError

__all__ = ["ApiError", "error_body", "install_error_handlers"]

log = logging.getLogger("atb.api")


class ApiError(Exception):
    """An expected failure with its HTTP status: raised by routes, rendered by the handler below."""

    def __init__(self, status: int, error: str, detail: Any = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.detail = detail
        self.headers = headers


def error_body(error: str, detail: Any = None) -> dict[str, Any]:
    return {"error": error, "detail": detail}


def _where(loc: Sequence[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        head, rest = parts[0], parts[1:]
        return f"{head} field {'.'.join(rest)}" if rest else f"request {head}"
    return ".".join(parts) or "request"


def _clean(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Pydantic's errors without `input`/`ctx`/`url`: they can hold the raw (possibly secret) input
    and objects JSON cannot encode."""
    cleaned = []
    for err in errors:
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        cleaned.append({"loc": [str(p) for p in err.get("loc", ())], "msg": msg, "type": str(err.get("type", ""))})
    return cleaned


def _status_text(status: int) -> str:
    return {
        400: "bad request",
        401: "authentication required",
        403: "forbidden",
        404: "not found",
        405: "method not allowed",
        409: "conflict",
        413: "request too large",
        415: "unsupported media type",
        422: "invalid request",
        429: "too many requests",
    }.get(status, "error")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(error_body(exc.error, exc.detail), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _clean(exc.errors())
        if errors and errors[0]["type"] == "json_invalid":
            position = errors[0]["loc"][-1] if len(errors[0]["loc"]) > 1 else "?"
            message = f"request body is not valid JSON (error at character {position})"
        elif errors:
            first = errors[0]
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            message = f"{_where(first['loc'])}: {first['msg']}{more}"
        else:
            message = "invalid request"
        return JSONResponse(error_body(message, errors), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        text = exc.detail if isinstance(exc.detail, str) and exc.detail else _status_text(exc.status_code)
        if exc.status_code == 404 and text == "Not Found":
            text = f"no such endpoint: {request.method} {request.url.path}"
        elif exc.status_code == 405:
            text = f"method {request.method} not allowed on {request.url.path}"
        return JSONResponse(error_body(text), status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(UserInputError)
    async def _user(request: Request, exc: UserInputError) -> JSONResponse:
        return JSONResponse(error_body(str(exc)), status_code=422)

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        return JSONResponse(error_body(str(exc)), status_code=422)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        incident = secrets.token_hex(4)
        log.error("incident %s: %s %s failed", incident, request.method, request.url.path, exc_info=exc)
        return JSONResponse(
            error_body("internal error", f"incident {incident}: the server log has the details"), status_code=500
        )
