"""PollingBarFeed against the fake Binance venue through the real CcxtVenue, and against scripted sources.

The venue runs in live mode (`FakeVenue.live_klines` / `release_bars`): its klines grow one closed
sample bar at a time, so every bar the feed yields can be checked against the sample row it came from.
pytest-asyncio is not installed, so each test runs its coroutine with `asyncio.run`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from decimal import Decimal
from typing import Any

import pytest

from atb.errors import UserInputError
from atb.node.live_feed import AlignedBarFeed, LiveBar, PollingBarFeed, bar_time
from atb.venues.ccxt_venue import CcxtVenue
from fakevenue import FakeVenue, faults
from fakevenue.klines import INTERVAL_MS, sample_rows

from .feed_helpers import (
    BTC,
    POLL,
    T0,
    ScriptedSource,
    arun,
    expected,
    good,
    release,
    run_with_venue,
    take,
    ts,
)


def test_bars_arrive_in_order_without_duplicates_across_many_polls(fake_venue: FakeVenue) -> None:
    fake_venue.live_klines("BTCUSDT", 50)
    bursts = [1, 3, 1, 1, 5, 2, 1, 4, 1, 1, 6, 2, 3, 1, 8]  # 40 bars, released while the feed polls

    async def body(venue: CcxtVenue) -> list[LiveBar]:
        feed = PollingBarFeed(venue, BTC, "5m", since_ms=ts(49), poll_seconds=POLL)

        async def producer() -> None:
            for k, n in enumerate(bursts):
                await asyncio.sleep(0.01 * (1 + k % 4))
                await release(fake_venue, "BTCUSDT", n)

        task = asyncio.ensure_future(producer())
        bars = await take(feed, sum(bursts))
        await task
        assert feed.last_bar_ms == ts(89)
        return bars

    bars = run_with_venue(fake_venue, body)
    assert bars == expected("BTCUSDT", BTC, 50, 90)
    polls = fake_venue.calls("klines")
    assert len(polls) >= 10  # the feed really polled between releases
    # every poll after the first asks from just after the last bar it had: never a bar twice
    assert all(int(p.params["startTime"]) > ts(48) for p in polls)
    assert fake_venue.book.prices["BTCUSDT"] == Decimal(sample_rows("BTCUSDT")[89][4])


def test_missed_bars_are_paged_from_the_last_bar_with_since(fake_venue: FakeVenue) -> None:
    fake_venue.live_klines("BTCUSDT", 100)

    async def body(venue: CcxtVenue) -> list[LiveBar]:
        feed = PollingBarFeed(venue, BTC, "5m", since_ms=ts(99), poll_seconds=POLL, limit=1000)
        await release(fake_venue, "BTCUSDT", 1200)  # more than one page while nobody polled
        return await take(feed, 1200)

    bars = run_with_venue(fake_venue, body)
    assert bars == expected("BTCUSDT", BTC, 100, 1300)
    starts = [int(p.params["startTime"]) for p in fake_venue.calls("klines")]
    assert starts[:3] == [ts(99) + 1, ts(1099) + 1, ts(1299) + 1]  # page 1, page 2 from its last bar, caught up
    assert {p.params["limit"] for p in fake_venue.calls("klines")} == {"1000"}


def test_without_since_the_feed_starts_after_the_latest_closed_bar(fake_venue: FakeVenue) -> None:
    fake_venue.live_klines("BTCUSDT", 300)

    async def body(venue: CcxtVenue) -> list[LiveBar]:
        feed = PollingBarFeed(venue, BTC, "5m", poll_seconds=POLL)
        task = asyncio.ensure_future(take(feed, 2))
        while not fake_venue.calls("klines"):
            await asyncio.sleep(POLL)
        await release(fake_venue, "BTCUSDT", 2)
        return await task

    assert run_with_venue(fake_venue, body) == expected("BTCUSDT", BTC, 300, 302)


def test_a_gap_in_the_venue_data_is_logged_and_the_bars_still_come_in_order(
    fake_venue: FakeVenue, caplog: pytest.LogCaptureFixture
) -> None:
    gap = 10104  # the sample has no bars for 2.5 hours before this row
    assert ts(gap) - ts(gap - 1) == 31 * INTERVAL_MS
    fake_venue.live_klines("BTCUSDT", gap - 3)

    async def body(venue: CcxtVenue) -> list[LiveBar]:
        feed = PollingBarFeed(venue, BTC, "5m", since_ms=ts(gap - 4), poll_seconds=POLL)
        await release(fake_venue, "BTCUSDT", 6)
        return await take(feed, 6)

    with caplog.at_level(logging.WARNING, logger="atb.node"):
        bars = run_with_venue(fake_venue, body)
    assert bars == expected("BTCUSDT", BTC, gap - 3, gap + 3)
    [gap_log] = [r.getMessage() for r in caplog.records if "no bars" in r.getMessage()]
    assert f"from {bar_time(ts(gap - 1) + INTERVAL_MS)} to {bar_time(ts(gap) - INTERVAL_MS)} (30 missing)" in gap_log


def test_invalid_rows_are_skipped_with_one_warning_each(caplog: pytest.LogCaptureFixture) -> None:
    rows = [
        good(0),
        (T0 + 1 * INTERVAL_MS, 100.0, 102.0, 98.0, math.nan, 10.0),
        (T0 + 2 * INTERVAL_MS, 100.0, 97.0, 98.0, 99.0, 10.0),  # high below low
        good(3),
        (T0 + 4 * INTERVAL_MS, 100.0, 101.0, 99.0, 103.0, 10.0),  # close above high
        (T0 + 5 * INTERVAL_MS, -1.0, 102.0, -2.0, 101.0, 10.0),
        (T0 + 6 * INTERVAL_MS, 100.0, 102.0, 98.0, None, 10.0),
        good(7),
    ]
    source = ScriptedSource(rows)

    async def body() -> list[LiveBar]:
        feed = PollingBarFeed(source, "X/USDT", "5m", since_ms=T0 - INTERVAL_MS, poll_seconds=POLL)
        async with contextlib.aclosing(aiter(feed)) as it:
            bars = [await anext(it) for _ in range(3)]
            for _ in range(3):  # more polls over the same rows: no new bar, no repeated warning
                await feed.poll()
        return bars

    with caplog.at_level(logging.WARNING, logger="atb.node"):
        bars = arun(body())
    assert [b.ts_ms for b in bars] == [T0, T0 + 3 * INTERVAL_MS, T0 + 7 * INTERVAL_MS]
    assert bars[0] == LiveBar("X/USDT", T0, 100.0, 102.0, 98.0, 101.0, 10.0)
    warnings = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(warnings) == 5
    for i, reason in [(1, "non-finite"), (2, "high 97.0 below low 98.0"), (4, "do not contain"), (5, "non-positive")]:
        [line] = [w for w in warnings if bar_time(T0 + i * INTERVAL_MS) in w]
        assert reason in line and "X/USDT 5m bar" in line
    assert any(bar_time(T0 + 6 * INTERVAL_MS) in w and "non-numeric" in w for w in warnings)


def test_the_forming_bar_is_held_until_its_close_time_passes() -> None:
    now = {"ms": T0 + 2 * INTERVAL_MS + 1}  # bar 2 is forming
    source = ScriptedSource([good(0), good(1), good(2)])

    async def body() -> list[LiveBar]:
        feed = PollingBarFeed(
            source, "X/USDT", "5m", since_ms=T0 - INTERVAL_MS, poll_seconds=POLL, now_ms=lambda: now["ms"]
        )
        async with contextlib.aclosing(aiter(feed)) as it:
            bars = [await anext(it), await anext(it)]
            await feed.poll()
            assert not feed._pending  # bar 2 still forming
            now["ms"] = T0 + 3 * INTERVAL_MS
            bars.append(await anext(it))
        return bars

    assert [b.ts_ms for b in arun(body())] == [T0, T0 + INTERVAL_MS, T0 + 2 * INTERVAL_MS]


def test_overlapping_answers_never_give_a_bar_twice() -> None:
    source = ScriptedSource([good(i) for i in range(3)], ignore_since=True)  # every answer repeats all bars

    async def body() -> list[LiveBar]:
        feed = PollingBarFeed(source, "X/USDT", "5m", since_ms=T0 - INTERVAL_MS, poll_seconds=POLL)
        got: list[LiveBar] = []

        async def consume() -> None:
            async for bar in feed:
                got.append(bar)
                if len(got) == 3:
                    source.rows += [good(3), good(4)]

        task = asyncio.ensure_future(consume())
        while len(source.calls) < 20:
            await asyncio.sleep(POLL)
        feed.stop()
        await task
        return got

    assert [b.ts_ms for b in arun(body())] == [T0 + i * INTERVAL_MS for i in range(5)]


def test_a_venue_5xx_during_a_poll_is_logged_and_survived(
    fake_venue: FakeVenue, caplog: pytest.LogCaptureFixture
) -> None:
    fake_venue.live_klines("BTCUSDT", 100)

    async def body(venue: CcxtVenue) -> tuple[list[LiveBar], PollingBarFeed]:
        feed = PollingBarFeed(venue, BTC, "5m", since_ms=ts(99), poll_seconds=POLL)
        async with contextlib.aclosing(aiter(feed)) as it:
            await release(fake_venue, "BTCUSDT", 2)
            bars = [await anext(it), await anext(it)]
            ok_before = feed.last_poll_ok_monotonic
            # more failures than the venue's own retries: the poll fails, the feed goes on
            fake_venue.faults.next("klines", faults.status(503), times=3)
            fake_venue.faults.next("klines", faults.status(500), times=3)
            await release(fake_venue, "BTCUSDT", 3)
            bars += [await anext(it) for _ in range(3)]
            assert feed.last_poll_ok_monotonic is not None and ok_before is not None
            assert feed.last_poll_ok_monotonic > ok_before
        return bars, feed

    with caplog.at_level(logging.WARNING, logger="atb.node.live_feed"):
        bars, feed = run_with_venue(fake_venue, body, retry_attempts=3)
    assert bars == expected("BTCUSDT", BTC, 100, 105)
    assert fake_venue.faults.pending() == 0
    failures = [r.getMessage() for r in caplog.records if "bar poll failed" in r.getMessage()]
    assert len(failures) == 2
    assert "ExchangeNotAvailable" in failures[0] and "OperationFailed" in failures[1]
    assert type(feed.last_error).__name__ == "OperationFailed"
    ok = feed.last_poll_ok_monotonic
    assert ok is not None and feed.staleness_seconds(now_monotonic=ok + 7.5) == 7.5


def test_stop_ends_the_iteration_at_the_next_wake_up_and_aclose_works() -> None:
    class Blocking:
        """A source whose second call never answers: stop() must not wait for it."""

        def __init__(self) -> None:
            self.calls = 0

        async def ohlcv(self, symbol: str, timeframe: str, since: int | None = None, limit: int | None = None) -> Any:
            self.calls += 1
            if self.calls > 1:
                await asyncio.Event().wait()
            return [good(0), good(1)]

    async def body() -> None:
        # a poll interval of an hour: only the stop wake-up can end this iteration
        sleeping = PollingBarFeed(
            ScriptedSource([good(0)]), "X/USDT", "5m", since_ms=T0 - INTERVAL_MS, poll_seconds=3600
        )
        blocking = Blocking()
        bar_1_forming = T0 + INTERVAL_MS + 1
        polling = PollingBarFeed(
            blocking, "X/USDT", "5m", since_ms=T0 - INTERVAL_MS, poll_seconds=POLL, now_ms=lambda: bar_1_forming
        )
        got: list[LiveBar] = []

        async def consume(feed: PollingBarFeed) -> None:
            async for bar in feed:
                got.append(bar)

        tasks = [asyncio.ensure_future(consume(f)) for f in (sleeping, polling)]
        while len(got) < 2 or blocking.calls < 2:  # one sleeping an hour, one inside a poll that never ends
            await asyncio.sleep(POLL)
        sleeping.stop()
        polling.stop()
        await asyncio.wait_for(asyncio.gather(*tasks), 10)  # ends, instead of waiting an hour or forever
        assert sleeping.stopped and [b.ts_ms for b in got] == [T0, T0]
        assert [b async for b in sleeping] == []  # stop is sticky

        feed = PollingBarFeed(
            ScriptedSource([good(0), good(1)]), "X/USDT", "5m", since_ms=T0 - INTERVAL_MS, poll_seconds=3600
        )
        it = aiter(feed)
        assert (await anext(it)).ts_ms == T0
        await it.aclose()  # type: ignore[attr-defined]
        with pytest.raises(StopAsyncIteration):
            await anext(it)
        # the bar fetched but not yet delivered is kept for the next iteration
        assert [b.ts_ms for b in await take(feed, 1)] == [T0 + INTERVAL_MS]

    arun(body())


def test_bad_settings_are_refused() -> None:
    source = ScriptedSource([])
    with pytest.raises(UserInputError, match="poll_seconds"):
        PollingBarFeed(source, BTC, "5m", poll_seconds=0)
    with pytest.raises(UserInputError, match="limit"):
        PollingBarFeed(source, BTC, "5m", limit=1)
    with pytest.raises(UserInputError, match="invalid timeframe"):
        PollingBarFeed(source, BTC, "5M")
    with pytest.raises(UserInputError, match="one feed per symbol"):
        AlignedBarFeed([PollingBarFeed(source, BTC, "5m"), PollingBarFeed(source, BTC, "5m")])
