"""Resampling against pandas and against real exchange bars; timeframe text."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from atb.data.bars import NS_PER_DAY, Bars
from atb.data.loader import bars_from_arrays
from atb.data.resample import format_duration, format_timeframe, parse_timeframe, resample
from atb.data.sample import load_sample
from atb.errors import UserInputError

MIN = 60_000_000_000
H = 60 * MIN
T0 = 1_609_459_200_000_000_000  # 2021-01-01 00:00 UTC (a Friday)


def random_bars(n: int, step: int, seed: int, drop: float = 0.0, start: int = T0 + 7 * MIN) -> Bars:
    """A random walk with consistent OHLC; `drop` removes that share of bars to make gaps."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.concatenate(([100.0], close[:-1]))
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.005, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.005, n))
    volume = rng.uniform(0, 10, n)
    keep = rng.uniform(size=n) >= drop
    keep[0] = keep[1] = True
    ts = start + step * np.arange(n)
    return bars_from_arrays(ts[keep], open_[keep], high[keep], low[keep], close[keep], volume[keep], timeframe_ns=step)


def pandas_reference(bars: Bars, rule: str, offset: str | None = None) -> Any:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(
        {name: getattr(bars, name) for name in ("open", "high", "low", "close", "volume")},
        index=pd.to_datetime(bars.ts),  # naive (= UTC): pandas ignores origin for Day rules on tz-aware
    )
    out = frame.resample(rule, origin="epoch", offset=offset, label="left", closed="left").agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
    )
    return out.dropna(subset=["open"])  # pandas invents empty buckets; we leave them out


@pytest.mark.parametrize(
    ("step", "target", "rule", "drop"),
    [
        (MIN, 5 * MIN, "5min", 0.0),
        (MIN, 15 * MIN, "15min", 0.3),
        (5 * MIN, H, "1h", 0.1),
        (H, 4 * H, "4h", 0.2),
        (H, NS_PER_DAY, "1D", 0.5),
        (H, 7 * NS_PER_DAY, "7D", 0.0),
    ],
)
def test_matches_pandas(step: int, target: int, rule: str, drop: float) -> None:
    bars = random_bars(3_000, step, seed=step % 97 + target % 89, drop=drop)
    ours = resample(bars, target)
    ref = pandas_reference(bars, rule)
    np.testing.assert_array_equal(ours.ts, ref.index.as_unit("ns").asi8)
    for name in ("open", "high", "low", "close"):
        np.testing.assert_array_equal(getattr(ours, name), ref[name].to_numpy())
    np.testing.assert_allclose(ours.volume, ref["volume"].to_numpy(), rtol=1e-12)
    assert ours.timeframe_ns == target
    assert ours.symbol == bars.symbol


def test_weekly_with_monday_offset_matches_pandas() -> None:
    bars = random_bars(2_000, H, seed=3, drop=0.1)
    ours = resample(bars, 7 * NS_PER_DAY, offset_ns=4 * NS_PER_DAY)
    ref = pandas_reference(bars, "7D", offset="4D")
    np.testing.assert_array_equal(ours.ts, ref.index.as_unit("ns").asi8)
    np.testing.assert_array_equal(ours.close, ref["close"].to_numpy())
    weekdays = {datetime.fromtimestamp(t // 10**9, UTC).strftime("%A %H:%M") for t in ours.ts.tolist()}
    assert weekdays == {"Monday 00:00"}


def test_5m_exchange_bars_resample_to_the_exchange_1h_bars() -> None:
    """Independent reference: Binance's own 1h klines for the same market and period."""
    five = load_sample("BTC_USDT_5m").bars
    hourly = load_sample("multi_1h/BTC_USDT_1h").bars
    ours = resample(five, H)
    common, i, j = np.intersect1d(ours.ts, hourly.ts, return_indices=True)
    assert len(common) == len(hourly)  # every exchange hour is produced
    for name in ("open", "high", "low", "close"):
        np.testing.assert_array_equal(getattr(ours, name)[i], getattr(hourly, name)[j])
    assert ours.meta["incomplete_bars"] == "4"  # hours cut by the two maintenance gaps


def test_missing_input_bars() -> None:
    hours = np.array([0, 1, 3, 8, 9, 10, 11])  # 02:00 missing; nothing at all in 04:00-08:00
    o = np.array([10.0, 11, 13, 18, 19, 20, 21])
    bars = bars_from_arrays(T0 + H * hours, o, o + 2, o - 1, o + 1, np.arange(1.0, 8.0))
    out = resample(bars, 4 * H)
    np.testing.assert_array_equal(out.ts, [T0, T0 + 8 * H])  # the empty 04:00 bucket is absent
    np.testing.assert_array_equal(out.open, [10, 18])
    np.testing.assert_array_equal(out.high, [15, 23])
    np.testing.assert_array_equal(out.low, [9, 17])
    np.testing.assert_array_equal(out.close, [14, 22])
    np.testing.assert_array_equal(out.volume, [1 + 2 + 3, 4 + 5 + 6 + 7])
    assert out.meta["incomplete_bars"] == "1"
    assert out.meta["resampled_from"] == "1h"


def test_buckets_align_to_the_epoch_not_to_the_first_bar() -> None:
    bars = random_bars(24, H, seed=1, start=T0 + 3 * H)
    out = resample(bars, 4 * H)
    assert out.ts[0] == T0  # the 03:00 bar belongs to the 00:00-04:00 bucket
    assert np.all(out.ts % (4 * H) == 0)
    assert out.open[0] == bars.open[0] and out.close[0] == bars.close[0]


def test_same_timeframe_is_identity_and_bad_targets_are_refused() -> None:
    bars = random_bars(10, H, seed=2)
    assert resample(bars, H) is bars
    with pytest.raises(UserInputError, match="cannot resample 1h bars to 90m"):
        resample(bars, 90 * MIN)
    with pytest.raises(UserInputError, match="whole multiple"):
        resample(bars, 30 * MIN)
    with pytest.raises(UserInputError):
        resample(bars, 0)


def test_resampled_columns_are_read_only() -> None:
    out = resample(random_bars(10, H, seed=4), 2 * H)
    with pytest.raises(ValueError, match="read-only"):
        out.high[0] = 0.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", 30_000_000_000),
        ("1m", MIN),
        ("5m", 5 * MIN),
        ("1h", H),
        ("4h", 4 * H),
        ("1d", NS_PER_DAY),
        ("1w", 7 * NS_PER_DAY),
        (" 2H ", 2 * H),
        ("1D", NS_PER_DAY),
    ],
)
def test_parse_timeframe(text: str, expected: int) -> None:
    assert parse_timeframe(text) == expected
    assert parse_timeframe(format_timeframe(expected)) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "expected a whole number followed by s, m, h, d or w"),
        ("h", "expected a whole number"),
        ("5", "expected a whole number"),
        ("1.5h", "expected a whole number"),
        ("-1h", "expected a whole number"),
        ("2 hours", "expected a whole number"),
        ("0h", "must be greater than zero"),
        ("1y", "unknown unit 'y'"),
        ("1M", "'M' is ambiguous"),
    ],
)
def test_parse_timeframe_errors(text: str, reason: str) -> None:
    with pytest.raises(UserInputError, match=f"invalid timeframe {text!r}: {reason}"):
        parse_timeframe(text)


def test_format_helpers() -> None:
    assert format_timeframe(2 * H) == "2h"
    assert format_timeframe(90 * MIN) == "90m"
    assert format_timeframe(14 * NS_PER_DAY) == "2w"
    assert format_duration(30 * H) == "1d 6h"
    assert format_duration(4 * H + 40 * MIN) == "4h 40m"
    assert format_duration(0) == "0s"
