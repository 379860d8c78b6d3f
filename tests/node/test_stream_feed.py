"""StreamingBarFeed against the fake venue's websocket through the real, unmodified ccxt.pro client.

The venue's clock for "has this bar closed" is the sample's own time (`VenueClock`): right after bar k
is released it reads k's close time, as a live venue's clock would. So a released bar is closed, and
the newest one waits for a newer candle or for its grace period, exactly as on a live market.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable
from typing import Any

import pytest

from atb.errors import MissingExtraError, UserInputError
from atb.node.live_feed import LiveBar, PollingBarFeed
from atb.node.stream_feed import ExchangeOhlcv, StreamingBarFeed, bar_feed, pro_exchange
from atb.venues.breaker import CircuitBreaker
from atb.venues.ccxt_venue import CcxtVenue
from fakevenue import FakeVenue, faults
from fakevenue.klines import INTERVAL_MS, kline_event, sample_rows
from fakevenue.ws import make_pro_client

from .feed_helpers import BTC, POLL, expected, make_venue, release, ts

STREAM = "btcusdt@kline_5m"
GRACE = 3600.0  # sample-time seconds, more than the bars a test releases: only the test moving the clock passes it


class VenueClock:
    """The venue's 'now' in sample time, moved by the test."""

    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


class Collector:
    """Consumes a feed in a task, so the test can drive the venue meanwhile."""

    def __init__(self, feed: PollingBarFeed) -> None:
        self.feed = feed
        self.bars: list[LiveBar] = []
        self.task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        async for bar in self.feed:
            self.bars.append(bar)

    async def until(self, check: Callable[[], bool]) -> None:
        while not check():
            if self.task.done():
                self.task.result()  # a feed that died: show why
                raise AssertionError("the feed ended")
            await asyncio.sleep(0.005)

    async def count(self, n: int) -> None:
        await self.until(lambda: len(self.bars) >= n)

    async def finish(self) -> None:
        self.feed.stop()
        await self.task


async def step(fake: FakeVenue, clock: VenueClock, k: int) -> None:
    """Release sample bar k (REST and websocket); the venue's clock moves to its close."""
    await release(fake, "BTCUSDT")
    clock.ms = ts(k) + INTERVAL_MS


def run(fake: FakeVenue, body: Callable[[Any, CcxtVenue], Any], **venue_kwargs: Any) -> Any:
    async def main() -> Any:
        pro, venue = make_pro_client(fake, timeout_on_exit=0), make_venue(fake, **venue_kwargs)
        try:
            return await asyncio.wait_for(body(pro, venue), 30)  # a safety net against a hang, not a timing check
        finally:
            await pro.close()
            await venue.close()

    return asyncio.run(main())


def test_bars_arrive_over_the_websocket(fake_venue: FakeVenue) -> None:
    fake_venue.live_klines("BTCUSDT", 100)
    clock = VenueClock(ts(99) + INTERVAL_MS)

    async def body(pro: Any, venue: CcxtVenue) -> tuple[StreamingBarFeed, list[LiveBar], int]:
        # no since_ms: the feed starts after the venue's latest closed bar; REST through the pro client itself
        feed = StreamingBarFeed(pro, BTC, "5m", poll_seconds=POLL, now_ms=clock, close_grace_seconds=GRACE)
        assert isinstance(feed.source, ExchangeOhlcv)
        got = Collector(feed)
        # the REST baseline done (before any release: bars the baseline sees are history) and the stream subscribed
        await got.until(lambda: feed.gate.ready and fake_venue.stream.subscribers(STREAM) == 1)
        rest_calls = len(fake_venue.calls("klines"))
        for k in range(100, 120):
            await step(fake_venue, clock, k)
            await got.count(k - 100)  # bar k-1 is closed by bar k's candle
        rest_while_streaming = len(fake_venue.calls("klines")) - rest_calls
        assert [b.ts_ms for b in got.bars] == [ts(k) for k in range(100, 119)]
        clock.ms += int(GRACE * 1000)  # nothing newer than bar 119: REST brings it after the grace
        await got.count(20)
        await got.finish()
        return feed, got.bars, rest_while_streaming

    feed, bars, rest_while_streaming = run(fake_venue, body)
    assert bars == expected("BTCUSDT", BTC, 100, 120)
    assert feed.streamed_bars == 19 and rest_while_streaming == 0
    assert fake_venue.stream.subscribe_requests[0]["params"] == [STREAM]
    assert feed.reconnects == 0 and feed.last_bar_ms == ts(119)


@pytest.mark.parametrize("abrupt", [False, True], ids=["close-frame", "dropped"])
def test_a_disconnect_mid_stream_loses_and_repeats_no_bar(
    fake_venue: FakeVenue, abrupt: bool, caplog: pytest.LogCaptureFixture
) -> None:
    fake_venue.live_klines("BTCUSDT", 100)
    clock = VenueClock(ts(99) + INTERVAL_MS)

    async def body(pro: Any, venue: CcxtVenue) -> tuple[StreamingBarFeed, list[LiveBar], int]:
        feed = StreamingBarFeed(
            pro, BTC, "5m", rest=venue, since_ms=ts(99), poll_seconds=POLL, now_ms=clock,
            close_grace_seconds=GRACE, reconnect_base=0.5,
        )  # fmt: skip
        got = Collector(feed)
        # the first REST poll done (it would fetch released bars itself) and the stream subscribed
        await got.until(lambda: feed.last_poll_ok_monotonic is not None and fake_venue.stream.subscribers(STREAM) == 1)
        for k in range(100, 105):
            await step(fake_venue, clock, k)
        await got.count(4)  # 100..103; 104 waits for a newer candle
        # a forming candle of bar 105 with made-up values: it closes 104 but must never be taken as 105
        row = list(sample_rows("BTCUSDT")[105])
        row[2] = row[3] = row[4] = row[1]
        fake_venue.stream.publish(STREAM, kline_event(row, "BTCUSDT", closed=False, event_ms=clock.ms))
        await got.count(5)
        assert fake_venue.stream.disconnect(abrupt=abrupt) == 1
        await got.until(lambda: feed.reconnects == 1)
        for k in range(105, 108):  # closed while the stream is down: REST brings them
            await step(fake_venue, clock, k)
        await got.count(8)
        await got.until(lambda: fake_venue.stream.subscribers(STREAM) == 1)  # reconnected
        streamed = feed.streamed_bars
        for k in range(108, 112):
            await step(fake_venue, clock, k)
        await got.count(11)
        await got.finish()
        return feed, got.bars, feed.streamed_bars - streamed

    with caplog.at_level(logging.WARNING, logger="atb.node"):
        feed, bars, streamed_after_reconnect = run(fake_venue, body)
    assert bars == expected("BTCUSDT", BTC, 100, 111)  # none lost, none twice, 105 with its real values
    assert streamed_after_reconnect == 3 and feed.streamed_bars == 8  # 100..104, then 108..110
    assert feed.reconnects == 1 and fake_venue.stream.connects == 2
    [failure] = [r.getMessage() for r in caplog.records if "stream failed" in r.getMessage()]
    assert "NetworkError" in failure and ("1001" in failure or abrupt)


def test_a_candle_left_half_updated_by_a_dropped_connection_is_never_taken(fake_venue: FakeVenue) -> None:
    """The dangerous order: 105 forming on the old connection, REST failing, 106 first on the new one."""
    fake_venue.live_klines("BTCUSDT", 100)
    clock = VenueClock(ts(99) + INTERVAL_MS)

    async def body(pro: Any, venue: CcxtVenue) -> list[LiveBar]:
        feed = StreamingBarFeed(
            pro, BTC, "5m", rest=venue, since_ms=ts(99), poll_seconds=POLL, now_ms=clock,
            close_grace_seconds=GRACE, reconnect_base=0.3,
        )  # fmt: skip
        got = Collector(feed)
        await got.until(lambda: feed.last_poll_ok_monotonic is not None and fake_venue.stream.subscribers(STREAM) == 1)
        for k in range(100, 105):
            await step(fake_venue, clock, k)
        row = list(sample_rows("BTCUSDT")[105])
        row[2] = row[3] = row[4] = row[1]
        fake_venue.stream.publish(STREAM, kline_event(row, "BTCUSDT", closed=False, event_ms=clock.ms))
        await got.count(5)
        fake_venue.faults.next("klines", faults.status(503), times=100_000)  # REST down as well
        fake_venue.stream.disconnect(abrupt=True)
        await got.until(lambda: feed.reconnects == 1)
        await step(fake_venue, clock, 105)  # closes while nobody streams and REST fails
        await got.until(lambda: fake_venue.stream.subscribers(STREAM) == 1)
        streamed_at = feed.last_poll_ok_monotonic
        await step(fake_venue, clock, 106)  # the new connection's first candle
        await got.until(lambda: feed.last_poll_ok_monotonic != streamed_at)  # the feed has it
        failing = fake_venue.faults.pending()
        await got.until(lambda: fake_venue.faults.pending() < failing - 2)  # and went on asking REST
        assert len(got.bars) == 5 and feed.streamed_bars == 5  # 105 not taken from the old forming candle
        fake_venue.faults.clear()
        await got.count(7)
        await got.finish()
        return got.bars

    # the venue's breaker opens on the failing REST calls; a short open time lets the test end soon after
    breaker = CircuitBreaker("binance", open_seconds=0.05)
    assert run(fake_venue, body, breaker=breaker) == expected("BTCUSDT", BTC, 100, 107)


def test_bar_feed_streams_only_when_the_client_can_watch_ohlcv(fake_venue: FakeVenue) -> None:
    async def body(pro: Any, venue: CcxtVenue) -> None:
        streaming = bar_feed(pro, BTC, "5m", rest=venue, poll_seconds=POLL)
        assert isinstance(streaming, StreamingBarFeed) and streaming.source is venue
        assert isinstance(bar_feed(pro, BTC, "5m").source, ExchangeOhlcv)
        polling = bar_feed(pro, BTC, "5m", stream=False, rest=venue)
        assert type(polling) is PollingBarFeed and polling.source is venue
        from_venue = bar_feed(venue, BTC, "5m", since_ms=ts(9), limit=1000)  # async_support: no watchOHLCV
        assert type(from_venue) is PollingBarFeed and from_venue.source is venue
        assert (from_venue.gate.cursor_ms, from_venue.limit) == (ts(9), 1000)
        with pytest.raises(UserInputError, match="cannot stream"):
            bar_feed(venue, BTC, "5m", stream=True)
        pro.newUpdates = False
        with pytest.raises(UserInputError, match="newUpdates"):
            StreamingBarFeed(pro, BTC, "5m")

    run(fake_venue, body)


def test_streaming_without_ccxt_pro_names_the_extra(monkeypatch: pytest.MonkeyPatch, fake_venue: FakeVenue) -> None:
    monkeypatch.setitem(sys.modules, "ccxt.pro", None)  # as if ccxt.pro were not installed
    with pytest.raises(MissingExtraError, match=r"pip install 'atb\[live\]'"):
        pro_exchange("binance")
    with pytest.raises(MissingExtraError, match="streaming market data"):
        StreamingBarFeed("binance", BTC, "5m")

    async def body() -> None:
        venue = make_venue(fake_venue)
        try:
            with pytest.raises(MissingExtraError):
                bar_feed(venue, BTC, "5m", stream=True)
        finally:
            await venue.close()

    asyncio.run(body())
