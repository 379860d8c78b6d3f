"""The fake venue's market-data websocket: enough of Binance's spot stream protocol for ccxt.pro.

ccxt.pro's binance `watch_ohlcv` connects to `urls["api"]["ws"]["spot"] + "/<stream index>"`, sends
`{"method": "SUBSCRIBE", "params": ["btcusdt@kline_5m"], "id": N}`, waits for `{"result": null, "id": N}`
and then reads `kline` events. The server runs aiohttp in its own thread and event loop, so the test's
loop (the one ccxt.pro runs on) is never blocked by it. `publish` sends an event to every connection
subscribed to its stream and returns once the frames are written; `disconnect` ends every connection
(a close frame like Binance's scheduled disconnects, or an abrupt drop) to test reconnection.

The path starts with `/stream` on purpose: ccxt.pro tells spot from futures streams by "/stream" in the
connection URL (Binance's host is stream.binance.com), and resolves BTCUSDT to the spot market only then.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from aiohttp import web

    from .server import FakeVenue

WS_PATH = "/stream/ws"


class FakeStream:
    """A websocket endpoint on 127.0.0.1 with an ephemeral port; `start()`, `stop()`, `url`."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self.connects = 0  # websocket handshakes so far (1 + reconnections)
        self.subscribe_requests: list[dict[str, Any]] = []
        self.unexpected: list[str] = []  # requests the fake does not understand: the fixture fails on them
        self._subscriptions: dict[web.WebSocketResponse, set[str]] = {}
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}{WS_PATH}"

    def start(self) -> FakeStream:
        self._thread = threading.Thread(target=self._serve, name="fake-venue-ws", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the fake websocket server did not start")
        return self

    def _serve(self) -> None:
        from aiohttp import web

        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_get(WS_PATH, self._handle)
        app.router.add_get(WS_PATH + "/{stream}", self._handle)
        runner = web.AppRunner(app, handle_signals=False)
        self.loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.port = int(runner.addresses[0][1])
        self._runner = runner
        self._ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(runner.cleanup())
        self.loop.close()

    def stop(self) -> None:
        if self._thread is None:
            return
        self._call(self._close_all(abrupt=False))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self._thread = None

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    # -- test controls -------------------------------------------------------------------------------------
    def subscribers(self, stream: str) -> int:
        """How many open connections are subscribed to `stream` ("btcusdt@kline_5m")."""
        return sum(1 for ws, streams in list(self._subscriptions.items()) if stream in streams and not ws.closed)

    def publish(self, stream: str, payload: dict[str, Any]) -> int:
        """Send `payload` to every connection subscribed to `stream`; returns how many got it."""
        return int(self._call(self._publish(stream, json.dumps(payload))))

    def disconnect(self, *, abrupt: bool = False) -> int:
        """End every connection: a close frame (code 1001, going away), or `abrupt`ly drop the TCP link."""
        return int(self._call(self._close_all(abrupt=abrupt)))

    # -- server side ---------------------------------------------------------------------------------------
    async def _publish(self, stream: str, text: str) -> int:
        sent = 0
        for ws, streams in list(self._subscriptions.items()):
            if stream in streams and not ws.closed:
                with contextlib.suppress(ConnectionError):
                    await ws.send_str(text)
                    sent += 1
        return sent

    async def _close_all(self, *, abrupt: bool) -> int:
        sockets = list(self._subscriptions)
        for ws in sockets:
            if abrupt:
                transport = ws._req.transport if ws._req is not None else None  # aiohttp keeps no public handle
                if transport is not None:
                    transport.abort()
            else:
                await ws.close(code=1001, message=b"going away")
        return len(sockets)

    async def _handle(self, request: web.Request) -> web.WebSocketResponse:
        from aiohttp import WSMsgType, web

        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self.connects += 1
        self._subscriptions[ws] = set()
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    await ws.send_str(json.dumps(self._answer(ws, msg.data)))
        finally:
            self._subscriptions.pop(ws, None)
        return ws

    def _answer(self, ws: web.WebSocketResponse, text: str) -> dict[str, Any]:
        """Binance's answers to SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS, and its error for the rest."""
        try:
            request = json.loads(text)
            method, request_id = request["method"], request.get("id")
        except (ValueError, KeyError, TypeError):
            self.unexpected.append(f"ws: unparsable message {text!r}")
            return {"error": {"code": 3, "msg": "Invalid JSON: expected a method"}, "id": None}
        params = request.get("params") or []
        if method == "SUBSCRIBE":
            self.subscribe_requests.append(request)
            self._subscriptions[ws].update(str(p) for p in params)
            return {"result": None, "id": request_id}
        if method == "UNSUBSCRIBE":
            self._subscriptions[ws].difference_update(str(p) for p in params)
            return {"result": None, "id": request_id}
        if method == "LIST_SUBSCRIPTIONS":
            return {"result": sorted(self._subscriptions[ws]), "id": request_id}
        self.unexpected.append(f"ws: unknown method {method!r}")
        return {"error": {"code": 2, "msg": f"Invalid request: unknown method {method!r}"}, "id": request_id}


def local_ws_urls(template: Any, url: str) -> Any:
    """ccxt's `urls["api"]["ws"]` table with every entry (nested ones too) replaced by `url`."""
    if isinstance(template, dict):
        return {key: local_ws_urls(value, url) for key, value in template.items()}
    return url


def make_pro_client(venue: FakeVenue, **config: Any) -> Any:
    """A `ccxt.pro.binance` whose REST and websocket URLs all point at `venue` (its stream started)."""
    import ccxt.pro

    from .client import CLIENT_OPTIONS, LOCAL_HOSTS, local_urls

    options = dict(CLIENT_OPTIONS) | config.pop("options", {})
    settings: dict[str, Any] = {"enableRateLimit": True, "rateLimit": 1, "timeout": 5_000, "options": options}
    client = ccxt.pro.binance(settings | config)
    for table in ("api", "test", "demo"):  # sandbox / demo tables stay unused but are moved too
        if isinstance(client.urls.get(table), dict):
            rest = {k: v for k, v in client.urls[table].items() if isinstance(v, str)}
            ws_table = client.urls[table].get("ws", {})
            client.urls[table] = local_urls(venue, rest) | {"ws": local_ws_urls(ws_table, venue.stream.url)}
    for url in _all_urls(client.urls["api"]):
        assert urlsplit(url).hostname in LOCAL_HOSTS, f"ccxt.pro url {url} is not local"
    return client


def _all_urls(table: Any) -> list[str]:
    if isinstance(table, dict):
        return [url for value in table.values() for url in _all_urls(value)]
    return [table]
