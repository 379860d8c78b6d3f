"""The FastAPI application: REST API under /api, health, Prometheus metrics, and the dashboard.

Routes outside /api:

- `GET /health/live` — no token: the process answers (for a liveness probe).
- `GET /health/ready` — read token: every component's verdict as JSON; 200 when ready, 503 when not.
- `GET /metrics` — read token (`Authorization: Bearer`, as Prometheus' `authorization` config sends
  it): the Prometheus text exposition. Metrics reveal equity and positions, so they are not public.
- `GET /` and `/static/*` — no token: the dashboard's page, script, style and plotly.js. They hold
  no data; the page asks for a token and then reads /api like any client.
- `GET /api/openapi.json` — read token: the OpenAPI spec. The interactive docs pages are off: they
  load their scripts from a CDN, and this app must work without a network.
"""

from __future__ import annotations

import importlib.resources
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Response
from fastapi.responses import FileResponse, JSONResponse

import atb
from atb.api.auth import ReadToken, get_state
from atb.api.errors import ApiError, install_error_handlers
from atb.api.routes_misc import router as misc_router
from atb.api.routes_trading import router as trading_router
from atb.api.state import ApiState
from atb.errors import MissingExtraError

__all__ = ["STATIC_DIR", "create_app", "plotly_js_path"]

StateDep = Annotated[ApiState, Depends(get_state)]

STATIC_DIR = Path(__file__).with_name("static")
_STATIC_FILES = {"dashboard.js": "text/javascript", "results.js": "text/javascript", "dashboard.css": "text/css"}
_PAGE_HEADERS = {
    # the page loads only its own scripts and talks only to this origin ('self' covers ws:/wss: here)
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def plotly_js_path() -> Path:
    """plotly.js as the installed `plotly` package ships it: served from there, never copied into this repo."""
    path = Path(str(importlib.resources.files("plotly") / "package_data" / "plotly.min.js"))
    if not path.is_file():
        raise MissingExtraError("the dashboard's charts", "api", "plotly (package_data/plotly.min.js)")
    return path


def create_app(state: ApiState) -> FastAPI:
    """The app serving `state`; its lifespan starts and stops the node and the monitor with the server."""
    plotly_js = plotly_js_path()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await state.start()
        try:
            yield
        finally:
            await state.stop()

    app = FastAPI(
        title="ATB API",
        version=atb.__version__,
        description="Trading node, backtests and monitoring. Authenticate with `Authorization: Bearer <token>`.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.atb = state
    install_error_handlers(app)
    app.include_router(trading_router)
    app.include_router(misc_router)

    @app.get("/api/openapi.json", include_in_schema=False)
    def openapi(token: ReadToken) -> dict[str, Any]:
        return app.openapi()

    @app.get("/health/live", tags=["health"], summary="The process is up (no token needed)")
    def live(state: StateDep) -> dict[str, Any]:
        return state.health.live().as_dict()

    @app.get("/health/ready", tags=["health"], summary="Every component's verdict; 503 when one fails")
    async def ready(state: StateDep, token: ReadToken) -> JSONResponse:
        report = await state.health.ready()
        return JSONResponse(report.as_dict(), status_code=report.http_status)

    @app.get("/metrics", tags=["health"], summary="Prometheus exposition (read token as a bearer token)")
    def metrics(state: StateDep, token: ReadToken) -> Response:
        return Response(state.metrics.render(), media_type=state.metrics.content_type)

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html", headers=_PAGE_HEADERS)

    @app.get("/static/plotly.min.js", include_in_schema=False)
    def plotly() -> FileResponse:
        return FileResponse(plotly_js, media_type="text/javascript", headers={"Cache-Control": "max-age=86400"})

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> FileResponse:
        media = _STATIC_FILES.get(name)
        if media is None:
            raise ApiError(404, f"no static file {name!r}")
        return FileResponse(STATIC_DIR / name, media_type=media, headers={"Cache-Control": "no-cache"})

    return app
