"""Shared helpers for the live feed tests: a CcxtVenue on the fake venue, sample bars, a scripted source."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterable, Awaitable, Callable, Sequence
from typing import Any, TypeVar

import ccxt

from atb.node.live_feed import LiveBar
from atb.venues.ccxt_venue import CcxtVenue
from fakevenue import FakeVenue, assert_local
from fakevenue.client import local_urls
from fakevenue.klines import INTERVAL_MS, sample_rows

T = TypeVar("T")
BTC, ETH = "BTC/USDT", "ETH/USDT"
POLL = 0.02


def make_venue(fake: FakeVenue, **kwargs: Any) -> CcxtVenue:
    venue = CcxtVenue(
        "binance",
        urls=local_urls(fake, ccxt.binance().urls["api"]),
        config={"rateLimit": 1, "timeout": 2_000, "timeout_on_exit": 0},  # no 250 ms pause in close()
        retry_base=0.01,
        retry_max_delay=0.02,
        **kwargs,
    )
    assert_local(venue.exchange)
    return venue


def run_with_venue(fake: FakeVenue, body: Callable[[CcxtVenue], Awaitable[T]], **kwargs: Any) -> T:
    async def main() -> T:
        venue = make_venue(fake, **kwargs)
        try:
            return await asyncio.wait_for(body(venue), 30)  # a safety net against a hang, not a timing check
        finally:
            await venue.close()

    return asyncio.run(main())


def arun(coro: Awaitable[T]) -> T:
    """Run a test coroutine with a safety net against a hang (not a timing check)."""
    return asyncio.run(asyncio.wait_for(coro, 30))


def ts(i: int, symbol: str = "BTCUSDT") -> int:
    return int(sample_rows(symbol)[i][0])


def expected(symbol: str, market: str, start: int, stop: int) -> list[LiveBar]:
    """The sample rows [start, stop) as the bars a feed must yield."""
    return [
        LiveBar(market, int(r[0]), float(r[1]), float(r[2]), float(r[3]), float(r[4]), float(r[5]))
        for r in sample_rows(symbol)[start:stop]
    ]


async def take(feed: AsyncIterable[T], n: int) -> list[T]:
    """The next `n` items of `feed`, then close the iteration."""
    out: list[T] = []
    async with contextlib.aclosing(aiter(feed)) as it:
        async for item in it:
            out.append(item)
            if len(out) == n:
                break
    return out


async def release(fake: FakeVenue, symbol: str, n: int = 1) -> None:
    await asyncio.to_thread(fake.release_bars, symbol, n)


class ScriptedSource:
    """An OhlcvSource serving fixed rows like Binance pages them (startTime inclusive), with scripted errors."""

    def __init__(
        self, rows: Sequence[Sequence[Any]], errors: Sequence[Exception] = (), ignore_since: bool = False
    ) -> None:
        self.rows = [tuple(r) for r in rows]
        self.errors = list(errors)
        self.ignore_since = ignore_since  # like venues that answer with their latest bars whatever was asked
        self.calls: list[tuple[int | None, int | None]] = []

    async def ohlcv(self, symbol: str, timeframe: str, since: int | None = None, limit: int | None = None) -> Any:
        self.calls.append((since, limit))
        await asyncio.sleep(0)
        if self.errors:
            raise self.errors.pop(0)
        n = limit or 500
        if since is None or self.ignore_since:
            return self.rows[-n:]
        return [r for r in self.rows if r[0] >= since][:n]


T0 = 1_700_000_100_000 - 1_700_000_100_000 % INTERVAL_MS  # an old 5m boundary: every bar is closed by time


def good(i: int, price: float = 100.0) -> tuple[int, float, float, float, float, float]:
    return (T0 + i * INTERVAL_MS, price, price + 2, price - 2, price + 1, 10.0)
