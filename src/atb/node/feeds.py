"""Market-data feeds for the node: async iterables of bar indices into the run's data.

The replay feed plays recorded bars; a live feed (later) will append each closed bar
to the data and yield its index, so the node does not care where bars come from.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Protocol

from atb.data.bars import Bars
from atb.errors import UserInputError

# Yielding to the event loop costs a few microseconds (a task switch), as much as a cheap
# `on_bar`. Every 256 bars keeps replay close to backtest speed while signal handlers, stop
# requests and other tasks still run within well under a millisecond of real time.
YIELD_EVERY = 256


class Feed(Protocol):
    """Where the node gets bars: `async for i in feed` gives the next bar index, in order."""

    def __aiter__(self) -> AsyncIterator[int]: ...


class ReplayFeed:
    """Recorded bars 0..n-1, as fast as possible or paced at `bars_per_second`.

    Unpaced, control returns to the event loop every `yield_every` bars (`asyncio.sleep(0)`), so
    a stop request is seen within that many bars. Paced, bar k is due `k / bars_per_second`
    seconds after the first; the feed sleeps until then (and so yields at every bar that is not
    already late).
    """

    def __init__(
        self, bars: Bars | int, *, bars_per_second: float | None = None, yield_every: int = YIELD_EVERY
    ) -> None:
        self.n = bars if isinstance(bars, int) else len(bars)
        if self.n < 0:
            raise UserInputError("a replay needs a bar count >= 0")
        if bars_per_second is not None and not bars_per_second > 0:
            raise UserInputError(f"bars_per_second must be > 0, got {bars_per_second}")
        if yield_every < 1:
            raise UserInputError(f"yield_every must be >= 1, got {yield_every}")
        self.bars_per_second = bars_per_second
        self.yield_every = yield_every

    def __aiter__(self) -> AsyncIterator[int]:
        if self.bars_per_second is None:
            return self._fast()
        return self._paced(self.bars_per_second)

    async def _fast(self) -> AsyncIterator[int]:
        every = self.yield_every
        for i in range(self.n):
            if i % every == 0:
                await asyncio.sleep(0)
            yield i

    async def _paced(self, rate: float) -> AsyncIterator[int]:
        start = time.monotonic()
        for i in range(self.n):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            elif i % self.yield_every == 0:
                await asyncio.sleep(0)
            yield i
