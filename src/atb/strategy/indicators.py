"""Technical indicators: pure, causal functions over float64 numpy arrays.

Conventions shared by every function here:

* Inputs are any array-like, converted to 1-D float64; outputs have the input's
  length and are NaN during warm-up. Multi-output indicators return a NamedTuple.
* Causal: the value at bar i depends on bars 0..i only, and computing on a
  prefix gives a bit-identical prefix of the full result, so an indicator
  precomputed over the whole history is safe to read bar by bar in a backtest.
* Numbers follow TA-Lib's conventions (seeding, Wilder smoothing, warm-up
  lengths), cross-checked in the tests; the few deliberate departures are
  named in the function docstrings (flat-market values, division guards).
* Non-finite values (NaN, +-inf) inside the data never raise:
  - windowed indicators (sma, wma, bollinger, donchian, stochastic, rolling
    vwap) are NaN for every window that contains one and recover afterwards;
  - recursive indicators (ema, macd, rsi, atr, adx, obv, cumulative/anchored
    vwap) treat leading non-finite bars as extra warm-up (so they compose:
    ``ema(rsi(x), 5)`` works), but a non-finite bar after the start propagates
    NaN to every later bar (an anchored vwap recovers at the next session).
  Validated market data (`atb.data`) contains none; this only defines behaviour.
* Invalid parameters (period not an int >= 1, mismatched lengths, non-1-D
  input) raise ValueError.

The compiled loops live in `_indicator_kernels`, imported on first use so that
importing this module does not pay numba's import cost.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

__all__ = [
    "ADX",
    "MACD",
    "BollingerBands",
    "DonchianChannel",
    "Stochastic",
    "adx",
    "atr",
    "bollinger",
    "crossover",
    "crossunder",
    "donchian",
    "ema",
    "macd",
    "obv",
    "rsi",
    "sma",
    "stochastic",
    "vwap",
    "wma",
]


class MACD(NamedTuple):
    macd: FloatArray
    signal: FloatArray
    hist: FloatArray


class BollingerBands(NamedTuple):
    middle: FloatArray
    upper: FloatArray
    lower: FloatArray


class Stochastic(NamedTuple):
    k: FloatArray
    d: FloatArray


class ADX(NamedTuple):
    adx: FloatArray
    plus_di: FloatArray
    minus_di: FloatArray


class DonchianChannel(NamedTuple):
    upper: FloatArray
    lower: FloatArray
    middle: FloatArray


# --------------------------------------------------------------------------- validation


def _series(x: npt.ArrayLike, name: str) -> FloatArray:
    try:
        arr = np.ascontiguousarray(np.asarray(x, dtype=np.float64))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric: {exc}") from None
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    return arr


def _same_length(**arrays: FloatArray) -> None:
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"{name}={size}" for name, size in lengths.items())
        raise ValueError(f"input arrays must have the same length, got {detail}")


def _period(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value}")
    return int(value)


def _alpha(n: int) -> float:
    return 2.0 / (n + 1)


# --------------------------------------------------------------------------- averages


_DIRECT_SMA_MAX = 512
"""Longest SMA window computed by direct convolution (cost grows with n × bars)."""


def sma(x: npt.ArrayLike, n: int) -> FloatArray:
    """Simple moving average: mean of x[i-n+1..i]. Warm-up: n-1 bars.

    Every window is summed on its own (a direct convolution for windows up to
    `_DIRECT_SMA_MAX` bars, bit-identical on any prefix of the data), so
    rounding error never builds up over long series as TA-Lib's running sum
    does; integer-valued inputs give exactly ``np.mean`` of the window. It also
    needs no numba, which keeps `atb backtest sma_cross` free of numba's
    start-up cost. Longer windows use the compiled rolling sum, recomputed from
    scratch every n bars.
    """
    arr = _series(x, "x")
    n = _period(n, "n")
    if n <= _DIRECT_SMA_MAX:
        out = np.empty(len(arr))
        out[: n - 1] = np.nan
        if len(arr) >= n:
            np.divide(np.convolve(arr, np.ones(n), mode="valid"), n, out=out[n - 1 :])  # no third million-row temporary
        return out
    from atb.strategy import _indicator_kernels as k

    return k.rolling_sum(arr, n) / n


def ema(x: npt.ArrayLike, n: int) -> FloatArray:
    """Exponential moving average, alpha = 2/(n+1). Warm-up: n-1 bars.

    Seeded TA-Lib style: the first value (bar n-1) is the SMA of the first n
    values, then e_i = e_{i-1} + alpha*(x_i - e_{i-1}). pandas'
    ``ewm(span=n, adjust=False)`` seeds with x[0] instead; the two converge
    as (1-alpha)**i.
    """
    from atb.strategy import _indicator_kernels as k

    arr = _series(x, "x")
    n = _period(n, "n")
    return k.ema(arr, n, _alpha(n), n - 1)


def wma(x: npt.ArrayLike, n: int) -> FloatArray:
    """Linearly weighted moving average, weight n on the newest bar down to 1 (TA-Lib WMA).

    sum_{m=0}^{n-1} (n-m)*x[i-m] / (n(n+1)/2). Warm-up: n-1 bars.
    """
    from atb.strategy import _indicator_kernels as k

    arr = _series(x, "x")
    n = _period(n, "n")
    return k.wma(arr, n)


# --------------------------------------------------------------------------- oscillators


def rsi(close: npt.ArrayLike, n: int = 14) -> FloatArray:
    """Relative strength index with Wilder smoothing (TA-Lib RSI). Warm-up: n bars.

    Average gain/loss start as plain means of the first n close-to-close
    moves (bar n), then avg = (avg*(n-1) + move)/n; RSI = 100*gain/(gain+loss).
    Departure: when gain and loss are both exactly zero (a flat market) this
    returns 50, not TA-Lib's 0 (TA-Lib also returns 0 whenever gain+loss <
    1e-8, which misfires on very low-priced assets).
    """
    from atb.strategy import _indicator_kernels as k

    arr = _series(close, "close")
    n = _period(n, "n")
    return k.rsi(arr, n)


def macd(close: npt.ArrayLike, fast: int = 12, slow: int = 26, signal: int = 9) -> MACD:
    """MACD line, signal line and histogram, numerically matching TA-Lib MACD.

    TA-Lib seeds *both* EMAs at bar slow-1: the slow one with the SMA of the
    first `slow` closes, the fast one with the SMA of the `fast` closes ending
    at bar slow-1 (not of the first `fast` closes). Hence
    ``ema(c, 12) - ema(c, 26)`` differs slightly from this MACD line early on.
    The signal is an EMA of the MACD line seeded the same way.
    Warm-up: macd slow-1 bars; signal and hist slow+signal-2 bars (TA-Lib
    leaves the MACD line NaN for those extra signal-1 bars too; we return it).
    Requires fast < slow.
    """
    from atb.strategy import _indicator_kernels as k

    arr = _series(close, "close")
    fast = _period(fast, "fast")
    slow = _period(slow, "slow")
    signal = _period(signal, "signal")
    if fast >= slow:
        raise ValueError(f"macd needs fast < slow, got fast={fast}, slow={slow}")
    line = k.ema(arr, fast, _alpha(fast), slow - 1) - k.ema(arr, slow, _alpha(slow), slow - 1)
    sig = k.ema(line, signal, _alpha(signal), signal - 1)
    return MACD(line, sig, line - sig)


def stochastic(
    high: npt.ArrayLike,
    low: npt.ArrayLike,
    close: npt.ArrayLike,
    k: int = 14,
    smooth_k: int = 3,
    d: int = 3,
) -> Stochastic:
    """Slow stochastic oscillator (TA-Lib STOCH with SMA smoothing for %K and %D).

    fast %K = 100*(close - LL)/(HH - LL) over the last k bars (current
    included); %K = SMA(fast %K, smooth_k); %D = SMA(%K, d).
    Warm-up: %K k+smooth_k-2 bars, %D k+smooth_k+d-3 bars (TA-Lib starts both
    outputs at the latter). Departure: when HH == LL (no range) fast %K is 50,
    not TA-Lib's 0, so a dead market does not look oversold.
    """
    from atb.strategy import _indicator_kernels as kern

    h = _series(high, "high")
    lo = _series(low, "low")
    c = _series(close, "close")
    _same_length(high=h, low=lo, close=c)
    k = _period(k, "k")
    smooth_k = _period(smooth_k, "smooth_k")
    d = _period(d, "d")
    fast_k = kern.stoch_fast_k(h, lo, c, k)
    slow_k = kern.rolling_sum(fast_k, smooth_k) / smooth_k
    slow_d = kern.rolling_sum(slow_k, d) / d
    return Stochastic(slow_k, slow_d)


# --------------------------------------------------------------------------- volatility / trend


def bollinger(close: npt.ArrayLike, n: int = 20, k: float = 2.0) -> BollingerBands:
    """Bollinger bands: SMA(n) +- k * population std (ddof=0) of the same window.

    Matches TA-Lib BBANDS with SMA. Warm-up: n-1 bars. The std is computed
    from sums shifted by a recent window mean, so it does not suffer TA-Lib's
    cancellation in E[x^2] - E[x]^2 (a constant window gives exactly 0).
    `middle` is bit-identical to ``sma(close, n)``.
    """
    from atb.strategy import _indicator_kernels as kern

    arr = _series(close, "close")
    n = _period(n, "n")
    if isinstance(k, bool) or not isinstance(k, int | float | np.floating | np.integer):
        raise ValueError(f"k must be a number >= 0, got {k!r}")
    width = float(k)
    if not (np.isfinite(width) and width >= 0.0):
        raise ValueError(f"k must be a finite number >= 0, got {k!r}")
    middle = sma(arr, n)
    dev = width * kern.rolling_std(arr, n)
    return BollingerBands(middle, middle + dev, middle - dev)


def atr(high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, n: int = 14) -> FloatArray:
    """Average true range, Wilder smoothing (TA-Lib ATR). Warm-up: n bars.

    TR_i = max(high-low, |high-close_{i-1}|, |low-close_{i-1}|) from bar 1;
    the first ATR (bar n) is the mean of TR_1..TR_n, then
    ATR_i = (ATR_{i-1}*(n-1) + TR_i)/n.
    """
    from atb.strategy import _indicator_kernels as kern

    h = _series(high, "high")
    lo = _series(low, "low")
    c = _series(close, "close")
    _same_length(high=h, low=lo, close=c)
    n = _period(n, "n")
    return kern.atr(h, lo, c, n)


def adx(high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, n: int = 14) -> ADX:
    """Average directional index with +DI/-DI (TA-Lib ADX, PLUS_DI, MINUS_DI).

    +DM = up-move if it is positive and larger than the down-move, else 0
    (and symmetrically for -DM). Wilder sums of DM and TR start, like TA-Lib,
    as the plain sum of bars 1..n-1 and are updated S = S - S/n + value from
    bar n; DI = 100*S_DM/S_TR, DX = 100*|+DI - -DI|/(+DI + -DI); ADX is the
    mean of the first n DX then (ADX*(n-1) + DX)/n.
    Warm-up: DIs n bars, ADX 2n-1 bars.
    Departures (flat markets only): DI is 0 when the TR sum is exactly 0 and
    DX is 0 when both DIs are 0; TA-Lib uses an absolute 1e-8 threshold and,
    after the first ADX, keeps ADX unchanged instead of averaging in DX = 0.
    For n == 1 TA-Lib's PLUS_DI/MINUS_DI return a fraction (no *100); we do not.
    """
    from atb.strategy import _indicator_kernels as kern

    h = _series(high, "high")
    lo = _series(low, "low")
    c = _series(close, "close")
    _same_length(high=h, low=lo, close=c)
    n = _period(n, "n")
    return ADX(*kern.dmi(h, lo, c, n))


def donchian(high: npt.ArrayLike, low: npt.ArrayLike, n: int = 20) -> DonchianChannel:
    """Donchian channel over the last n bars *including* the current one.

    upper = max(high[i-n+1..i]), lower = min(low[i-n+1..i]), middle = their
    mean. Warm-up: n-1 bars. Because the current bar is inside its own
    channel, close[i] can never exceed upper[i]: a breakout rule must compare
    today's close with the *previous* bar's channel, ``close[i] > upper[i-1]``.
    """
    from atb.strategy import _indicator_kernels as kern

    h = _series(high, "high")
    lo = _series(low, "low")
    _same_length(high=h, low=lo)
    n = _period(n, "n")
    upper = kern.rolling_extreme(h, n, True)
    lower = kern.rolling_extreme(lo, n, False)
    return DonchianChannel(upper, lower, (upper + lower) / 2.0)


# --------------------------------------------------------------------------- volume


def _volume(volume: npt.ArrayLike) -> FloatArray:
    v = _series(volume, "volume")
    if np.any(v < 0.0):
        raise ValueError("volume must be >= 0")
    return v


def obv(close: npt.ArrayLike, volume: npt.ArrayLike) -> FloatArray:
    """On-balance volume (TA-Lib OBV). No warm-up.

    The first value is volume[0] (TA-Lib's convention, not 0); then volume is
    added on an up-close, subtracted on a down-close, ignored on an unchanged
    close. The running total uses compensated summation.
    """
    from atb.strategy import _indicator_kernels as kern

    c = _series(close, "close")
    v = _volume(volume)
    _same_length(close=c, volume=v)
    return kern.obv(c, v)


def vwap(
    high: npt.ArrayLike,
    low: npt.ArrayLike,
    close: npt.ArrayLike,
    volume: npt.ArrayLike,
    n: int | None = None,
    anchor: npt.ArrayLike | None = None,
) -> FloatArray:
    """Volume-weighted average of the typical price (high+low+close)/3.

    * ``n`` given: rolling over the last n bars (warm-up n-1 bars);
    * ``anchor`` given: an integer key per bar (e.g. ``ts // NS_PER_DAY`` for a
      UTC-day session VWAP); the sums restart whenever the key changes;
    * neither: cumulative from the first bar.
    ``n`` and ``anchor`` are mutually exclusive. A window/session whose volume
    is all zero so far is NaN (no division happens). Volume must be >= 0.
    """
    from atb.strategy import _indicator_kernels as kern

    h = _series(high, "high")
    lo = _series(low, "low")
    c = _series(close, "close")
    v = _volume(volume)
    _same_length(high=h, low=lo, close=c, volume=v)
    with np.errstate(invalid="ignore"):  # inf - inf or inf * 0: NaN, handled as missing below
        pv = (h + lo + c) / 3.0 * v
    if n is not None and anchor is not None:
        raise ValueError("vwap takes either n (rolling) or anchor (sessions), not both")
    if n is not None:
        n = _period(n, "n")
        return kern.rolling_vwap(pv, v, n)
    if anchor is None:
        return kern.vwap_cumulative(pv, v, np.empty(0, np.int64), False)
    keys = np.asarray(anchor)
    if keys.ndim != 1 or not np.issubdtype(keys.dtype, np.integer):
        raise ValueError(f"anchor must be a 1-D integer array of period keys, got {keys.dtype} {keys.shape}")
    if len(keys) != len(v):
        raise ValueError(f"anchor has {len(keys)} rows, prices have {len(v)}")
    keys64 = np.ascontiguousarray(keys, dtype=np.int64)
    return kern.vwap_cumulative(pv, v, keys64, True)


# --------------------------------------------------------------------------- signals


def _pair(a: npt.ArrayLike, b: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    a_arr = np.asarray(a, dtype=np.float64)
    b_arr = np.asarray(b, dtype=np.float64)
    if a_arr.ndim == 0 and b_arr.ndim == 0:
        raise ValueError("crossover/crossunder need at least one 1-D series")
    if a_arr.ndim == 0:
        a_arr = np.broadcast_to(a_arr, b_arr.shape)
    if b_arr.ndim == 0:
        b_arr = np.broadcast_to(b_arr, a_arr.shape)
    if a_arr.ndim != 1 or b_arr.ndim != 1:
        raise ValueError(f"a and b must be 1-D, got shapes {a_arr.shape} and {b_arr.shape}")
    _same_length(a=a_arr, b=b_arr)
    return np.ascontiguousarray(a_arr), np.ascontiguousarray(b_arr)


def _cross(a: npt.ArrayLike, b: npt.ArrayLike, up: bool) -> BoolArray:
    from atb.strategy import _indicator_kernels as kern

    a_arr, b_arr = _pair(a, b)
    return kern.cross(a_arr, b_arr, up)


def crossover(a: npt.ArrayLike, b: npt.ArrayLike) -> BoolArray:
    """True at bar i when a[i] > b[i] and, at the previous bar where both were
    defined (not NaN), a <= b.

    Either argument may be a scalar level (``crossover(rsi_14, 30.0)``).
    A tie bar counts as "not above": below -> equal -> above is one cross, at
    the 'above' bar (never two, never at the tie). The flip side of this
    (standard TradingView/backtrader) rule: a touch from above, above -> equal
    -> above, also reports a cross at the second 'above' bar. NaN bars are
    skipped, so a cross may span a gap; False wherever a or b is NaN and at
    the first defined bar.
    """
    return _cross(a, b, True)


def crossunder(a: npt.ArrayLike, b: npt.ArrayLike) -> BoolArray:
    """True at bar i when a[i] < b[i] and, at the previous bar where both were
    defined, a >= b. Mirror image of `crossover` (same tie and NaN rules)."""
    return _cross(a, b, False)
