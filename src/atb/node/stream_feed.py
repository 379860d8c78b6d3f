"""Live bars over a websocket (ccxt.pro `watch_ohlcv`), with the REST feed as the safety net.

Same contract as `PollingBarFeed` (it is one, plus a stream): closed bars only, in order, never
twice, none lost. The stream brings bars seconds after they close instead of a poll later; REST
covers what a stream cannot promise:

- ccxt.pro keeps the candles it was sent but drops Binance's "closed" flag (`x`). A candle is
  therefore taken from the stream only once a newer candle came on the same ordered connection.
  When the newest candle's close time is `close_grace_seconds` past and nothing newer came (a quiet
  market, a dead connection the venue has not noticed), REST fetches the final bar.
- After a websocket error or disconnect the feed polls REST (`since` pagination from its cursor)
  until the stream is back, reconnecting with exponential backoff. A candle the previous
  connection left half-updated is never trusted: of a new connection's first batch only the
  newest candle is kept, and a hole between the cursor and the stream's data is filled by REST
  (or, once REST has shown data past it, logged as the venue's own gap).

One `BarGate` handles both sources, so a bar that arrives through both passes once.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from atb.errors import MissingExtraError, UserInputError
from atb.node.bar_gate import LiveBar, OhlcvRow, wall_clock_ms
from atb.node.live_feed import OhlcvSource, PollingBarFeed

__all__ = ["ExchangeOhlcv", "StreamingBarFeed", "bar_feed", "pro_exchange"]


def _import_pro() -> Any:
    try:
        return importlib.import_module("ccxt.pro")
    except ImportError as err:
        raise MissingExtraError("streaming market data", "live", "ccxt") from err


def pro_exchange(exchange_id: str, config: dict[str, Any] | None = None) -> Any:
    """A ccxt.pro client (imported here, never at module import); public market data needs no keys."""
    pro = _import_pro()
    factory = getattr(pro, exchange_id, None)
    if factory is None or exchange_id not in getattr(pro, "exchanges", ()):
        raise UserInputError(f"ccxt.pro has no streaming client for {exchange_id!r}")
    return factory(dict(config or {}))


class ExchangeOhlcv:
    """`OhlcvSource` over a bare ccxt exchange; failures surface to the feed, which retries next poll."""

    def __init__(self, exchange: Any) -> None:
        self.exchange = exchange

    async def ohlcv(
        self, symbol: str, timeframe: str, since: int | None = None, limit: int | None = None
    ) -> list[OhlcvRow]:
        rows = await self.exchange.fetch_ohlcv(symbol, timeframe, since, limit)
        return [(int(r[0]), float(r[1]), float(r[2]), float(r[3]), float(r[4]), float(r[5])) for r in rows]


def _can_stream(exchange: Any) -> bool:
    has = getattr(exchange, "has", None) or {}
    return bool(has.get("watchOHLCV")) and callable(getattr(exchange, "watch_ohlcv", None))


class StreamingBarFeed(PollingBarFeed):
    """Closed bars of one symbol from `exchange.watch_ohlcv`, REST (`rest`) filling every gap.

    `exchange` is a ccxt.pro client, or an exchange id to build one (then owned: `await close()`
    closes it). `rest` defaults to the client's own `fetch_ohlcv`; pass a `CcxtVenue` to get its
    retries and circuit breaker. `poll_seconds` paces REST while the stream is down and bounds how
    often REST is asked at all. `now_ms` is the clock that decides when a bar's close time passed.
    """

    def __init__(
        self,
        exchange: Any,
        symbol: str,
        timeframe: str,
        *,
        rest: OhlcvSource | None = None,
        since_ms: int | None = None,
        poll_seconds: float = 5.0,
        now_ms: Callable[[], int] = wall_clock_ms,
        limit: int = 500,
        logger: logging.Logger | None = None,
        close_grace_seconds: float = 3.0,
        reconnect_base: float = 1.0,
        reconnect_max: float = 60.0,
    ) -> None:
        self._owns_exchange = isinstance(exchange, str)
        client = pro_exchange(exchange) if isinstance(exchange, str) else exchange
        if not _can_stream(client):
            raise UserInputError(f"{getattr(client, 'id', client)!r} cannot stream OHLCV (no watch_ohlcv)")
        if getattr(client, "newUpdates", True) is not True:
            # with newUpdates off ccxt returns its whole cache, stale candles of a dropped connection included
            raise UserInputError("StreamingBarFeed needs the ccxt.pro client's newUpdates=True (ccxt's default)")
        if close_grace_seconds < 0 or not 0 < reconnect_base <= reconnect_max:
            raise UserInputError("close_grace_seconds must be >= 0 and 0 < reconnect_base <= reconnect_max")
        super().__init__(
            rest if rest is not None else ExchangeOhlcv(client),
            symbol,
            timeframe,
            since_ms=since_ms,
            poll_seconds=poll_seconds,
            now_ms=now_ms,
            limit=limit,
            logger=logger,
        )
        self.exchange = client
        self.close_grace_ms = int(close_grace_seconds * 1000)
        self.reconnect_base = reconnect_base
        self.reconnect_max = reconnect_max
        self.reconnects = 0  # websocket failures survived so far
        self.streamed_bars = 0  # bars that came from the stream (the rest came from REST)
        self._ws_rows: dict[int, Sequence[Any]] = {}  # candles after the cursor, latest update of each
        self._ws_error: Exception | None = None
        self._pump: asyncio.Task[None] | None = None
        self._backoff = reconnect_base
        self._reconnect_at = 0.0
        self._rest_due = 0.0

    async def close(self) -> None:
        """Stop, end the stream, and close the ccxt.pro client if this feed built it."""
        await super().close()
        await self._end_stream()
        if self._owns_exchange:
            await self.exchange.close()

    async def _end_stream(self) -> None:
        pump, self._pump = self._pump, None
        if pump is not None:
            pump.cancel()
            await asyncio.gather(pump, return_exceptions=True)

    # ------------------------------------------------------------------ websocket side

    async def _watch(self) -> None:
        """One connection's life: copy each batch of candles, wake the feed; end on the first error."""
        first = True
        try:
            while True:
                batch = await self.exchange.watch_ohlcv(self.symbol, self.timeframe)
                rows = [(r[0], tuple(r[:6])) for r in batch if r and isinstance(r[0], int)]
                if len(rows) < len(batch):
                    self.log.warning(
                        "%s %s: streamed candles without an open time skipped", self.symbol, self.timeframe
                    )
                if first and rows:
                    # older candles in a new connection's first batch may be left over from the last one
                    newest = max(ts for ts, _ in rows)
                    rows = [(ts, row) for ts, row in rows if ts == newest]
                    self._rest_due = 0.0  # fill any hole since the cursor at once
                    first = False
                self._ws_rows.update(rows)
                self.last_poll_ok_monotonic = time.monotonic()
                self._backoff = self.reconnect_base
                self._wake.set()
        except Exception as exc:
            self._ws_error = exc
            self._wake.set()

    def _check_stream(self) -> bool:
        """Start or restart the stream when due; after a failure, log it and schedule the reconnect.
        True while the stream is down (REST carries the feed)."""
        pump = self._pump
        if pump is not None and pump.done():
            exc = self._ws_error
            reason = f"{type(exc).__name__}: {exc}" if exc is not None else "the stream task ended"
            self._pump, self._ws_error = None, None
            self._ws_rows.clear()
            self.reconnects += 1
            self._reconnect_at = time.monotonic() + self._backoff
            self.log.warning(
                "%s %s: market-data stream failed (%s); on REST until a reconnect in %.3gs",
                self.symbol, self.timeframe, reason, self._backoff,
            )  # fmt: skip
            self._backoff = min(self._backoff * 2, self.reconnect_max)
            self._rest_due = 0.0
        if self._pump is None and time.monotonic() >= self._reconnect_at:
            self._pump = asyncio.ensure_future(self._watch())
        return self._pump is None

    def _take_stream(self) -> bool:
        """Admit the streamed candles that a newer one has closed; True if REST is needed first."""
        gate = self.gate
        cursor = gate.cursor_ms
        if cursor is not None:
            for ts in [ts for ts in self._ws_rows if ts <= cursor]:
                del self._ws_rows[ts]
        if not self._ws_rows:
            return False
        stamps = sorted(self._ws_rows)
        first, newest = stamps[0], stamps[-1]
        seen = self.venue_seen_ms
        if cursor is not None and first > cursor + gate.tf_ms and (seen is None or seen < first):
            return True  # bars between the cursor and the stream's data: REST has them (or shows the gap)
        bars = gate.admit([self._ws_rows[ts] for ts in stamps], self.now_ms(), by_time=False)
        self._pending.extend(bars)
        self.streamed_bars += len(bars)
        for ts in stamps[:-1]:
            if gate.cursor_ms is not None and ts <= gate.cursor_ms:
                del self._ws_rows[ts]
        # the newest candle's close time passed with no newer candle: REST confirms its final values
        return newest + gate.tf_ms + self.close_grace_ms <= self.now_ms()

    def _timeout(self, need_rest: bool) -> float:
        now = time.monotonic()
        waits = [self.poll_seconds]
        if need_rest:
            waits.append(self._rest_due - now)
        if self._pump is None:
            waits.append(self._reconnect_at - now)
        elif self._ws_rows and not need_rest:  # REST is already planned: the close time is no reason to wake
            close_ms = max(self._ws_rows) + self.gate.tf_ms + self.close_grace_ms
            waits.append((close_ms - self.now_ms()) / 1000)
        return max(0.0, min(waits))

    async def _iterate(self) -> AsyncIterator[LiveBar]:
        self._mark_started()
        need_rest = True  # start with REST: the baseline, or the bars closed since `since_ms`
        try:
            while not self._stop.is_set():
                need_rest = self._check_stream() or need_rest
                if need_rest and time.monotonic() >= self._rest_due:
                    found = await self._until_stopped(self.poll)
                    self._rest_due = time.monotonic() + self.poll_seconds
                    need_rest = found is None or found < 0
                if self.gate.ready:
                    need_rest = self._take_stream() or need_rest
                while self._pending and not self._stop.is_set():
                    bar = self._pending.popleft()
                    self.last_bar_ms = bar.ts_ms
                    yield bar
                if not self._stop.is_set():
                    await self._sleep(self._timeout(need_rest))
        finally:
            await self._end_stream()


def bar_feed(
    exchange_or_venue: Any,
    symbol: str,
    timeframe: str,
    *,
    stream: bool | None = None,
    rest: OhlcvSource | None = None,
    since_ms: int | None = None,
    poll_seconds: float = 5.0,
    now_ms: Callable[[], int] = wall_clock_ms,
    limit: int = 500,
    logger: logging.Logger | None = None,
    close_grace_seconds: float = 3.0,
    reconnect_base: float = 1.0,
    reconnect_max: float = 60.0,
) -> PollingBarFeed:
    """The live feed for one symbol: streaming when the ccxt client can `watchOHLCV` and `stream` is not
    False, else polling. `stream=True` on a client that cannot stream is an error, not a quiet downgrade.

    `exchange_or_venue` is a `CcxtVenue` (REST through its retries; its ccxt client does not stream),
    a ccxt.pro client, or any ccxt async client. `rest` overrides the REST source. The last three
    settings apply to streaming only (see `StreamingBarFeed`).
    """
    exchange = getattr(exchange_or_venue, "exchange", exchange_or_venue)
    if rest is None:
        rest = exchange_or_venue if callable(getattr(exchange_or_venue, "ohlcv", None)) else ExchangeOhlcv(exchange)
    log = logger if logger is not None else logging.getLogger(__name__)
    name = getattr(exchange, "id", type(exchange).__name__)
    common: dict[str, Any] = {"since_ms": since_ms, "poll_seconds": poll_seconds, "now_ms": now_ms, "limit": limit}
    if stream is not False and _can_stream(exchange):
        log.info("%s %s bars: streaming from %s (REST as fallback)", symbol, timeframe, name)
        return StreamingBarFeed(
            exchange, symbol, timeframe, rest=rest, logger=logger, close_grace_seconds=close_grace_seconds,
            reconnect_base=reconnect_base, reconnect_max=reconnect_max, **common,
        )  # fmt: skip
    if stream:
        _import_pro()  # MissingExtraError without ccxt.pro; else the client given is the problem
        raise UserInputError(f"the {name} client given cannot stream bars: pass a ccxt.pro client for stream=True")
    reason = "as asked" if stream is False else f"the {name} client has no watchOHLCV"
    log.info("%s %s bars: polling REST every %gs (%s)", symbol, timeframe, poll_seconds, reason)
    return PollingBarFeed(rest, symbol, timeframe, logger=logger, **common)
