"""Live bars from a venue's REST API: closed bars only, in order, never twice, none lost.

A strategy run live must see the same bar sequence a backtest over the venue's history would
show it. So the feed yields a bar only once it is closed (its close time has passed, or the venue
already returned a newer bar), keeps a cursor at the last bar it handled and pages forward from
it with `since` after every pause (node busy, venue down), and drops rows a backtest loader would
refuse (NaN, non-positive prices, a high/low range that does not hold open and close) with one
warning naming the bar. Gaps in the venue's own data are logged and passed through: the bars
that exist still arrive in order.

`AlignedBarFeed` joins one feed per symbol into one dict per timestamp, because the node appends
every symbol's bar for a timestamp together, as multi-asset backtests require shared timestamps.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Protocol

from atb.errors import UserInputError
from atb.node.bar_gate import BarGate, LiveBar, OhlcvRow, bar_time, timeframe_ms, wall_clock_ms

__all__ = [
    "AlignedBarFeed",
    "BarFeed",
    "BarGate",
    "LiveBar",
    "OhlcvRow",
    "OhlcvSource",
    "PollingBarFeed",
    "bar_time",
    "timeframe_ms",
    "wall_clock_ms",
]


class OhlcvSource(Protocol):
    """Where bars come from over REST (`CcxtVenue` matches it)."""

    async def ohlcv(
        self, symbol: str, timeframe: str, since: int | None = None, limit: int | None = None
    ) -> list[OhlcvRow]: ...


class BarFeed(Protocol):
    """What `AlignedBarFeed` (and the node) needs of a per-symbol feed."""

    symbol: str

    def stop(self) -> None: ...

    def __aiter__(self) -> AsyncIterator[LiveBar]: ...


class PollingBarFeed:
    """Closed bars of one symbol by polling `source.ohlcv` every `poll_seconds`.

    `async for bar in feed` runs until `stop()` (sticky: a stopped feed stays stopped) or `aclose()`.
    One consumer at a time. A venue error in a poll is logged and the poll retried at the next
    wake-up; `staleness_seconds()` shows how long the feed has gone without a successful poll.
    Bars fetched but not yet yielded when iteration ends are kept and come first next time.
    """

    def __init__(
        self,
        source: OhlcvSource,
        symbol: str,
        timeframe: str,
        *,
        since_ms: int | None = None,
        poll_seconds: float = 5.0,
        now_ms: Callable[[], int] = wall_clock_ms,
        limit: int = 500,
        logger: logging.Logger | None = None,
    ) -> None:
        if not symbol:
            raise UserInputError("a bar feed needs a symbol")
        if not poll_seconds > 0:
            raise UserInputError(f"poll_seconds must be > 0, got {poll_seconds}")
        if limit < 2:
            raise UserInputError(f"limit must be >= 2 bars per request, got {limit}")
        self.source = source
        self.symbol = symbol
        self.timeframe = timeframe
        self.poll_seconds = poll_seconds
        self.now_ms = now_ms
        self.limit = limit
        self.log = logger if logger is not None else logging.getLogger(__name__)
        self.gate = BarGate(symbol, timeframe, since_ms, self.log)
        self.last_bar_ms: int | None = None
        self.last_poll_ok_monotonic: float | None = None
        self.last_error: Exception | None = None
        self.venue_seen_ms: int | None = None  # newest open time REST has returned (forming bars included)
        self._started_monotonic: float | None = None
        self._pending: deque[LiveBar] = deque()
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()  # set by stop() and (streaming) by new data

    # ------------------------------------------------------------------ control and health

    def stop(self) -> None:
        """End the iteration at the next wake-up (an in-flight poll is abandoned)."""
        self._stop.set()
        self._wake.set()

    async def close(self) -> None:
        """Stop; subclasses also release what they own (the streaming feed its ccxt.pro client)."""
        self.stop()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def staleness_seconds(self, now_monotonic: float | None = None) -> float | None:
        """Seconds since the last successful poll (since the start if none succeeded); None before the start."""
        ref = self.last_poll_ok_monotonic if self.last_poll_ok_monotonic is not None else self._started_monotonic
        if ref is None:
            return None
        now = time.monotonic() if now_monotonic is None else now_monotonic
        return max(0.0, now - ref)

    # ------------------------------------------------------------------ polling

    async def poll(self) -> int:
        """Fetch every bar closed since the cursor, page by page, into the pending queue; how many came.

        Pages go on while a whole page was closed (the feed is behind); a page whose newest row is
        still forming, or an empty one, means the feed has caught up. Returns -1 after a venue error
        (logged; the bars of the pages before it are kept).
        """
        gate = self.gate
        found = 0
        while True:
            before = gate.cursor_ms
            since = None if not gate.ready else 0 if before is None else before + 1
            try:
                rows = await self.source.ohlcv(self.symbol, self.timeframe, since, self.limit)
            except Exception as exc:  # venue trouble of any kind: the next poll tries again
                self.last_error = exc
                self.log.warning(
                    "%s %s: bar poll failed, retrying in %.3gs: %s: %s",
                    self.symbol, self.timeframe, self.poll_seconds, type(exc).__name__, exc,
                )  # fmt: skip
                return -1
            self._saw(rows)
            if not gate.ready:
                gate.baseline(rows, self.now_ms())
                break
            bars = gate.admit(rows, self.now_ms())
            self._pending.extend(bars)
            found += len(bars)
            if not gate.behind or gate.cursor_ms == before:
                break
        self.last_poll_ok_monotonic = time.monotonic()
        return found

    def _saw(self, rows: Sequence[Sequence[Any]]) -> None:
        stamps = [r[0] for r in rows if r and isinstance(r[0], int)]
        if stamps and (self.venue_seen_ms is None or max(stamps) > self.venue_seen_ms):
            self.venue_seen_ms = max(stamps)

    async def _until_stopped(self, work: Callable[[], Any]) -> Any:
        """Await `work()` unless stop() comes first (then the work is cancelled and None returned)."""
        task = asyncio.ensure_future(work())
        stopper = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait((task, stopper), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (task, stopper):
                if not t.done():
                    t.cancel()
            await asyncio.gather(task, stopper, return_exceptions=True)
        return task.result() if task.done() and not task.cancelled() else None

    async def _sleep(self, seconds: float) -> None:
        """Wait up to `seconds`, ending early on stop() or new data (a wake-up, not a bare sleep)."""
        if seconds > 0 and not self._wake.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), seconds)
        if not self._stop.is_set():
            self._wake.clear()

    def _mark_started(self) -> None:
        if self._started_monotonic is None:
            self._started_monotonic = time.monotonic()

    def __aiter__(self) -> AsyncIterator[LiveBar]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[LiveBar]:
        self._mark_started()
        while not self._stop.is_set():
            if not self._pending:
                await self._until_stopped(self.poll)
            while self._pending and not self._stop.is_set():
                bar = self._pending.popleft()
                self.last_bar_ms = bar.ts_ms
                yield bar
            if not self._stop.is_set():
                await self._sleep(self.poll_seconds)


class AlignedBarFeed:
    """One `dict[symbol, LiveBar]` per timestamp once every symbol has closed that bar, in time order.

    Every dict holds every symbol, because the node appends all symbols' bars of a timestamp
    together (multi-asset backtests need shared timestamps too). Gap rule for a timestamp T that
    some symbols lack while others have it:

    - T is given up at once when each lacking symbol has delivered a later bar: its feed is
      ordered, so it will never bring T (a gap in the venue's data for that symbol);
    - otherwise T is given up when every symbol that has T has moved on by one further bar and
      `patience_seconds` more have passed without the lacking symbols catching up (their feed is
      silent or failing). The wait matters after an outage: feeds then catch up in bursts a few
      polls apart, and giving up on the first burst alone would drop bars that are on their way.

    A given-up timestamp is logged once and its bars are dropped for all symbols; a bar arriving
    after its timestamp was given up is dropped with a warning. The aligned feed ends when any feed
    ends (no complete dict can follow) and re-raises a feed's error.
    """

    def __init__(
        self, feeds: Sequence[BarFeed], *, patience_seconds: float = 30.0, logger: logging.Logger | None = None
    ) -> None:
        symbols = [f.symbol for f in feeds]
        if not symbols:
            raise UserInputError("AlignedBarFeed needs at least one feed")
        if len(set(symbols)) != len(symbols):
            raise UserInputError(f"AlignedBarFeed: one feed per symbol, got {symbols}")
        if patience_seconds < 0:
            raise UserInputError(f"patience_seconds must be >= 0, got {patience_seconds}")
        self.feeds = list(feeds)
        self.symbols = symbols
        self.patience_seconds = patience_seconds
        self.log = logger if logger is not None else logging.getLogger(__name__)
        self.last_ts_ms: int | None = None  # last timestamp yielded or given up
        self._buffers: dict[str, dict[int, LiveBar]] = {s: {} for s in symbols}
        self._latest: dict[str, int] = {}
        self._moved_on_at: dict[int, float] = {}  # T -> when every symbol having T had a later bar

    def stop(self) -> None:
        for feed in self.feeds:
            feed.stop()

    def __aiter__(self) -> AsyncIterator[dict[str, LiveBar]]:
        return self._single() if len(self.feeds) == 1 else self._merged()

    async def _single(self) -> AsyncIterator[dict[str, LiveBar]]:
        symbol = self.symbols[0]
        async for bar in self.feeds[0]:
            self.last_ts_ms = bar.ts_ms
            yield {symbol: bar}

    async def _merged(self) -> AsyncIterator[dict[str, LiveBar]]:
        queue: asyncio.Queue[tuple[str, LiveBar | BaseException | None]] = asyncio.Queue()
        tasks = [asyncio.ensure_future(self._pump(feed, queue)) for feed in self.feeds]
        try:
            while True:
                try:
                    symbol, item = await asyncio.wait_for(queue.get(), self._recheck_in())
                except TimeoutError:
                    item = None
                else:
                    if item is None:
                        self.log.info("aligned feed: the %s feed ended; ending", symbol)
                        return
                    if isinstance(item, BaseException):
                        raise item
                    self._add(symbol, item)
                for aligned in self._complete(time.monotonic()):
                    yield aligned
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _add(self, symbol: str, bar: LiveBar) -> None:
        if self.last_ts_ms is not None and bar.ts_ms <= self.last_ts_ms:
            self.log.warning(
                "aligned feed: late %s bar %s dropped (timestamp already given up)", symbol, bar_time(bar.ts_ms)
            )
            return
        self._buffers[symbol][bar.ts_ms] = bar
        self._latest[symbol] = bar.ts_ms

    def _recheck_in(self) -> float | None:
        """Seconds until the earliest patience deadline, None (wait for a bar) if none is running."""
        if not self._moved_on_at:
            return None
        return max(0.0, min(self._moved_on_at.values()) + self.patience_seconds - time.monotonic())

    def _complete(self, now: float) -> list[dict[str, LiveBar]]:
        """Timestamps now complete or given up, oldest first (see the class docstring for the rule)."""
        out: list[dict[str, LiveBar]] = []
        buffers, latest = self._buffers, self._latest
        while True:
            stamps = [min(b) for b in buffers.values() if b]
            if not stamps:
                return out
            ts = min(stamps)
            have = [s for s in self.symbols if ts in buffers[s]]
            lacking = [s for s in self.symbols if ts not in buffers[s]]
            if lacking:
                if not all(latest.get(s, ts) > ts for s in lacking):
                    if not all(latest[s] > ts for s in have):
                        return out
                    since = self._moved_on_at.setdefault(ts, now)
                    if now - since < self.patience_seconds:
                        return out
                self.log.warning(
                    "aligned feed: bar %s skipped: no bar from %s (dropping the bars of %s)",
                    bar_time(ts), ", ".join(lacking), ", ".join(have),
                )  # fmt: skip
                for s in have:
                    del buffers[s][ts]
            else:
                out.append({s: buffers[s].pop(ts) for s in self.symbols})
            self._moved_on_at.pop(ts, None)
            self.last_ts_ms = ts

    @staticmethod
    async def _pump(feed: BarFeed, queue: asyncio.Queue[tuple[str, LiveBar | BaseException | None]]) -> None:
        try:
            async for bar in feed:
                await queue.put((feed.symbol, bar))
        except Exception as exc:
            await queue.put((feed.symbol, exc))
            return
        await queue.put((feed.symbol, None))
