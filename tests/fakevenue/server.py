"""A fake Binance spot REST venue on 127.0.0.1 for tests that drive the unmodified ccxt client.

`ThreadingHTTPServer` in a background thread, HTTP/1.1 with keep-alive (aiohttp and requests
reuse connections as they do against Binance, which matters for how dropped answers surface).
Requests are answered as Binance answers them: the same JSON shapes, error codes and messages,
HTTP statuses and weight headers; see VENUE_NOTES for the behaviour this mirrors.

Market data can run live: `live_klines` / `release_bars` grow a symbol's klines one closed bar at a
time, and `stream` (started on first use) pushes each released bar to websocket subscribers as
Binance's kline stream does (`ws.py`).
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass, replace
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from . import klines as _klines
from .endpoints import ROUTES, Route
from .faults import Fault, FaultKind, Faults
from .state import DEFAULT_SYMBOLS, Book, Order, SymbolSpec, Trade, VenueReject

if TYPE_CHECKING:
    from .ws import FakeStream

API_PREFIX = "/api/v3/"
DEFAULT_RECV_WINDOW = 5000
MSG_429 = (
    "Too much request weight used; current limit is 6000 request weight per 1 MINUTE. "
    "Please use WebSocket Streams for live updates to avoid polling the API."
)
MSG_418 = (
    "Way too much request weight used; IP banned until {until}. "
    "Please use WebSocket Streams for live updates to avoid bans."
)
MSG_500 = "Internal error; unable to process your request. Please try again."
_GATEWAY_PAGE = "<html><head><title>{code} {reason}</title></head><body><h1>{code} {reason}</h1></body></html>"
_REASONS = {502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Time-out"}


@dataclass(frozen=True, slots=True)
class Recorded:
    """One request as the venue saw it (before any fault was applied)."""

    method: str
    endpoint: str
    params: dict[str, str]
    api_key: str | None


class FakeVenue:
    """The fake venue: start it, point `make_client` at it, drive prices and faults from the test."""

    def __init__(
        self,
        *,
        balances: dict[str, Decimal | str | int] | None = None,
        prices: dict[str, Decimal | str | int] | None = None,
        symbols: tuple[SymbolSpec, ...] = DEFAULT_SYMBOLS,
    ) -> None:
        self.lock = threading.RLock()
        self.book = Book(symbols)
        self.faults = Faults()
        self.requests: list[Recorded] = []
        # requests no route serves ("METHOD /path") and errors of the fake itself: the fixture fails on them
        self.unexpected: list[str] = []
        self.clock_offset_ms = 0  # the venue's clock minus ours: skew it to provoke -1021
        self.weight_limit: int | None = None  # enforce a per-minute weight limit (429 -1003) when set
        self._weights: deque[tuple[float, int]] = deque()
        self._order_times: deque[float] = deque()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        # klines are served through the venue so that live mode (a release cursor per symbol) applies
        self.routes: dict[tuple[str, str], Route] = ROUTES | {
            ("GET", "klines"): replace(ROUTES[("GET", "klines")], handler=_klines.route)
        }
        self._kline_cursors: dict[str, int] = {}
        self._stream: FakeStream | None = None
        for asset, amount in (balances or {"USDT": Decimal(100_000), "BTC": Decimal(0), "ETH": Decimal(0)}).items():
            self.book.deposit(asset, Decimal(amount))
        for symbol, price in (prices or {"BTCUSDT": Decimal(50_000), "ETHUSDT": Decimal(3_000)}).items():
            self.book.prices[symbol] = Decimal(price)

    # -- lifecycle -----------------------------------------------------------------------------------------
    def start(self) -> FakeVenue:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.venue = self
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._stream is not None:
            self._stream.stop()
            self.unexpected.extend(self._stream.unexpected)
            self._stream = None
        if self._server is not None:
            self._server.shutdown()
            self._server.close_connections()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeVenue:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "venue not started"
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def now_ms(self) -> int:
        return int(time.time() * 1000) + self.clock_offset_ms

    @property
    def stream(self) -> FakeStream:
        """The market-data websocket (Binance's spot stream protocol), started on first use."""
        if self._stream is None:
            from .ws import FakeStream

            self._stream = FakeStream().start()
        return self._stream

    # -- live klines ---------------------------------------------------------------------------------------
    def live_klines(self, symbol: str, start_index: int) -> None:
        """Live mode for `symbol`: /api/v3/klines serves only sample rows [0, cursor), cursor = `start_index`."""
        rows = _klines.sample_rows(symbol)
        if not 0 <= start_index <= len(rows):
            raise ValueError(f"{symbol}: start_index {start_index} outside 0..{len(rows)}")
        with self.lock:
            self._kline_cursors[symbol] = start_index

    def kline_cursor(self, symbol: str) -> int | None:
        """How many sample rows `symbol` serves in live mode; None: all of them (the default)."""
        with self.lock:
            return self._kline_cursors.get(symbol)

    def release_bars(self, symbol: str, n: int = 1) -> list[list[Any]]:
        """Close the next `n` bars of a live symbol: REST serves them, the market price moves to the last
        close (market orders fill near it), and stream subscribers get each as a closed kline (x=true).
        Returns the released rows as /api/v3/klines gives them."""
        rows = _klines.sample_rows(symbol)
        with self.lock:
            cursor = self._kline_cursors.get(symbol)
            if cursor is None:
                raise ValueError(f"{symbol} is not in live mode: call live_klines first")
            if n < 1 or cursor + n > len(rows):
                raise ValueError(f"{symbol}: cannot release {n} bars after row {cursor} of {len(rows)}")
            released = rows[cursor : cursor + n]
            self._kline_cursors[symbol] = cursor + n
            self.book.set_price(symbol, Decimal(released[-1][4]), self.now_ms())
        if self._stream is not None:
            stream = f"{symbol.lower()}@kline_{_klines.INTERVAL}"
            for row in released:
                self._stream.publish(stream, _klines.kline_event(row, symbol, closed=True, event_ms=self.now_ms()))
        return released

    # -- test controls -------------------------------------------------------------------------------------
    def set_price(self, symbol: str, price: Decimal | str) -> list[Trade]:
        """Move the market price; resting limit orders it reaches fill at their limit. Returns those fills."""
        with self.lock:
            return self.book.set_price(symbol, Decimal(price), self.now_ms())

    def fill(self, client_id: str, qty: Decimal | str) -> Trade:
        """Fill `qty` of the open limit order with this client id at its limit price (a partial fill)."""
        with self.lock:
            return self.book.partial_fill(self.order(client_id), Decimal(qty), self.now_ms())

    def expire(self, client_id: str) -> None:
        """End an open order as EXPIRED (as Binance does for e.g. self-trade prevention), releasing its lock."""
        with self.lock:
            self.book.expire(self.order(client_id), self.now_ms())

    def set_liquidity(self, symbol: str, qty: Decimal | str | None) -> None:
        """Cap what one market order can fill; the rest EXPIREs. None removes the cap."""
        with self.lock:
            if qty is None:
                self.book.liquidity.pop(symbol, None)
            else:
                self.book.liquidity[symbol] = Decimal(qty)

    def deposit(self, asset: str, amount: Decimal | str) -> None:
        with self.lock:
            self.book.deposit(asset, Decimal(amount))

    def balance(self, asset: str) -> tuple[Decimal, Decimal]:
        """(free, locked) of an asset."""
        with self.lock:
            return self.book.free.get(asset, Decimal(0)), self.book.locked.get(asset, Decimal(0))

    def order(self, client_id: str) -> Order:
        """The latest order sent with this client id (KeyError if none was accepted)."""
        with self.lock:
            return self.book.by_client_id[client_id]

    def orders_with(self, client_id: str) -> list[Order]:
        """Every order ever accepted with this client id: more than one means it was reused."""
        with self.lock:
            return [o for o in self.book.orders.values() if o.client_id == client_id]

    def calls(self, endpoint: str, method: str | None = None) -> list[Recorded]:
        return [r for r in self.requests if r.endpoint == endpoint and (method is None or r.method == method)]

    # -- request handling ----------------------------------------------------------------------------------
    def _check_signed(self, params: dict[str, str], api_key: str | None) -> None:
        if not api_key:
            raise VenueReject(-2014, "API-key format invalid.", 401)
        for name in ("timestamp", "signature"):
            if not params.get(name):
                raise VenueReject(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")
        try:
            stamp, window = int(params["timestamp"]), int(params.get("recvWindow", DEFAULT_RECV_WINDOW))
        except ValueError:
            raise VenueReject(-1100, "Illegal characters found in parameter 'timestamp'.") from None
        if window > 60_000:
            raise VenueReject(-1131, "recvWindow must be less than 60000")
        now = self.now_ms()
        if stamp > now + 1000:
            raise VenueReject(-1021, "Timestamp for this request was 1000ms ahead of the server's time.")
        if now - stamp > window:
            raise VenueReject(-1021, "Timestamp for this request is outside of the recvWindow.")

    def _charge(self, weight: int, is_order: bool) -> dict[str, str]:
        """Account weight (and orders) in their rolling windows; the headers Binance sends back."""
        now = time.monotonic()
        with self.lock:
            while self._weights and now - self._weights[0][0] >= 60:
                self._weights.popleft()
            while self._order_times and now - self._order_times[0] >= 10:
                self._order_times.popleft()
            used = sum(w for _, w in self._weights) + weight
            if self.weight_limit is not None and used > self.weight_limit:
                retry = max(1, int(60 - (now - self._weights[0][0])) + 1) if self._weights else 60
                raise _Refused(429, {"code": -1003, "msg": MSG_429}, {"Retry-After": str(retry)})
            self._weights.append((now, weight))
            headers = {"X-MBX-USED-WEIGHT-1M": str(used), "X-MBX-USED-WEIGHT": str(used)}
            if is_order:
                self._order_times.append(now)
                headers["X-MBX-ORDER-COUNT-10S"] = str(len(self._order_times))
                headers["X-MBX-ORDER-COUNT-1D"] = str(sum(1 for r in self.requests if r.endpoint == "order"))
            return headers

    def _used_weight_headers(self) -> dict[str, str]:
        with self.lock:
            return {"X-MBX-USED-WEIGHT-1M": str(sum(w for _, w in self._weights))}


class _Refused(Exception):  # noqa: N818 — control flow inside the handler, never escapes it
    def __init__(self, status: int, payload: Any, headers: dict[str, str]) -> None:
        super().__init__(status)
        self.status, self.payload, self.headers = status, payload, headers


# -- HTTP plumbing ----------------------------------------------------------------------------------------
class _Server(ThreadingHTTPServer):
    daemon_threads = True
    venue: FakeVenue

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._conn_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._conn_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """End idle keep-alive connections so their handler threads finish with the venue."""
        with self._conn_lock:
            for conn in list(self._connections):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet: pytest output stays readable
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def _handle(self, method: str) -> None:
        venue = self.server.venue
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        params = dict(parse_qsl(url.query, keep_blank_values=True)) | dict(parse_qsl(body, keep_blank_values=True))
        endpoint = url.path[len(API_PREFIX) :] if url.path.startswith(API_PREFIX) else ""
        route = venue.routes.get((method, endpoint))
        if route is None:
            venue.unexpected.append(f"{method} {url.path}")
            self._send(404, {"code": -1, "msg": f"fake venue: no route for {method} {url.path}"}, {})
            return
        api_key = self.headers.get("X-MBX-APIKEY")
        venue.requests.append(Recorded(method, endpoint, params, api_key))
        fault = venue.faults.take(endpoint, method)
        if fault is not None and not fault.processes:
            self._fail(fault)
            return
        try:
            headers = venue._charge(route.weight, is_order=(method, endpoint) == ("POST", "order"))
            with venue.lock:
                if route.signed:
                    venue._check_signed(params, api_key)
                status, payload = route.handler(venue, params)
        except VenueReject as e:
            status, payload, headers = e.status, {"code": e.code, "msg": e.msg}, venue._used_weight_headers()
        except _Refused as e:
            status, payload, headers = e.status, e.payload, e.headers
        except ValueError:  # a number parameter that is not one
            status, payload, headers = 400, {"code": -1100, "msg": "Illegal characters found in a parameter."}, {}
        except Exception as e:  # a bug in the fake: answer like Binance's -1000, and fail the test via `unexpected`
            venue.unexpected.append(f"{method} {url.path}: fake venue error {e!r}")
            status, payload, headers = (
                500,
                {"code": -1000, "msg": "An unknown error occurred while processing the request."},
                {},
            )
        if fault is not None:
            if fault.kind is FaultKind.DELAY:
                venue._stopping.wait(fault.seconds)
            else:  # DROP_AFTER, or a 5xx although the venue acted on the request
                self._fail(fault)
                return
        self._send(status, payload, headers)

    def _fail(self, fault: Fault) -> None:
        venue = self.server.venue
        if fault.kind is FaultKind.RESET_BEFORE:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()  # linger 0: the kernel answers with RST, not FIN
        elif fault.kind in (FaultKind.DROP_AFTER, FaultKind.DELAY):
            if fault.kind is FaultKind.DELAY:
                venue._stopping.wait(fault.seconds)
            self.close_connection = True  # FIN without a single byte of answer
        elif fault.kind is FaultKind.RATE_LIMIT:
            self._send(429, {"code": -1003, "msg": MSG_429}, {"Retry-After": f"{fault.seconds:g}"})
        elif fault.kind is FaultKind.BAN:
            until = venue.now_ms() + int(fault.seconds * 1000)
            self._send(418, {"code": -1003, "msg": MSG_418.format(until=until)}, {"Retry-After": f"{fault.seconds:g}"})
        elif fault.status == 500:
            self._send(500, {"code": -1001, "msg": MSG_500}, {})
        else:
            reason = _REASONS.get(fault.status, "Error")
            page = _GATEWAY_PAGE.format(code=fault.status, reason=reason).encode()
            self._send_raw(fault.status, page, "text/html", {})

    def _send(self, status: int, payload: Any, headers: dict[str, str]) -> None:
        self._send_raw(status, json.dumps(payload).encode(), "application/json;charset=UTF-8", headers)

    def _send_raw(self, status: int, body: bytes, content_type: str, headers: dict[str, str]) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timed out) meanwhile
            self.close_connection = True
