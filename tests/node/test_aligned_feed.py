"""AlignedBarFeed: one dict per timestamp across symbols, and its rule for a bar one symbol lacks."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest

from atb.node.live_feed import AlignedBarFeed, LiveBar, PollingBarFeed, bar_time
from atb.venues.ccxt_venue import CcxtVenue
from fakevenue import FakeVenue
from fakevenue.klines import INTERVAL_MS

from .feed_helpers import BTC, ETH, POLL, T0, ScriptedSource, arun, expected, good, release, run_with_venue, take, ts


def test_aligned_feed_gives_one_dict_per_timestamp_from_the_venue(fake_venue: FakeVenue) -> None:
    for symbol in ("BTCUSDT", "ETHUSDT"):
        fake_venue.live_klines(symbol, 200)

    async def body(venue: CcxtVenue) -> list[dict[str, LiveBar]]:
        feeds = [PollingBarFeed(venue, m, "5m", since_ms=ts(199), poll_seconds=POLL) for m in (BTC, ETH)]
        aligned = AlignedBarFeed(feeds)

        async def producer() -> None:  # the two symbols' bars close at different moments
            for n_btc, n_eth in [(3, 0), (0, 1), (1, 4), (2, 0), (0, 1)]:
                if n_btc:
                    await release(fake_venue, "BTCUSDT", n_btc)
                await asyncio.sleep(0.03)
                if n_eth:
                    await release(fake_venue, "ETHUSDT", n_eth)

        task = asyncio.ensure_future(producer())
        out = await take(aligned, 6)
        await task
        return out

    out = run_with_venue(fake_venue, body)
    btc, eth = expected("BTCUSDT", BTC, 200, 206), expected("ETHUSDT", ETH, 200, 206)
    assert out == [{BTC: b, ETH: e} for b, e in zip(btc, eth, strict=True)]


def test_aligned_feed_skips_a_timestamp_one_symbol_lacks(caplog: pytest.LogCaptureFixture) -> None:
    a = ScriptedSource([good(i, 100.0) for i in range(6)])
    b = ScriptedSource([good(i, 50.0) for i in range(6) if i != 2])  # the venue has no bar 2 for B

    async def body() -> list[dict[str, LiveBar]]:
        feeds = [
            PollingBarFeed(s, m, "5m", since_ms=T0 - INTERVAL_MS, poll_seconds=POLL) for s, m in ((a, "A"), (b, "B"))
        ]
        return await take(AlignedBarFeed(feeds, patience_seconds=3600), 5)

    with caplog.at_level(logging.WARNING, logger="atb.node"):
        out = arun(body())
    assert [d["A"].ts_ms for d in out] == [T0 + i * INTERVAL_MS for i in (0, 1, 3, 4, 5)]
    assert all(d["B"].ts_ms == d["A"].ts_ms and d["B"].open == 50.0 for d in out)
    [skip] = [r.getMessage() for r in caplog.records if "aligned feed" in r.getMessage()]
    assert f"bar {bar_time(T0 + 2 * INTERVAL_MS)} skipped: no bar from B" in skip


def test_aligned_feed_gives_up_on_a_silent_symbol_after_patience(caplog: pytest.LogCaptureFixture) -> None:
    a = ScriptedSource([good(i, 100.0) for i in range(5)])
    b = ScriptedSource([good(i, 50.0) for i in range(2)])  # B's venue is stuck after bar 1

    async def body() -> list[dict[str, LiveBar]]:
        feeds = [
            PollingBarFeed(s, m, "5m", since_ms=T0 - INTERVAL_MS, poll_seconds=POLL) for s, m in ((a, "A"), (b, "B"))
        ]
        aligned = AlignedBarFeed(feeds, patience_seconds=0.05)
        async with contextlib.aclosing(aiter(aligned)) as it:
            out = [await anext(it), await anext(it)]
            third = asyncio.ensure_future(anext(it))
            while aligned.last_ts_ms != T0 + 3 * INTERVAL_MS:  # bars 2 and 3 given up; 4 is A's newest
                await asyncio.sleep(POLL)
            b.rows = [good(i, 50.0) for i in range(6)]  # B recovers: its bars 2, 3 are late now
            a.rows.append(good(5, 100.0))
            out += [await third, await anext(it)]
        return out

    with caplog.at_level(logging.WARNING, logger="atb.node"):
        out = arun(body())
    assert [sorted(d) for d in out] == [["A", "B"]] * 4
    assert [d["A"].ts_ms for d in out] == [T0 + i * INTERVAL_MS for i in (0, 1, 4, 5)]
    messages = [r.getMessage() for r in caplog.records if "aligned feed" in r.getMessage()]
    assert sum("skipped: no bar from B" in m for m in messages) == 2
    assert sum("late B bar" in m for m in messages) == 2


def test_single_symbol_aligned_feed_passes_bars_through() -> None:
    feed = PollingBarFeed(ScriptedSource([good(0), good(1)]), "A", "5m", since_ms=T0 - INTERVAL_MS, poll_seconds=POLL)
    aligned = AlignedBarFeed([feed])
    out = arun(take(aligned, 2))
    assert [d["A"].ts_ms for d in out] == [T0, T0 + INTERVAL_MS] and aligned.last_ts_ms == T0 + INTERVAL_MS
