"""Extended performance metrics: rolling ratios, return-distribution shape, benchmark-relative numbers.

"pandas in, numbers out": every function accepts numpy arrays (returns or
equity, plus int64 UTC-epoch-ns timestamps where time matters) or a pandas
Series with a DatetimeIndex, detected by duck typing so this module never
imports pandas. Outputs are numpy arrays (rolling series) or plain Python
floats / None (scalars).

Conventions, shared with `atb.analytics.performance`:

* **Returns** are simple per-period returns `r[i] = e[i] / e[i-1] - 1` of
  consecutive equity points (no anchoring here: pass `[initial, *equity]` to
  measure from the initial cash). NaN returns (the first value of
  `Series.pct_change()`) are dropped by the scalar functions.
* **Annualisation** uses `periods_per_year` = 365 days / spacing of the
  points (crypto trades every day; 2h bars -> 4380). Volatility scales by
  `sqrt(ppy)`, a mean return by compounding `(1 + mean) ** ppy - 1`.
* **Samples.** Standard deviations are sample ones (ddof=1); skewness and
  kurtosis are the biased population moments (scipy.stats defaults).
* **Undefined scalars are None**, never NaN or inf (too few samples, a zero
  denominator, overflow). As for the Sharpe ratio, a mean over a dispersion
  is 0.0 when there is no dispersion at all. Rolling *series* carry NaN
  during their warm-up, which is what a chart needs.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from atb.analytics.performance import NS_PER_DAY, NS_PER_YEAR, drawdown_series, periods_per_year
from atb.analytics.performance import returns as simple_returns
from atb.analytics.reductions import dot

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Keys of `extended_stats`, in report order.
EXTENDED_STAT_KEYS: tuple[str, ...] = (
    "omega",
    "tail_ratio",
    "skew",
    "kurtosis",
    "ulcer_index",
    "exposure_adjusted_return_pct",
    "turnover_ann",
    "alpha_ann_pct",
    "beta",
    "information_ratio",
)

# --- inputs -------------------------------------------------------------------------------------


def is_series(x: object) -> bool:
    """A pandas Series (or anything shaped like one), without importing pandas."""
    return hasattr(x, "index") and hasattr(x, "to_numpy")


def as_values(x: Any) -> FloatArray:
    """1-D float64 numpy view/copy of an array or Series."""
    arr = np.asarray(x.to_numpy(dtype=np.float64) if is_series(x) else x, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"expected a one-dimensional series, got shape {arr.shape}")
    return arr


def _utc_naive(times: Any) -> npt.NDArray[Any]:
    """numpy times of a DatetimeIndex / datetime Series / array, tz-aware ones converted to naive UTC."""
    if is_series(times) and hasattr(times, "dt"):  # a Series of datetimes
        times = times.dt.tz_convert(None) if getattr(times.dt, "tz", None) is not None else times
    elif getattr(times, "tz", None) is not None:  # a tz-aware DatetimeIndex
        times = times.tz_convert(None)
    return np.asarray(times.to_numpy() if hasattr(times, "to_numpy") else times)


def series_times(x: Any, ts: Any = None) -> IntArray:
    """UTC epoch ns of each value: the Series' DatetimeIndex (naive = UTC), or `ts` for arrays.

    `ts` may be int64 epoch ns or datetime64 values. Times must be
    non-decreasing (equal times are allowed so a curve can be anchored at
    its first point's time).
    """
    if ts is None:
        if not is_series(x):
            raise ValueError("numpy input needs ts (UTC epoch ns)")
        raw = _utc_naive(x.index)
        if raw.dtype.kind != "M":
            raise ValueError("a Series needs a DatetimeIndex (or pass ts)")
    else:
        raw = _utc_naive(ts)
    if raw.dtype.kind == "M":
        raw = raw.astype("datetime64[ns]")
    t = raw.astype(np.int64)
    if t.ndim != 1 or len(t) != len(x):
        raise ValueError(f"{len(x)} values but {len(t)} timestamps")
    if len(t) > 1 and (np.diff(t) < 0).any():
        raise ValueError("timestamps must be non-decreasing")
    return t


def as_equity(x: Any) -> FloatArray:
    """Equity values, which must be finite and start positive (a curve, unlike returns, has no gaps)."""
    eq = as_values(x)
    if len(eq) == 0:
        raise ValueError("an equity curve needs at least one point")
    if not np.isfinite(eq).all():
        raise ValueError("equity contains NaN or inf")
    if eq[0] <= 0.0:
        raise ValueError("the first equity value must be positive")
    return eq


def _clean(returns: Any) -> FloatArray:
    r = as_values(returns)
    return r[~np.isnan(r)]


def _paired(returns: Any, benchmark: Any) -> tuple[FloatArray, FloatArray]:
    """Aligned returns, dropping positions where either is NaN (Series are aligned by position)."""
    r, b = as_values(returns), as_values(benchmark)
    if len(r) != len(b):
        raise ValueError(f"returns has {len(r)} values, benchmark {len(b)}")
    keep = ~(np.isnan(r) | np.isnan(b))
    return r[keep], b[keep]


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _compound(mean: float, ppy: float) -> float | None:
    """(1 + mean) ** ppy - 1 via logs; -1 when mean <= -1, None on overflow."""
    if mean <= -1.0:
        return -1.0
    try:
        return _finite(math.expm1(math.log1p(mean) * ppy))
    except OverflowError:
        return None


# --- rolling series -----------------------------------------------------------------------------


def _rolling_moments(r: FloatArray, window: int) -> tuple[FloatArray, FloatArray, npt.NDArray[np.bool_]]:
    """Rolling mean, sample std (ddof=1) and "window holds a NaN" for windows ending at each index.

    Differences of cumulative sums of the *centred* returns give every
    window in O(n); their rounding error is about eps x the cumulative sum of
    squares, so a window whose sum of squared deviations is below 1e-6 of
    that (a nearly flat stretch in a long volatile series) is recomputed
    directly, two-pass, from its values. A window whose values are all identical gets
    a std of exactly 0 (via a cumulative count of value changes), so flat
    stretches never show a rounding-noise std.
    """
    if window < 2:
        raise ValueError(f"window must be at least 2, got {window}")
    n = len(r)
    nan = np.isnan(r)
    x = np.where(nan, 0.0, r)
    centre = float(x.mean()) if n else 0.0
    x = x - centre

    def cumulative(v: npt.NDArray[Any]) -> npt.NDArray[Any]:
        return np.concatenate(([0], np.cumsum(v)))

    c1, c2 = cumulative(x), cumulative(x * x)
    s1, s2 = c1[window:] - c1[:-window], c2[window:] - c2[:-window]
    cn = cumulative(nan.astype(np.int64))
    has_nan = (cn[window:] - cn[:-window]) > 0
    changes = cumulative(np.concatenate(([0], (r[1:] != r[:-1]).astype(np.int64))))  # r[i] != r[i-1]
    flat = (changes[window:] - changes[1 : n - window + 2]) == 0 if n >= window else np.zeros(0, dtype=np.bool_)
    mean = s1 / window + centre
    ssd = s2 - s1 * s1 / window  # sum of squared deviations of each window
    var = np.maximum(ssd, 0.0) / (window - 1)
    redo = np.flatnonzero((ssd <= 1e-6 * c2[window:]) & ~flat & ~has_nan)
    if len(redo):
        exact = np.lib.stride_tricks.sliding_window_view(np.where(nan, 0.0, r), window)[redo]
        mean[redo] = exact.mean(axis=1)
        var[redo] = ((exact - mean[redo, None]) ** 2).sum(axis=1) / (window - 1)
    std = np.where(flat, 0.0, np.sqrt(var))
    return mean, std, has_nan


def _warm(values: FloatArray, has_nan: npt.NDArray[np.bool_], n: int, window: int) -> FloatArray:
    out = np.full(n, np.nan)
    if n >= window:
        out[window - 1 :] = np.where(has_nan, np.nan, values)
    return out


def rolling_volatility(returns: Any, window: int, periods_per_year: float) -> FloatArray:
    """Annualised rolling volatility: std(r[i-w+1 .. i], ddof=1) * sqrt(ppy), as a fraction.

    Same length as `returns`; the first `window - 1` values (and any window
    containing a NaN) are NaN, like `Series.rolling(window).std()`.
    """
    r = as_values(returns)
    _, std, has_nan = _rolling_moments(r, window)
    return _warm(std * math.sqrt(periods_per_year), has_nan, len(r), window)


def rolling_sharpe(returns: Any, window: int, periods_per_year: float) -> FloatArray:
    """Annualised rolling Sharpe ratio: mean / std(ddof=1) * sqrt(ppy) over each window, risk-free 0.

    Same length and warm-up as `rolling_volatility`. A window with no
    dispersion (flat equity) is 0.0, the convention of `sharpe_ratio`.
    (empyrical's `roll_sharpe_ratio` is the same number without the warm-up
    prefix.)
    """
    r = as_values(returns)
    mean, std, has_nan = _rolling_moments(r, window)
    with np.errstate(divide="ignore", invalid="ignore"):
        sharpe = np.where(std > 0.0, mean / std, 0.0) * math.sqrt(periods_per_year)
    return _warm(sharpe, has_nan, len(r), window)


# --- distribution shape -------------------------------------------------------------------------


def omega_ratio(returns: Any, threshold: float = 0.0) -> float | None:
    """Omega = sum(max(r - t, 0)) / sum(max(t - r, 0)), `t` a per-period threshold.

    The gains above the threshold over the shortfalls below it. `threshold`
    is per period, not annual (empyrical's `omega_ratio(..., annualization=1)`).
    None with fewer than 2 returns or no return below the threshold.
    """
    return _omega(_clean(returns), threshold)


def _omega(r: FloatArray, threshold: float = 0.0) -> float | None:
    if len(r) < 2:
        return None
    excess = r - threshold
    gains = float(np.maximum(excess, 0.0).sum())
    losses = -float(np.minimum(excess, 0.0, out=excess).sum())
    return _finite(gains / losses) if losses > 0.0 else None


def tail_ratio(returns: Any) -> float | None:
    """95th percentile / |5th percentile| of the returns (numpy's linear interpolation).

    Above 1 the right tail is fatter than the left. Unlike empyrical the
    numerator keeps its sign, so a strategy whose best days are losses gets a
    negative ratio. None for no returns or a 5th percentile of exactly 0.
    """
    return _tail(_clean(returns))


def _tail(r: FloatArray) -> float | None:
    if len(r) == 0:
        return None
    p5, p95 = np.percentile(r, [5.0, 95.0])
    return _finite(float(p95) / abs(float(p5))) if p5 != 0.0 else None


def _central_moments(r: FloatArray) -> tuple[float, float, float] | None:
    """(m2, m3, m4) population central moments; None when the variance is 0 or lost to rounding."""
    if len(r) < 2 or r.max() == r.min():
        return None
    mean = float(r.mean())
    n = len(r)
    d = r - mean
    d2 = d * d
    m2 = float(d2.sum()) / n
    if m2 <= (np.finfo(np.float64).eps * mean) ** 2:  # scipy's precision-loss test
        return None
    return m2, dot(d2, d) / n, dot(d2, d2) / n


def _skew(m: tuple[float, float, float] | None) -> float | None:
    return None if m is None else _finite(m[1] / m[0] ** 1.5)


def _kurt(m: tuple[float, float, float] | None) -> float | None:
    return None if m is None else _finite(m[2] / m[0] ** 2 - 3.0)


def skewness(returns: Any) -> float | None:
    """Biased sample skewness m3 / m2 ** 1.5 (population central moments).

    This is `scipy.stats.skew(r)` with its default `bias=True`. None with
    fewer than 2 returns or no dispersion.
    """
    return _skew(_central_moments(_clean(returns)))


def excess_kurtosis(returns: Any) -> float | None:
    """Biased excess kurtosis m4 / m2 ** 2 - 3 (0 for a normal distribution).

    This is `scipy.stats.kurtosis(r)` with its defaults `fisher=True,
    bias=True`. None with fewer than 2 returns or no dispersion.
    """
    return _kurt(_central_moments(_clean(returns)))


def ulcer_index(equity: Any) -> float:
    """sqrt(mean(d[i] ** 2)) with d[i] = 100 * (e[i] / max(e[0..i]) - 1): RMS drawdown in %.

    Every point counts (points at a peak contribute 0), so deep *and* long
    drawdowns both raise it. 0.0 for a curve that never falls. After ruin
    (equity <= 0) the drawdown is -100 %.
    """
    dd = drawdown_series(as_equity(equity)) * 100.0
    return math.sqrt(dot(dd, dd) / len(dd))


# --- exposure and turnover ----------------------------------------------------------------------


def exposure_adjusted_return(total_return_pct: float | None, exposure_pct: float | None) -> float | None:
    """total_return_pct / (exposure_pct / 100), in %: the return per unit of time in the market.

    A strategy making 10 % while exposed 25 % of the time scores 40 %. None
    if either input is None or the exposure is not positive.
    """
    if total_return_pct is None or exposure_pct is None or not exposure_pct > 0.0:
        return None
    return _finite(total_return_pct / (exposure_pct / 100.0))


def turnover(traded_notional: float | None, average_equity: float, days: float) -> float | None:
    """Annualised turnover: traded_notional / average_equity * 365 / days.

    `traded_notional` sums |quantity x price| of every fill, buys and sells,
    so one round trip of the whole account counts 2.0; 12.0 means the account
    traded 12 times its average equity per year. None without a notional, a
    positive average equity or a positive duration.
    """
    if traded_notional is None or not average_equity > 0.0 or not days > 0.0:
        return None
    return _finite(traded_notional / average_equity * 365.0 / days)


# --- benchmark-relative -------------------------------------------------------------------------


def alpha_beta(returns: Any, benchmark_returns: Any, periods_per_year: float) -> tuple[float | None, float | None]:
    """CAPM regression r = alpha + beta * b (risk-free 0): (annualised alpha as a fraction, beta).

    beta = cov(r, b) / var(b) (both population moments, so ddof cancels);
    the per-period alpha is the intercept mean(r - beta * b), annualised by
    compounding `(1 + alpha) ** ppy - 1` - exactly `empyrical.alpha_beta(r, b,
    annualization=ppy)`. Pairs with a NaN on either side are dropped. (None,
    None) with fewer than 2 pairs or a benchmark without variance; alpha
    alone is None if compounding overflows.
    """
    return _alpha_beta(*_paired(returns, benchmark_returns), periods_per_year)


def _alpha_beta(r: FloatArray, b: FloatArray, periods_per_year: float) -> tuple[float | None, float | None]:
    if len(r) < 2 or b.max() == b.min():
        return None, None
    b_dev = b - b.mean()
    var_b = dot(b_dev, b_dev)
    if var_b <= 0.0:
        return None, None
    beta = dot(b_dev, r) / var_b
    if not math.isfinite(beta):
        return None, None
    return _compound(float(r.mean()) - beta * float(b.mean()), periods_per_year), beta


def information_ratio(returns: Any, benchmark_returns: Any, periods_per_year: float) -> float | None:
    """mean(a) / std(a, ddof=1) * sqrt(ppy) with active returns a = r - b.

    The annualised Sharpe ratio of the active return; empyrical's
    `excess_sharpe` is the same without the sqrt(ppy). None with fewer than 2
    pairs; 0.0 when the active return has no dispersion beyond float
    rounding (the strategy *is* the benchmark plus a constant).
    """
    return _information(*_paired(returns, benchmark_returns), periods_per_year)


def _information(r: FloatArray, b: FloatArray, periods_per_year: float) -> float | None:
    if len(r) < 2:
        return None
    active = r - b
    mean = float(active.mean())
    dev = active - mean
    std = math.sqrt(dot(dev, dev) / (len(active) - 1))
    # r - b rounds each difference by up to eps * max(|r|, |b|): a tracking error that small is
    # rounding noise (the strategy *is* the benchmark plus a constant), not a tiny real risk.
    noise = 4.0 * np.finfo(np.float64).eps * max(float(np.abs(r).max()), float(np.abs(b).max()))
    if std <= noise:
        return 0.0
    return _finite(mean / std * math.sqrt(periods_per_year))


# --- bundle -------------------------------------------------------------------------------------


def extended_stats(
    equity: Any,
    ts: Any = None,
    timeframe_ns: int | None = None,
    benchmark_close: Any = None,
    exposure_pct: float | None = None,
    traded_notional: float | None = None,
) -> dict[str, float | None]:
    """The scalars of this module for one equity curve, keys in `EXTENDED_STAT_KEYS` order.

    `equity` holds the curve's points at times `ts` (UTC ns; taken from the
    index for a Series), `timeframe_ns` their spacing (the bar length, or bar
    length x thinning for thinned points), which sets `periods_per_year`;
    without it the median spacing of `ts` is used. `benchmark_close` is a
    price series at the same points (buy & hold of the traded instrument).

    - `omega`, `tail_ratio`, `skew`, `kurtosis` (excess): of the simple returns.
    - `ulcer_index`: RMS drawdown in % (`ulcer_index`).
    - `exposure_adjusted_return_pct`: (e[-1] / e[0] - 1) * 100 / (exposure_pct / 100).
    - `turnover_ann`: traded_notional / mean(max(e, 0)) * 365 / days, days = (ts[-1] - ts[0]) / 1 day.
    - `alpha_ann_pct`, `beta`, `information_ratio`: against the benchmark's returns.

    Every value is a plain float or None (JSON-safe); missing inputs give None.
    """
    with np.errstate(over="ignore", invalid="ignore"):  # absurd magnitudes overflow to inf -> None below
        return _extended(as_equity(equity), series_times(equity, ts), timeframe_ns, benchmark_close,
                         exposure_pct, traded_notional)  # fmt: skip


def _extended(
    eq: FloatArray,
    t: IntArray,
    timeframe_ns: int | None,
    benchmark_close: Any,
    exposure_pct: float | None,
    traded_notional: float | None,
) -> dict[str, float | None]:
    if timeframe_ns is None:
        steps = np.diff(t)
        steps = steps[steps > 0]
        timeframe_ns = int(np.median(steps)) if len(steps) else NS_PER_YEAR
    ppy = periods_per_year(timeframe_ns)
    r = simple_returns(eq)
    days = (int(t[-1]) - int(t[0])) / NS_PER_DAY
    total_pct = -100.0 if (eq <= 0.0).any() else (float(eq[-1]) / float(eq[0]) - 1.0) * 100.0
    moments = _central_moments(r)  # r comes from a finite curve: no NaN to drop
    alpha: float | None = None
    beta: float | None = None
    info: float | None = None
    if benchmark_close is not None:
        close = as_values(benchmark_close)
        if len(close) != len(eq):
            raise ValueError(f"benchmark_close has {len(close)} values, equity {len(eq)}")
        if (close > 0.0).all():
            bench = close[1:] / close[:-1] - 1.0
            alpha, beta = _alpha_beta(r, bench, ppy)
            info = _information(r, bench, ppy)
    out: dict[str, float | None] = {
        "omega": _omega(r),
        "tail_ratio": _tail(r),
        "skew": _skew(moments),
        "kurtosis": _kurt(moments),
        "ulcer_index": ulcer_index(eq),
        "exposure_adjusted_return_pct": exposure_adjusted_return(total_pct, exposure_pct),
        "turnover_ann": turnover(traded_notional, float(np.maximum(eq, 0.0).mean()), days),
        "alpha_ann_pct": None if alpha is None else alpha * 100.0,
        "beta": beta,
        "information_ratio": info,
    }
    return {k: None if v is None else _finite(float(v)) for k, v in out.items()}
