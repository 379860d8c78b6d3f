"""Indicators: TA-Lib / pandas cross-checks on real BTC data, hand cases, precision,
causality (bit-identical prefixes), non-finite input and parameter validation."""

from __future__ import annotations

import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
import talib
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.lib.stride_tricks import sliding_window_view

from atb.strategy import indicators as ind

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "BTC_USDT_1d.csv"
# Measured differences against TA-Lib on the BTC data are <= ~5e-14 relative
# (rounding-order only); 1e-12 leaves margin while still catching any
# convention error, which shows up at 1e-3 or worse.
RTOL = 1e-12

Arr = npt.NDArray[np.float64]


class OHLCV(NamedTuple):
    ts: npt.NDArray[np.datetime64]
    open: Arr
    high: Arr
    low: Arr
    close: Arr
    volume: Arr


@pytest.fixture(scope="module")
def btc() -> OHLCV:
    df = pd.read_csv(FIXTURE, parse_dates=["timestamp"])
    assert len(df) == 2932
    return OHLCV(
        ts=df["timestamp"].to_numpy(),
        open=df["open"].to_numpy(np.float64),
        high=df["high"].to_numpy(np.float64),
        low=df["low"].to_numpy(np.float64),
        close=df["close"].to_numpy(np.float64),
        volume=df["volume"].to_numpy(np.float64),
    )


def first_valid(a: Arr) -> int:
    finite = np.flatnonzero(~np.isnan(a))
    return int(finite[0]) if finite.size else len(a)


def assert_warmup(a: Arr, n_nan: int) -> None:
    """Exactly the first n_nan values are NaN (on gap-free real data)."""
    assert np.isnan(a[:n_nan]).all()
    assert not np.isnan(a[n_nan:]).any()


# --------------------------------------------------------------------------- hand-computed


def test_sma_hand() -> None:
    out = ind.sma([1.0, 2.0, 3.0, 4.0, 5.0], 3)
    np.testing.assert_array_equal(out, [np.nan, np.nan, 2.0, 3.0, 4.0])


def test_ema_hand() -> None:
    # alpha = 2/(3+1) = 0.5; seed = mean(2, 4, 6) = 4 at bar 2,
    # then 4 + .5*(8-4) = 6, 6 + .5*(4-6) = 5, 5 + .5*(2-5) = 3.5
    out = ind.ema([2.0, 4.0, 6.0, 8.0, 4.0, 2.0], 3)
    np.testing.assert_array_equal(out, [np.nan, np.nan, 4.0, 6.0, 5.0, 3.5])


def test_wma_hand() -> None:
    out = ind.wma([1.0, 2.0, 3.0, 4.0], 3)
    np.testing.assert_allclose(out, [np.nan, np.nan, 14 / 6, 20 / 6], rtol=1e-15)


def test_rsi_hand() -> None:
    # moves: +1 +1 -1 +2 -1, n=3.
    # bar 3: gain 2/3, loss 1/3                      -> 66.67
    # bar 4: gain (2/3*2+2)/3 = 10/9, loss (1/3*2)/3 = 2/9 -> 100*10/12
    # bar 5: gain (10/9*2)/3 = 20/27, loss (2/9*2+1)/3 = 13/27 -> 100*20/33
    out = ind.rsi([1.0, 2.0, 3.0, 2.0, 4.0, 3.0], 3)
    np.testing.assert_allclose(out, [np.nan] * 3 + [200 / 3, 1000 / 12, 2000 / 33], rtol=1e-14)


def test_obv_hand() -> None:
    out = ind.obv([10.0, 11.0, 11.0, 9.0, 12.0], [5.0, 2.0, 7.0, 3.0, 4.0])
    np.testing.assert_array_equal(out, [5.0, 7.0, 7.0, 4.0, 8.0])


# --------------------------------------------------------------------------- TA-Lib on real data


@pytest.mark.parametrize("n", [1, 2, 20, 200])
def test_sma_wma_vs_talib(btc: OHLCV, n: int) -> None:
    c = btc.close
    np.testing.assert_allclose(ind.sma(c, n), talib.SMA(c, n), rtol=RTOL)
    np.testing.assert_allclose(ind.wma(c, n), talib.WMA(c, n), rtol=RTOL)
    assert_warmup(ind.sma(c, n), n - 1)
    assert_warmup(ind.wma(c, n), n - 1)


@pytest.mark.parametrize("n", [1, 5, 20, 50])
def test_ema_vs_talib(btc: OHLCV, n: int) -> None:
    out = ind.ema(btc.close, n)
    np.testing.assert_allclose(out, talib.EMA(btc.close, n), rtol=RTOL)
    assert_warmup(out, n - 1)


def test_ema_differs_from_pandas_seed_then_converges(btc: OHLCV) -> None:
    """Documents the seeding choice: pandas adjust=False seeds with x[0], not the SMA."""
    out = ind.ema(btc.close, 20)
    pd_ema = pd.Series(btc.close).ewm(span=20, adjust=False).mean().to_numpy()
    assert abs(out[19] - pd_ema[19]) / out[19] > 1e-3
    np.testing.assert_allclose(out[1000:], pd_ema[1000:], rtol=1e-12)


@pytest.mark.parametrize("n", [2, 14, 30])
def test_rsi_vs_talib(btc: OHLCV, n: int) -> None:
    out = ind.rsi(btc.close, n)
    np.testing.assert_allclose(out, talib.RSI(btc.close, n), rtol=RTOL)
    assert_warmup(out, n)


@pytest.mark.parametrize(("fast", "slow", "signal"), [(12, 26, 9), (5, 35, 5), (3, 10, 1)])
def test_macd_vs_talib(btc: OHLCV, fast: int, slow: int, signal: int) -> None:
    c = btc.close
    res = ind.macd(c, fast, slow, signal)
    t_macd, t_signal, t_hist = talib.MACD(c, fast, slow, signal)
    start = slow + signal - 2  # TA-Lib's first output for all three lines
    assert first_valid(t_macd) == start
    # MACD is a difference of two EMAs of ~1e5 prices, so rounding-order noise is
    # absolute (~1e-11 measured) and near zero crossings rtol alone is meaningless.
    atol = 1e-15 * np.max(np.abs(c))
    # Our MACD line is already defined from slow-1; TA-Lib blanks it until
    # the signal exists. Compare TA-Lib's span ...
    np.testing.assert_allclose(res.macd[start:], t_macd[start:], rtol=RTOL, atol=atol)
    np.testing.assert_allclose(res.signal, t_signal, rtol=RTOL, atol=atol)
    np.testing.assert_allclose(res.hist, t_hist, rtol=RTOL, atol=atol)
    # ... and the whole line against TA-Lib EMAs seeded as TA-Lib's MACD does:
    # the fast EMA's seed is the SMA of the `fast` closes ending at bar slow-1.
    fast_line = np.full(len(c), np.nan)
    fast_line[slow - fast :] = talib.EMA(c[slow - fast :], fast)
    expected_line = fast_line - talib.EMA(c, slow)
    np.testing.assert_allclose(res.macd, expected_line, rtol=RTOL, atol=atol)
    assert_warmup(res.macd, slow - 1)
    assert_warmup(res.signal, start)


def test_macd_is_not_difference_of_plain_emas(btc: OHLCV) -> None:
    line = ind.macd(btc.close).macd
    naive = ind.ema(btc.close, 12) - ind.ema(btc.close, 26)
    assert abs(line[25] - naive[25]) > 1.0  # different fast seed, see macd docstring


@pytest.mark.parametrize(("n", "k"), [(20, 2.0), (10, 1.5), (50, 0.0)])
def test_bollinger_vs_talib(btc: OHLCV, n: int, k: float) -> None:
    c = btc.close
    bands = ind.bollinger(c, n, k)
    t_upper, t_middle, t_lower = talib.BBANDS(c, n, k, k, 0)
    np.testing.assert_allclose(bands.middle, t_middle, rtol=RTOL)
    np.testing.assert_allclose(bands.upper, t_upper, rtol=RTOL)
    np.testing.assert_allclose(bands.lower, t_lower, rtol=RTOL)
    np.testing.assert_array_equal(bands.middle, ind.sma(c, n))
    assert_warmup(bands.upper, n - 1)
    if k > 0:
        width = (bands.upper - bands.middle) / k
        # TA-Lib's E[x^2]-E[x]^2 loses ~5e-12 relative on the std itself,
        # hence the looser tolerance here; a fresh np.std is the tight reference.
        np.testing.assert_allclose(width, (t_upper - t_middle) / k, rtol=1e-9)
        fresh = sliding_window_view(c, n).std(axis=1)
        np.testing.assert_allclose(width[n - 1 :], fresh, rtol=1e-10)


@pytest.mark.parametrize("n", [1, 7, 14, 30])
def test_atr_vs_talib(btc: OHLCV, n: int) -> None:
    out = ind.atr(btc.high, btc.low, btc.close, n)
    np.testing.assert_allclose(out, talib.ATR(btc.high, btc.low, btc.close, n), rtol=RTOL)
    assert_warmup(out, n)


@pytest.mark.parametrize(("k", "smooth_k", "d"), [(14, 3, 3), (5, 3, 3), (9, 1, 4)])
def test_stochastic_vs_talib(btc: OHLCV, k: int, smooth_k: int, d: int) -> None:
    h, lo, c = btc.high, btc.low, btc.close
    res = ind.stochastic(h, lo, c, k, smooth_k, d)
    t_k, t_d = talib.STOCH(h, lo, c, k, smooth_k, 0, d, 0)
    start = k + smooth_k + d - 3  # TA-Lib starts both outputs here
    assert first_valid(t_k) == start
    np.testing.assert_allclose(res.k[start:], t_k[start:], rtol=RTOL)
    np.testing.assert_allclose(res.d, t_d, rtol=RTOL)
    # Our %K exists from k+smooth_k-2: check it there too, via TA-Lib STOCHF + SMA.
    fast_k = talib.STOCHF(h, lo, c, k, 1, 0)[0]
    np.testing.assert_allclose(res.k, talib.SMA(fast_k, smooth_k), rtol=RTOL)
    assert_warmup(res.k, k + smooth_k - 2)


@pytest.mark.parametrize("n", [2, 5, 14, 30])
def test_adx_vs_talib(btc: OHLCV, n: int) -> None:
    h, lo, c = btc.high, btc.low, btc.close
    res = ind.adx(h, lo, c, n)
    np.testing.assert_allclose(res.adx, talib.ADX(h, lo, c, n), rtol=RTOL)
    np.testing.assert_allclose(res.plus_di, talib.PLUS_DI(h, lo, c, n), rtol=RTOL)
    np.testing.assert_allclose(res.minus_di, talib.MINUS_DI(h, lo, c, n), rtol=RTOL)
    assert_warmup(res.adx, 2 * n - 1)
    assert_warmup(res.plus_di, n)


def test_obv_vs_talib(btc: OHLCV) -> None:
    out = ind.obv(btc.close, btc.volume)
    # Compensated vs TA-Lib's naive running sum differ by rounding only. OBV
    # crosses zero, so the tolerance is absolute, scaled to the volume traded.
    np.testing.assert_allclose(out, talib.OBV(btc.close, btc.volume), rtol=0, atol=1e-13 * btc.volume.sum())
    assert out[0] == btc.volume[0]


# --------------------------------------------------------------------------- pandas references


def _typical_pv(b: OHLCV) -> tuple[pd.Series, pd.Series]:
    tp = (pd.Series(b.high) + pd.Series(b.low) + pd.Series(b.close)) / 3.0
    vol = pd.Series(b.volume)
    return tp * vol, vol


def test_vwap_cumulative_vs_pandas(btc: OHLCV) -> None:
    pv, vol = _typical_pv(btc)
    out = ind.vwap(btc.high, btc.low, btc.close, btc.volume)
    np.testing.assert_allclose(out, (pv.cumsum() / vol.cumsum()).to_numpy(), rtol=1e-12)
    assert_warmup(out, 0)


@pytest.mark.parametrize("n", [1, 5, 30])
def test_vwap_rolling_vs_pandas(btc: OHLCV, n: int) -> None:
    pv, vol = _typical_pv(btc)
    out = ind.vwap(btc.high, btc.low, btc.close, btc.volume, n=n)
    expected = (pv.rolling(n).sum() / vol.rolling(n).sum()).to_numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-10)
    assert_warmup(out, n - 1)


def test_vwap_anchored_vs_pandas(btc: OHLCV) -> None:
    pv, vol = _typical_pv(btc)
    ts = pd.Series(btc.ts)
    month = (ts.dt.year * 12 + ts.dt.month).to_numpy(np.int64)
    out = ind.vwap(btc.high, btc.low, btc.close, btc.volume, anchor=month)
    expected = (pv.groupby(month).cumsum() / vol.groupby(month).cumsum()).to_numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    # the session restarts: the first bar of each month is that bar's typical price
    first_of_month = np.flatnonzero(np.diff(month, prepend=month[0] - 1) != 0)
    tp = (btc.high + btc.low + btc.close) / 3.0
    np.testing.assert_allclose(out[first_of_month], tp[first_of_month], rtol=1e-14)


def test_vwap_zero_volume_is_nan_without_warning() -> None:
    h = np.array([11.0, 12.0, 13.0, 14.0, 15.0, 16.0])
    lo = h - 2.0
    c = h - 1.0
    v = np.array([0.0, 0.0, 2.0, 0.0, 0.0, 0.0])
    day = np.array([0, 0, 0, 1, 1, 2], dtype=np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cum = ind.vwap(h, lo, c, v)
        roll = ind.vwap(h, lo, c, v, n=2)
        anch = ind.vwap(h, lo, c, v, anchor=day)
    np.testing.assert_array_equal(cum, [np.nan, np.nan, 12.0, 12.0, 12.0, 12.0])
    np.testing.assert_array_equal(roll, [np.nan, np.nan, 12.0, 12.0, np.nan, np.nan])
    np.testing.assert_array_equal(anch, [np.nan, np.nan, 12.0, np.nan, np.nan, np.nan])


@pytest.mark.parametrize("n", [1, 20, 55])
def test_donchian_vs_pandas_and_talib(btc: OHLCV, n: int) -> None:
    ch = ind.donchian(btc.high, btc.low, n)
    upper = pd.Series(btc.high).rolling(n).max().to_numpy()
    lower = pd.Series(btc.low).rolling(n).min().to_numpy()
    np.testing.assert_array_equal(ch.upper, upper)
    np.testing.assert_array_equal(ch.lower, lower)
    np.testing.assert_array_equal(ch.middle, (upper + lower) / 2.0)
    if n > 1:  # TA-Lib MAX/MIN need n >= 2
        np.testing.assert_array_equal(ch.upper, talib.MAX(btc.high, n))
        np.testing.assert_array_equal(ch.lower, talib.MIN(btc.low, n))
    assert_warmup(ch.upper, n - 1)


def test_donchian_breakout_needs_previous_channel(btc: OHLCV) -> None:
    ch = ind.donchian(btc.high, btc.low, 20)
    valid = ~np.isnan(ch.upper)
    assert (btc.close[valid] <= ch.upper[valid]).all()  # same-bar channel: never a breakout
    breakout = btc.close[1:] > ch.upper[:-1]  # the documented rule
    assert 20 < int(np.sum(breakout)) < len(btc.close) // 2


def _pandas_cross(a: Arr, b: Arr, up: bool) -> npt.NDArray[np.bool_]:
    df = pd.DataFrame({"a": a, "b": b}).dropna()
    beyond = df["a"] > df["b"] if up else df["a"] < df["b"]
    prev = beyond.shift(1, fill_value=True)  # first defined bar: no previous -> no cross
    cross = beyond & ~prev
    return cross.reindex(range(len(a)), fill_value=False).to_numpy(bool)


@pytest.mark.parametrize("n", [5, 20])
def test_crossover_vs_pandas(btc: OHLCV, n: int) -> None:
    fast = ind.sma(btc.close, n)
    slow = ind.sma(btc.close, 50)
    up = ind.crossover(fast, slow)
    down = ind.crossunder(fast, slow)
    np.testing.assert_array_equal(up, _pandas_cross(fast, slow, True))
    np.testing.assert_array_equal(down, _pandas_cross(fast, slow, False))
    assert up.dtype == np.bool_
    assert not up[:50].any()
    assert up.sum() > 10 and abs(int(up.sum()) - int(down.sum())) <= 1
    level = ind.crossover(ind.rsi(btc.close), 30.0)
    np.testing.assert_array_equal(level, _pandas_cross(ind.rsi(btc.close), np.full(len(btc.close), 30.0), True))


def test_crossover_ties_and_gaps() -> None:
    nan = np.nan
    # below -> equal -> above: one cross, at the 'above' bar; never at the tie.
    np.testing.assert_array_equal(ind.crossover([1, 2, 3, 3], [2, 2, 2, 2]), [False, False, True, False])
    np.testing.assert_array_equal(ind.crossunder([3, 2, 1, 2], [2, 2, 2, 2]), [False, False, True, False])
    # a touch from above then back above is reported (documented consequence)
    np.testing.assert_array_equal(ind.crossover([3, 2, 3], 2.0), [False, False, True])
    # staying above is not a cross; the first defined bar is never a cross
    np.testing.assert_array_equal(ind.crossover([3, 4, 5], 2.0), [False, False, False])
    # NaN bars are skipped: the comparison before the gap counts
    np.testing.assert_array_equal(ind.crossover([1, nan, nan, 3], 2.0), [False, False, False, True])
    np.testing.assert_array_equal(ind.crossover([nan, 1, 3], [2, 2, nan]), [False, False, False])
    np.testing.assert_array_equal(ind.crossover(2.0, [3, 1]), [False, True])


# --------------------------------------------------------------------------- precision on long series


def test_sma_long_random_walk_matches_fresh_mean() -> None:
    rng = np.random.default_rng(7)
    x = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.001, 1_000_000)))
    positions = rng.integers(5000, len(x), 300)
    for n in (20, 5000):
        out = ind.sma(x, n)
        fresh = np.array([np.mean(x[i - n + 1 : i + 1]) for i in positions])
        np.testing.assert_allclose(out[positions], fresh, rtol=1e-12)
    # TA-Lib's running sum is no reference here: it drifts (that is the point).


def test_sma_integer_inputs_are_exact() -> None:
    rng = np.random.default_rng(8)
    ints = np.cumsum(rng.integers(-50, 51, 1_000_000)) + 10_000_000
    x = ints.astype(np.float64)
    for n in (3, 7, 1000):
        out = ind.sma(x, n)
        csum = np.concatenate([[0], np.cumsum(ints)])
        exact = (csum[n:] - csum[:-n]).astype(np.float64) / n  # int64 sums: exact
        np.testing.assert_array_equal(out[n - 1 :], exact)
        for i in rng.integers(n, len(x), 50):
            assert out[i] == np.mean(x[i - n + 1 : i + 1])


@pytest.mark.parametrize("n", [3, 20, 64])
def test_windowed_stats_recover_exactly_after_huge_spikes(n: int) -> None:
    """A running sum that absorbed 1e12 keeps ~1e-4 of rounding debris after the
    spike leaves (TA-Lib does, forever): windows after it must be clean."""
    rng = np.random.default_rng(n)
    x = 100.0 + np.cumsum(rng.normal(0.0, 0.1, 3000))
    x[1000:1005] = 1e12 * rng.uniform(1.0, 2.0, 5)
    x[2000] = -3e11
    windows = sliding_window_view(x, n)
    weights = np.arange(1, n + 1, dtype=np.float64)
    np.testing.assert_allclose(ind.sma(x, n)[n - 1 :], windows.mean(axis=1), rtol=1e-12)
    np.testing.assert_allclose(ind.wma(x, n)[n - 1 :], windows @ weights / weights.sum(), rtol=1e-12)
    width = ind.bollinger(x, n, 1.0)
    np.testing.assert_allclose((width.upper - width.middle)[n - 1 :], windows.std(axis=1), rtol=1e-9)


# --------------------------------------------------------------------------- causality


Outputs = tuple[npt.NDArray[np.generic], ...]
Indicator = Callable[[OHLCV, int], Outputs]


def _tup(r: object) -> Outputs:
    return tuple(r) if isinstance(r, tuple) else (r,)  # type: ignore[return-value]


def _anchor(b: OHLCV) -> npt.NDArray[np.int64]:
    return np.arange(len(b.close), dtype=np.int64) // 7


INDICATORS: dict[str, Indicator] = {
    "sma": lambda b, p: _tup(ind.sma(b.close, p)),
    "ema": lambda b, p: _tup(ind.ema(b.close, p)),
    "wma": lambda b, p: _tup(ind.wma(b.close, p)),
    "rsi": lambda b, p: _tup(ind.rsi(b.close, p)),
    "macd": lambda b, p: _tup(ind.macd(b.close, p, p + 3, max(1, p // 2))),
    "bollinger": lambda b, p: _tup(ind.bollinger(b.close, p, 2.0)),
    "atr": lambda b, p: _tup(ind.atr(b.high, b.low, b.close, p)),
    "stochastic": lambda b, p: _tup(ind.stochastic(b.high, b.low, b.close, p, 3, 2)),
    "adx": lambda b, p: _tup(ind.adx(b.high, b.low, b.close, p)),
    "obv": lambda b, p: _tup(ind.obv(b.close, b.volume)),
    "vwap": lambda b, p: _tup(ind.vwap(b.high, b.low, b.close, b.volume)),
    "vwap_rolling": lambda b, p: _tup(ind.vwap(b.high, b.low, b.close, b.volume, n=p)),
    "vwap_anchored": lambda b, p: _tup(ind.vwap(b.high, b.low, b.close, b.volume, anchor=_anchor(b))),
    "donchian": lambda b, p: _tup(ind.donchian(b.high, b.low, p)),
    "crossover": lambda b, p: _tup(ind.crossover(b.close, ind.sma(b.close, p))),
    "crossunder": lambda b, p: _tup(ind.crossunder(b.close, ind.ema(b.close, p))),
}


def _prefix(b: OHLCV, k: int) -> OHLCV:
    return OHLCV(*(col[:k] for col in b))


def _assert_bits_equal(full: Outputs, part: Outputs, k: int) -> None:
    assert len(full) == len(part)
    for f, p in zip(full, part, strict=True):
        assert len(p) == k
        if f.dtype == np.float64:
            np.testing.assert_array_equal(f[:k].view(np.uint64), p.view(np.uint64))
        else:
            np.testing.assert_array_equal(f[:k], p)


@pytest.mark.parametrize("name", sorted(INDICATORS))
def test_causal_prefixes_real_data(btc: OHLCV, name: str) -> None:
    fn = INDICATORS[name]
    full = fn(btc, 14)
    for k in (0, 1, 2, 13, 14, 15, 27, 28, 33, 100, 1234, len(btc.close) - 1):
        _assert_bits_equal(full, fn(_prefix(btc, k), 14), k)


def _synthetic(seed: int, size: int, nan_rate: float) -> OHLCV:
    rng = np.random.default_rng(seed)
    close = 50.0 * np.exp(np.cumsum(rng.normal(0.0, 0.02, size)))
    high = close * (1.0 + rng.uniform(0.0, 0.02, size))
    low = close * (1.0 - rng.uniform(0.0, 0.02, size))
    volume = rng.uniform(0.0, 5.0, size) * (rng.random(size) > 0.1)  # some zero-volume bars
    if nan_rate > 0:
        for col in (close, high, low, volume):
            col[rng.random(size) < nan_rate] = np.nan
    ts = np.zeros(size, dtype="datetime64[ns]")
    return OHLCV(ts, close.copy(), high, low, close, volume)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    size=st.integers(0, 250),
    frac=st.floats(0.0, 1.0),
    period=st.integers(1, 30),
    nan_rate=st.sampled_from([0.0, 0.0, 0.02]),
)
def test_causal_prefixes_property(seed: int, size: int, frac: float, period: int, nan_rate: float) -> None:
    b = _synthetic(seed, size, nan_rate)
    k = int(frac * size)
    for fn in INDICATORS.values():
        _assert_bits_equal(fn(b, period), fn(_prefix(b, k), period), k)


# --------------------------------------------------------------------------- non-finite input


def test_windowed_indicators_recover_after_nan(btc: OHLCV) -> None:
    c = btc.close.copy()
    h = btc.high.copy()
    c[300] = np.nan
    h[300] = np.nan
    s = pd.Series(c)
    np.testing.assert_allclose(ind.sma(c, 10), s.rolling(10).mean().to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(ind.wma(c, 10)[310:], talib.WMA(btc.close, 10)[310:], rtol=RTOL)
    bands = ind.bollinger(c, 10, 2.0)
    np.testing.assert_allclose(
        bands.upper - bands.middle, 2.0 * s.rolling(10).std(ddof=0).to_numpy(), rtol=1e-8, atol=0
    )
    ch = ind.donchian(h, btc.low, 10)
    np.testing.assert_array_equal(ch.upper, pd.Series(h).rolling(10).max().to_numpy())
    np.testing.assert_array_equal(ch.lower, pd.Series(btc.low).rolling(10).min().to_numpy())
    assert np.isnan(ch.middle[300:310]).all() and not np.isnan(ch.middle[310:]).any()
    st_k = ind.stochastic(h, btc.low, c, 14, 3, 3).k
    assert np.isnan(st_k[300:316]).all()
    np.testing.assert_allclose(st_k[316:], ind.stochastic(btc.high, btc.low, btc.close, 14, 3, 3).k[316:], rtol=RTOL)
    roll = ind.vwap(h, btc.low, c, btc.volume, n=5)
    assert np.isnan(roll[300:305]).all() and not np.isnan(roll[305:]).any()


def test_recursive_indicators_propagate_nan(btc: OHLCV) -> None:
    c = btc.close.copy()
    c[300] = np.nan
    # first bar that sees the missing close: 300, or 301 where the close only
    # enters as the previous close of the true range
    for out, first_nan in (
        (ind.ema(c, 10), 300),
        (ind.rsi(c), 300),
        (ind.macd(c).signal, 300),
        (ind.obv(c, btc.volume), 300),
        (ind.vwap(btc.high, btc.low, c, btc.volume), 300),
        (ind.atr(btc.high, btc.low, c), 301),
        (ind.adx(btc.high, btc.low, c).adx, 301),
        (ind.adx(btc.high, btc.low, c).plus_di, 301),
    ):
        assert not np.isnan(out[40:first_nan]).any()
        assert np.isnan(out[first_nan:]).all()


def test_anchored_vwap_recovers_at_next_session(btc: OHLCV) -> None:
    c = btc.close.copy()
    c[301] = np.nan
    week = np.arange(len(c), dtype=np.int64) // 7  # sessions 294..300, 301..307, 308..
    out = ind.vwap(btc.high, btc.low, c, btc.volume, anchor=week)
    clean = ind.vwap(btc.high, btc.low, btc.close, btc.volume, anchor=week)
    # bar 301 opens its session, so it counts as leading missing data, later bars not
    assert np.isnan(out[301]) and not np.isnan(out[302:308]).any()
    c[303] = np.nan
    out = ind.vwap(btc.high, btc.low, c, btc.volume, anchor=week)
    assert np.isnan(out[303:308]).all()
    np.testing.assert_array_equal(out[308:], clean[308:])
    np.testing.assert_array_equal(out[:301], clean[:301])


def test_leading_nan_is_extra_warmup_like_talib(btc: OHLCV) -> None:
    base = ind.sma(btc.close, 5)  # 4 leading NaN
    np.testing.assert_allclose(ind.ema(base, 10), talib.EMA(base, 10), rtol=RTOL)
    np.testing.assert_allclose(ind.rsi(base, 14), talib.RSI(base, 14), rtol=RTOL)
    np.testing.assert_allclose(ind.macd(base).signal, talib.MACD(base)[1], rtol=RTOL)
    assert first_valid(ind.ema(base, 10)) == 4 + 9
    h = np.concatenate([[np.nan, np.nan], btc.high[2:]])
    np.testing.assert_allclose(
        ind.adx(h, btc.low, btc.close).adx,
        talib.ADX(h, btc.low, btc.close, 14),
        rtol=RTOL,
    )


def test_non_finite_input_never_warns_or_raises() -> None:
    b = _synthetic(3, 400, 0.05)
    b.close[50] = np.inf
    b.high[60] = -np.inf
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for fn in INDICATORS.values():
            for out in fn(b, 14):
                assert len(out) == 400


# --------------------------------------------------------------------------- flat markets (documented departures)


def test_flat_market_values() -> None:
    f = np.full(60, 5.0)
    assert (ind.rsi(f)[14:] == 50.0).all()  # TA-Lib: 0
    assert (ind.stochastic(f, f, f).k[15:] == 50.0).all()  # TA-Lib: 0
    res = ind.adx(f, f, f)
    assert (res.plus_di[14:] == 0.0).all() and (res.adx[27:] == 0.0).all()
    bands = ind.bollinger(f + 1e6, 20)
    np.testing.assert_array_equal(bands.upper[19:], bands.middle[19:])  # std exactly 0
    assert (ind.atr(f, f, f)[14:] == 0.0).all()


# --------------------------------------------------------------------------- interface


def test_accepts_lists_and_handles_short_or_empty_input() -> None:
    assert ind.sma([1, 2, 3], 2).dtype == np.float64
    for out in (ind.sma([1.0, 2.0], 5), ind.rsi([1.0] * 14), ind.atr([1.0] * 3, [1.0] * 3, [1.0] * 3, 3)):
        assert np.isnan(out).all()
    empty = np.array([], dtype=np.float64)
    b = OHLCV(empty.astype("datetime64[ns]"), empty, empty, empty, empty, empty)
    for fn in INDICATORS.values():
        for out in fn(b, 5):
            assert len(out) == 0


@pytest.mark.parametrize("bad", [0, -3, 2.5, 14.0, True, "14", np.int64(0)])
@pytest.mark.parametrize(
    "call",
    [
        lambda n: ind.sma([1.0, 2.0, 3.0], n),
        lambda n: ind.ema([1.0, 2.0, 3.0], n),
        lambda n: ind.wma([1.0, 2.0, 3.0], n),
        lambda n: ind.rsi([1.0, 2.0, 3.0], n),
        lambda n: ind.bollinger([1.0, 2.0, 3.0], n),
        lambda n: ind.atr([1.0], [1.0], [1.0], n),
        lambda n: ind.adx([1.0], [1.0], [1.0], n),
        lambda n: ind.donchian([1.0], [1.0], n),
        lambda n: ind.stochastic([1.0], [1.0], [1.0], k=n),
        lambda n: ind.stochastic([1.0], [1.0], [1.0], d=n),
        lambda n: ind.macd([1.0], signal=n),
        lambda n: ind.vwap([1.0], [1.0], [1.0], [1.0], n=n),
    ],
)
def test_invalid_period_raises(call: Callable[[object], object], bad: object) -> None:
    with pytest.raises(ValueError, match="integer >= 1"):
        call(bad)


def test_numpy_integer_period_accepted() -> None:
    np.testing.assert_array_equal(ind.sma([1.0, 2.0, 3.0], np.int64(2)), [np.nan, 1.5, 2.5])


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: ind.atr([1.0, 2.0], [1.0], [1.0, 2.0]), "same length"),
        (lambda: ind.adx([1.0], [1.0], [1.0, 2.0]), "same length"),
        (lambda: ind.stochastic([1.0], [1.0, 2.0], [1.0]), "same length"),
        (lambda: ind.donchian([1.0], [1.0, 2.0]), "same length"),
        (lambda: ind.obv([1.0], [1.0, 2.0]), "same length"),
        (lambda: ind.vwap([1.0], [1.0], [1.0], [1.0, 2.0]), "same length"),
        (lambda: ind.crossover([1.0], [1.0, 2.0]), "same length"),
        (lambda: ind.crossover(1.0, 2.0), "1-D"),
        (lambda: ind.sma([[1.0, 2.0]], 1), "1-D"),
        (lambda: ind.sma([1.0], None), "integer >= 1"),
        (lambda: ind.sma(["a", "b"], 1), "numeric"),
        (lambda: ind.macd([1.0], fast=26, slow=12), "fast < slow"),
        (lambda: ind.macd([1.0], fast=12, slow=12), "fast < slow"),
        (lambda: ind.bollinger([1.0], 2, -1.0), "k must be"),
        (lambda: ind.bollinger([1.0], 2, float("nan")), "k must be"),
        (lambda: ind.vwap([1.0], [1.0], [1.0], [1.0], n=2, anchor=[0]), "not both"),
        (lambda: ind.vwap([1.0], [1.0], [1.0], [1.0], anchor=[0.5]), "integer array"),
        (lambda: ind.vwap([1.0], [1.0], [1.0], [1.0], anchor=[0, 1]), "anchor has 2 rows"),
        (lambda: ind.vwap([1.0], [1.0], [1.0], [-1.0]), "volume must be >= 0"),
        (lambda: ind.obv([1.0], [-1.0]), "volume must be >= 0"),
    ],
)
def test_invalid_inputs_raise(call: Callable[[], object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()


def test_import_does_not_load_numba_or_pandas() -> None:
    code = "import sys, atb.strategy.indicators; print('numba' in sys.modules, 'pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
