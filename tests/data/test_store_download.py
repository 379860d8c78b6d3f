"""OhlcvStore and the ccxt downloader, against the fake Binance venue serving the bundled 5m sample."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from atb.data import load_ohlcv, load_sample
from atb.data.bars import Bars
from atb.data.download import download
from atb.data.store import OhlcvStore
from atb.errors import DataValidationError, UserInputError

TF = "5m"
TF_MS = 300_000
EX = "binance"
SYMBOL = "BTC/USDT"


@pytest.fixture(scope="module")
def sample() -> Bars:
    return load_sample("BTC_USDT_5m").bars


@pytest.fixture
def client(fake_venue: Any) -> Iterator[Any]:
    from fakevenue import make_client

    yield make_client(fake_venue)


def first_ms(sample: Bars) -> int:
    return int(sample.ts[0]) // 1_000_000


def window(sample: Bars, start_ms: int, end_ms: int) -> Bars:
    ms = sample.ts // 1_000_000
    lo, hi = np.searchsorted(ms, [start_ms, end_ms], side="left")
    return sample.slice(int(lo), int(hi))


def klines(venue: Any) -> int:
    return len(venue.calls("klines"))


def assert_same_bars(got: Bars, want: Bars) -> None:
    np.testing.assert_array_equal(got.ts, want.ts)
    for c in ("open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(getattr(got, c), getattr(want, c), err_msg=c)


# ---------------------------------------------------------------- download


def test_download_window_matches_sample_and_reports_real_gap(
    fake_venue: Any, client: Any, sample: Bars, tmp_path: Path
) -> None:
    store = OhlcvStore(tmp_path)
    since = first_ms(sample)
    # 10,300 bar slots from the sample's first bar: ends after its first real gap (30 bars
    # missing after 2021-04-20 02:35 UTC), so the window holds 10,270 bars
    until = since + 10_300 * TF_MS
    want = window(sample, since, until)
    assert len(want) == 10_270
    calls: list[tuple[str, int, int]] = []

    [res] = download(client, store, EX, [SYMBOL], TF, since, until, limit=1000, progress=lambda *a: calls.append(a))

    assert res.rows_added == 10_270
    assert (res.first, res.last) == (int(want.ts[0]), int(want.ts[-1]))
    assert res.gaps.count == 1 and res.gaps.missing_bars == 30
    gap_before = 1618883700000 * 1_000_000
    assert res.gaps.gaps == [(gap_before, gap_before + 31 * TF_MS * 1_000_000)]
    assert res.requests == klines(fake_venue) == 11  # ceil(10,270 / 1000): no extra request at the end
    assert calls[-1] == (SYMBOL, until - since, until - since)
    assert all(a[1] <= b[1] for a, b in itertools.pairwise(calls))

    loaded = store.load(EX, SYMBOL, TF)
    assert_same_bars(loaded.bars, want)
    assert loaded.bars.symbol == SYMBOL and loaded.bars.timeframe_ns == TF_MS * 1_000_000
    assert loaded.report.gaps.missing_bars == 30  # stored as fetched: the gap is not filled
    # the file is an ordinary OHLCV file, read by the loader like a bundled sample
    path = tmp_path / EX / "BTC_USDT" / "5m.parquet"
    assert path.is_file()
    assert_same_bars(load_ohlcv(path).bars, want)
    assert store.last_timestamp(EX, SYMBOL, TF) == int(want.ts[-1])

    [info] = store.list()
    assert (info.exchange, info.symbol, info.timeframe, info.rows) == (EX, SYMBOL, TF, 10_270)
    assert (info.first, info.last) == (int(want.ts[0]), int(want.ts[-1]))
    assert info.gaps.count == 1 and info.gaps.missing_bars == 30


def test_rerun_downloads_nothing_new(fake_venue: Any, client: Any, sample: Bars, tmp_path: Path) -> None:
    store = OhlcvStore(tmp_path)
    since = first_ms(sample)
    until = since + 3_000 * TF_MS
    download(client, store, EX, [SYMBOL], TF, since, until)
    before = klines(fake_venue)
    path = tmp_path / EX / "BTC_USDT" / "5m.parquet"
    mtime = path.stat().st_mtime_ns

    [res] = download(client, store, EX, [SYMBOL], TF, since, until)

    assert res.rows_added == 0 and res.first is None and res.gaps.count == 0
    assert res.requests == 0 and klines(fake_venue) == before  # the window is already stored
    assert path.stat().st_mtime_ns == mtime
    assert store.list()[0].rows == 3_000


def test_open_ended_download_stops_at_the_end_then_asks_once(
    fake_venue: Any, client: Any, sample: Bars, tmp_path: Path
) -> None:
    store = OhlcvStore(tmp_path)
    since = first_ms(sample)

    [res] = download(client, store, EX, [SYMBOL], TF, since)

    assert res.rows_added == len(sample) == 25_967
    assert res.gaps.count == 2 and res.gaps.missing_bars == 86  # the sample's own gaps, reported
    assert res.requests == 27  # 26 pages, then one empty page: nothing newer
    assert_same_bars(store.load(EX, SYMBOL, TF).bars, sample)

    [again] = download(client, store, EX, [SYMBOL], TF, since)
    assert again.rows_added == 0 and again.requests == 1
    assert klines(fake_venue) == 28
    # resumed after the last stored bar, not from `since`
    assert fake_venue.calls("klines")[-1].params["startTime"] == str(int(sample.ts[-1]) // 1_000_000 + TF_MS)


def test_extended_window_continues_where_it_stopped(fake_venue: Any, client: Any, sample: Bars, tmp_path: Path) -> None:
    store = OhlcvStore(tmp_path)
    since = first_ms(sample)
    cut = since + 2_500 * TF_MS
    until = since + 10_300 * TF_MS
    [a] = download(client, store, EX, [SYMBOL], TF, since, cut)
    assert a.rows_added == 2_500 and a.requests == 3

    [b] = download(client, store, EX, [SYMBOL], TF, since, until)

    assert b.rows_added == 10_270 - 2_500
    assert b.first == (cut * 1_000_000)  # the first bar after the stored ones, nothing fetched twice
    assert b.requests == 8  # ceil(7,770 / 1000)
    assert fake_venue.calls("klines")[3].params["startTime"] == str(cut)
    assert b.gaps.missing_bars == 30
    assert_same_bars(store.load(EX, SYMBOL, TF).bars, window(sample, since, until))


def test_failed_page_keeps_earlier_pages_and_resume_continues(
    fake_venue: Any, client: Any, sample: Bars, tmp_path: Path
) -> None:
    from fakevenue import faults

    store = OhlcvStore(tmp_path)
    since = first_ms(sample)
    until = since + 5_000 * TF_MS

    def fail_third_page(symbol: str, done: int, total: int) -> None:
        if klines(fake_venue) == 2:
            fake_venue.faults.next("klines", faults.status(500))

    with pytest.raises(Exception) as err:
        download(client, store, EX, [SYMBOL], TF, since, until, progress=fail_third_page)
    assert not isinstance(err.value, UserInputError)  # an exchange error, passed on to the caller's retry
    assert store.list()[0].rows == 2_000  # the two validated pages were stored

    [res] = download(client, store, EX, [SYMBOL], TF, since, until)
    assert res.rows_added == 3_000 and res.requests == 3
    assert_same_bars(store.load(EX, SYMBOL, TF).bars, window(sample, since, until))


def test_bar_still_open_is_not_stored(fake_venue: Any, client: Any, sample: Bars, tmp_path: Path) -> None:
    store = OhlcvStore(tmp_path)
    since = first_ms(sample)
    # "now" is 1 ms into bar 500 (0-based): bars 0..499 are closed, bar 500 is still forming
    client.milliseconds = lambda: since + 500 * TF_MS + 1

    [res] = download(client, store, EX, [SYMBOL], TF, since)

    assert res.rows_added == 500 and res.requests == 1
    assert res.last == int(sample.ts[499])


def test_unknown_symbol_is_a_user_error(fake_venue: Any, client: Any, sample: Bars, tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match=r"unknown symbol on binance: 'BTC/USDX' \(did you mean BTC/USDT"):
        download(client, OhlcvStore(tmp_path), EX, [SYMBOL, "BTC/USDX"], TF, first_ms(sample))
    assert klines(fake_venue) == 0  # checked before anything is fetched
    assert not tmp_path.joinpath(EX).exists()


def test_unoffered_timeframe_is_a_user_error(fake_venue: Any, client: Any, sample: Bars, tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="does not offer the 7m timeframe"):
        download(client, OhlcvStore(tmp_path), EX, [SYMBOL], "7m", first_ms(sample))


# ---------------------------------------------------------------- store


def test_append_merges_sorted_and_drops_exact_duplicates(sample: Bars, tmp_path: Path) -> None:
    store = OhlcvStore(tmp_path)
    assert store.last_timestamp(EX, SYMBOL, TF) is None and store.list() == []
    assert store.append(EX, SYMBOL, TF, sample.slice(100, 200)) == 100
    assert store.append(EX, SYMBOL, TF, sample.slice(0, 150)) == 100  # 50 overlap exactly
    assert store.append(EX, SYMBOL, TF, sample.slice(150, 300)) == 100
    assert store.append(EX, SYMBOL, TF, sample.slice(0, 300)) == 0
    assert_same_bars(store.load(EX, SYMBOL, TF).bars, sample.slice(0, 300))
    assert store.last_timestamp(EX, SYMBOL, TF) == int(sample.ts[299])


def test_conflicting_duplicate_is_refused(sample: Bars, tmp_path: Path) -> None:
    store = OhlcvStore(tmp_path)
    store.append(EX, SYMBOL, TF, sample.slice(0, 100))
    path = store.path(EX, SYMBOL, TF)
    before = path.read_bytes()
    changed = sample.slice(90, 110)
    close = changed.close.copy()
    close[5] += 1.0  # bar 95 now differs from the stored one
    changed = replace(changed, close=close, high=np.maximum(changed.high, close))

    with pytest.raises(DataValidationError, match=r"conflicting bars for BTC/USDT 5m on binance: 1 new bar"):
        store.append(EX, SYMBOL, TF, changed)
    assert path.read_bytes() == before


def test_wrong_timeframe_and_unsafe_names_refused(sample: Bars, tmp_path: Path) -> None:
    store = OhlcvStore(tmp_path)
    with pytest.raises(UserInputError, match="cannot store 5m bars as 1h"):
        store.append(EX, SYMBOL, "1h", sample.slice(0, 10))
    with pytest.raises(UserInputError, match="invalid exchange"):
        store.path("../x", SYMBOL, TF)
    with pytest.raises(UserInputError, match="invalid symbol"):
        store.path(EX, "../../etc", TF)
    with pytest.raises(UserInputError, match="no stored data"):
        store.load(EX, SYMBOL, TF)


def test_failed_write_leaves_previous_file_and_no_temporary(
    sample: Bars, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyarrow.parquet as pq

    store = OhlcvStore(tmp_path)
    store.append(EX, SYMBOL, TF, sample.slice(0, 100))
    path = store.path(EX, SYMBOL, TF)
    before = path.read_bytes()
    real_write = pq.write_table

    def write_half_then_fail(table: Any, where: Any, **kw: Any) -> None:
        real_write(table, where, **kw)
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", write_half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        store.append(EX, SYMBOL, TF, sample.slice(100, 200))
    assert path.read_bytes() == before
    assert os.listdir(path.parent) == [path.name]
    monkeypatch.undo()
    assert_same_bars(store.load(EX, SYMBOL, TF).bars, sample.slice(0, 100))


def test_list_shows_every_dataset(sample: Bars, tmp_path: Path) -> None:
    store = OhlcvStore(tmp_path)
    eth = load_sample("ETH_USDT_5m").bars
    store.append(EX, "ETH/USDT", TF, eth.slice(0, 10))
    store.append(EX, SYMBOL, TF, sample.slice(5, 25))
    got = [(d.exchange, d.symbol, d.timeframe, d.rows, d.first, d.last) for d in store.list()]
    assert got == [
        (EX, SYMBOL, TF, 20, int(sample.ts[5]), int(sample.ts[24])),
        (EX, "ETH/USDT", TF, 10, int(eth.ts[0]), int(eth.ts[9])),
    ]
