"""Backtest performance statistics: the numbers printed after `atb backtest`.

numpy only (pandas/scipy imports would cost more than a short backtest), and
every statistic is a handful of vectorised passes, so a 1,000,000-bar curve
with 30,000 trades is summarised in a few tens of milliseconds.

Conventions shared by every function here (each is restated where it is used):

* **The equity curve is anchored at the initial cash.** `equity[i]` is marked
  at the *close* of bar i (time `ts[i] + timeframe_ns`); before the first bar
  opens (time `ts[0]`) the account holds `initial_cash`. `compute_stats`
  therefore works on the N+1 points `[initial_cash, equity[0], ...,
  equity[-1]]` at times `[ts[0], ts[0] + tf, ..., ts[-1] + tf]`: N bars give N
  per-bar returns spanning exactly `ts[-1] + tf - ts[0]`, a loss on the very
  first bar (entry fees, a gap down) is a return and a drawdown like any
  other, and a single bar has a defined return and elapsed time.
* **Returns** are simple per-bar returns `r[i] = e[i] / e[i-1] - 1`.
* **Annualisation** follows the calendar of the data: crypto trades 365 days
  a year, so `periods_per_year = 365 days / timeframe` (2h bars -> 4380).
  Gaps in `ts` (exchange outages) are ignored by per-bar ratios (a return
  over a gap counts as one bar) but not by CAGR, which uses calendar time.
* **Ruin.** Once equity is <= 0 the account is wiped out: that bar's return is
  -100 %, every later return is 0 and later equity counts as 0 for drawdowns;
  `return_pct` and `cagr_pct` are -100. Nothing divides by zero.
* **Undefined values are None** (JSON null), never NaN or inf: too few samples
  (volatility of one return), a zero denominator (profit factor without a
  losing trade, Calmar without a drawdown, Sortino without a losing bar) or a
  value that overflows float64 (the CAGR of a few hours of gains compounded
  to a year). One deliberate exception: a ratio of a mean to a dispersion
  (Sharpe, Sortino, SQN) is 0.0 when the sample has no dispersion at all
  (flat equity): no variation means no risk-adjusted signal, and 0.0 keeps
  parameter sweeps sortable.
* Percentages are in % (x100), durations in days (float), every output value
  a plain Python float/int/str/None at full precision.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from atb.analytics.reductions import dot
from atb.analytics.trade_stats import TRADE_STAT_KEYS, TradeArrays, as_vector, trade_stats

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

StatValue = float | int | str | None
Stats = dict[str, StatValue]

NS_PER_SECOND = 1_000_000_000
NS_PER_DAY = 86_400 * NS_PER_SECOND
DAYS_PER_YEAR = 365
NS_PER_YEAR = DAYS_PER_YEAR * NS_PER_DAY

#: Keys of `compute_stats`, in report order.
STAT_KEYS: tuple[str, ...] = (
    "start",
    "end",
    "duration_days",
    "bars",
    "exposure_pct",
    "initial_equity",
    "final_equity",
    "peak_equity",
    "return_pct",
    "buy_hold_return_pct",
    "cagr_pct",
    "volatility_ann_pct",
    "sharpe",
    "sortino",
    "calmar",
    "max_drawdown_pct",
    "max_drawdown_duration_days",
    "avg_drawdown_pct",
    *TRADE_STAT_KEYS,
    "fees",
)


@dataclass(frozen=True, slots=True)
class EquityCurve:
    """Mark-to-market account value per bar.

    `equity[i]` is the value at the close of bar i, `ts[i]` that bar's *open*
    time (UTC epoch ns, as in `atb.data.bars.Bars`), `exposed[i]` whether a
    position was open at that close. Arrays are coerced to float64/int64/bool
    here so the statistics can trust dtypes.
    """

    equity: FloatArray
    ts: IntArray
    timeframe_ns: int
    exposed: BoolArray

    def __post_init__(self) -> None:
        object.__setattr__(self, "equity", as_vector(self.equity, np.float64, "equity"))
        object.__setattr__(self, "ts", as_vector(self.ts, np.int64, "ts"))
        object.__setattr__(self, "exposed", as_vector(self.exposed, np.bool_, "exposed"))
        n = len(self.equity)
        if n == 0:
            raise ValueError("an equity curve needs at least one bar")
        for name in ("ts", "exposed"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name!r} has {len(getattr(self, name))} rows, equity has {n}")
        if self.timeframe_ns <= 0:
            raise ValueError(f"timeframe_ns must be positive, got {self.timeframe_ns}")
        if not np.isfinite(self.equity).all():
            raise ValueError("equity contains NaN or inf")
        if n > 1 and not (np.diff(self.ts) > 0).all():
            raise ValueError("ts must be strictly increasing")

    def __len__(self) -> int:
        return len(self.equity)

    @property
    def elapsed_ns(self) -> int:
        """From the first bar's open to the last bar's close: the time the curve covers."""
        return int(self.ts[-1]) + self.timeframe_ns - int(self.ts[0])


class Drawdown(NamedTuple):
    """Result of `max_drawdown`.

    `depth` is the deepest drawdown as a negative fraction (-0.35 = 35 % below
    the running peak; 0.0 if never underwater). `peak_idx`/`valley_idx` locate
    that deepest drawdown. `duration_ns` is the *longest* underwater period of
    the curve (peak to recovery, or to the end if not recovered), which need
    not be the deepest one - that is what "max drawdown duration" means in
    backtest reports.
    """

    depth: float
    duration_ns: int
    peak_idx: int
    valley_idx: int


def _first_ruin(equity: FloatArray) -> int | None:
    """Index of the first value <= 0, or None (one vectorised pass, copy-free)."""
    nonpositive = equity <= 0.0
    if not nonpositive.any():
        return None
    return int(nonpositive.argmax())


def _effective(equity: FloatArray) -> FloatArray:
    """The curve with everything from the first ruin on set to 0 (see the module docstring)."""
    k = _first_ruin(equity)
    if k is None:
        return equity
    out = equity.copy()
    out[k:] = 0.0
    return out


def periods_per_year(timeframe_ns: int) -> float:
    """365 * 1 day / timeframe: crypto trades every day of the year (2h bars -> 4380)."""
    if timeframe_ns <= 0:
        raise ValueError(f"timeframe_ns must be positive, got {timeframe_ns}")
    return NS_PER_YEAR / timeframe_ns


def returns(equity: FloatArray, initial: float | None = None) -> FloatArray:
    """Simple per-period returns r[i] = e[i+1] / e[i] - 1 (length len(e) - 1).

    With `initial`, the curve is first anchored as `[initial, *equity]`, giving
    one return per bar (how `compute_stats` uses it). Ruin: from the first
    value <= 0 the account is wiped out, so that step returns exactly -1 and
    every later step 0 - the alternative, dividing by zero or a negative
    balance, would produce inf/NaN or sign-flipped returns.
    """
    eq = np.asarray(equity, dtype=np.float64)
    if initial is not None:
        eq = np.concatenate((np.array([initial], dtype=np.float64), eq))
    if len(eq) < 2:
        return np.empty(0, dtype=np.float64)
    k = _first_ruin(eq)
    if k is None:
        with np.errstate(over="ignore"):  # 1e300 / 1e-300 -> inf; the statistics map it to None
            r: FloatArray = eq[1:] / eq[:-1]
        r -= 1.0
        return r
    if k == 0:
        raise ValueError("the first equity value must be positive")
    r = np.zeros(len(eq) - 1, dtype=np.float64)
    with np.errstate(over="ignore"):
        r[: k - 1] = eq[1:k] / eq[: k - 1] - 1.0
    r[k - 1] = -1.0
    return r


def _finite(value: float) -> float | None:
    """None for a value float64 cannot represent (overflow/NaN from absurd inputs like 1e-300 equity)."""
    return value if math.isfinite(value) else None


def _no_dispersion(r: FloatArray) -> bool:
    # Exact test, not std == 0: the float mean of identical values can differ
    # from them in the last bit, leaving a ~1e-18 std that would turn 0/0
    # into an arbitrary huge ratio.
    return bool(r.max() == r.min())


def _mean_std(r: FloatArray) -> tuple[float, float]:
    """mean and std(ddof=1); may be inf/NaN for absurd magnitudes (callers check)."""
    with np.errstate(over="ignore", invalid="ignore"):
        mean = float(r.mean())
        dev = r - mean
        var = dot(dev, dev) / (len(r) - 1)
    return mean, math.sqrt(var) if var >= 0.0 else math.nan


def annual_volatility(r: FloatArray, ppy: float) -> float | None:
    """std(r, ddof=1) * sqrt(ppy), as a fraction. None with fewer than 2 returns."""
    if len(r) < 2:
        return None
    if _no_dispersion(r):
        return 0.0
    return _finite(_mean_std(r)[1] * math.sqrt(ppy))


def sharpe_ratio(r: FloatArray, ppy: float) -> float | None:
    """mean(r) / std(r, ddof=1) * sqrt(ppy), risk-free rate 0.

    None with fewer than 2 returns; 0.0 when all returns are identical (zero
    volatility, see the module docstring) or differ by less than float64 can
    square.
    """
    if len(r) < 2:
        return None
    if _no_dispersion(r):
        return 0.0
    mean, std = _mean_std(r)
    if std == 0.0:
        return 0.0
    return _finite(mean / std * math.sqrt(ppy))


def downside_deviation(r: FloatArray) -> float:
    """sqrt(mean(min(r, 0)^2)) over *all* returns (required return 0).

    The mean runs over every period, not only the losing ones, as in
    empyrical's `downside_risk`: a strategy that rarely loses has a small
    downside deviation.
    """
    down = np.minimum(r, 0.0)
    with np.errstate(over="ignore"):
        return math.sqrt(dot(down, down) / len(r))


def sortino_ratio(r: FloatArray, ppy: float) -> float | None:
    """mean(r) / downside_deviation(r) * sqrt(ppy), required return 0.

    None with fewer than 2 returns (like Sharpe) or when no period lost money
    while some gained (unbounded); 0.0 when all returns are identical.
    """
    if len(r) < 2:
        return None
    if _no_dispersion(r):
        return 0.0
    dd = downside_deviation(r)
    if dd == 0.0:
        return None
    with np.errstate(over="ignore", invalid="ignore"):
        mean = float(r.mean())
    return _finite(mean / dd * math.sqrt(ppy))


def cagr(initial: float, final: float, elapsed_ns: int) -> float | None:
    """(final / initial) ** (365 days / elapsed) - 1, as a fraction, over calendar time.

    `elapsed_ns` is the calendar time between the two values (for a bar curve:
    `ts[-1] + timeframe_ns - ts[0]`), so gaps in the data count as time.
    final <= 0 (ruin) gives -1.0. None if the result overflows float64, which
    happens when a short run's gain is compounded to a year.
    """
    if initial <= 0.0:
        raise ValueError(f"initial equity must be positive, got {initial}")
    if elapsed_ns <= 0:
        raise ValueError(f"elapsed_ns must be positive, got {elapsed_ns}")
    growth = final / initial
    if growth <= 0.0:  # ruin, or a remainder too small for float64
        return -1.0
    try:
        return _finite(math.expm1(math.log(growth) * (NS_PER_YEAR / elapsed_ns)))
    except OverflowError:
        return None


def calmar_ratio(cagr_fraction: float | None, max_drawdown_depth: float) -> float | None:
    """CAGR / |max drawdown|, both fractions. None without a drawdown or a CAGR."""
    if cagr_fraction is None or max_drawdown_depth == 0.0:
        return None
    return _finite(cagr_fraction / abs(max_drawdown_depth))


def drawdown_series(equity: FloatArray) -> FloatArray:
    """e[i] / max(e[0..i]) - 1: 0 at a running peak, -0.25 when 25 % below it.

    Values lie in [-1, 0]; after ruin (equity <= 0) the curve counts as 0, so
    the drawdown is exactly -1 rather than below -100 %.
    """
    eq = _drawdown_curve(equity)
    dd: FloatArray = eq / np.maximum.accumulate(eq)
    dd -= 1.0
    return dd


def last_drawdown(equity: FloatArray) -> float:
    """`drawdown_series(equity)[-1]` in one pass: the last value against the highest (0.0 for an empty curve)."""
    eq = _drawdown_curve(equity)
    return float(eq[-1] / eq.max()) - 1.0 if len(eq) else 0.0


def _drawdown_curve(equity: FloatArray) -> FloatArray:
    """The curve drawdowns are measured on (`_effective`), which must start positive."""
    eq = _effective(np.asarray(equity, dtype=np.float64))
    if len(eq) and eq[0] <= 0.0:
        raise ValueError("the first equity value must be positive")
    return eq


class _DrawdownEpisodes(NamedTuple):
    summary: Drawdown
    depths: FloatArray  # deepest point of each underwater episode (negative fractions)


def _drawdown_episodes(equity: FloatArray, time_of: Callable[[IntArray], IntArray]) -> _DrawdownEpisodes:
    """Every underwater episode of the curve, vectorised.

    An episode is a maximal run of points strictly below the running peak.
    Its peak is the point just before the run (at the peak by definition),
    its recovery the first point after it that is back at the peak (equal
    counts as recovered), or the last point if the curve ends underwater.
    `time_of` maps point indices to times; it is only asked about episode
    boundaries, so the anchored time axis never has to be materialised.
    """
    eq = _effective(np.asarray(equity, dtype=np.float64))
    if len(eq) == 0:
        raise ValueError("an equity curve needs at least one point")
    if eq[0] <= 0.0:
        raise ValueError("the first equity value must be positive")
    peak = np.maximum.accumulate(eq)
    under = eq < peak  # under[0] is False: the first point is its own peak
    if not under.any():
        return _DrawdownEpisodes(Drawdown(0.0, 0, 0, 0), np.empty(0, dtype=np.float64))
    ratio = eq / peak  # drawdown + 1; the -1 is applied to the few values we keep
    step = np.diff(under.view(np.int8))
    starts = np.flatnonzero(step == 1) + 1  # first underwater point of each episode
    recoveries = np.flatnonzero(step == -1) + 1  # first point back at the peak
    if len(recoveries) < len(starts):  # ends underwater: runs to the last point
        recoveries = np.append(recoveries, len(eq) - 1)
    durations = time_of(recoveries) - time_of(starts - 1)
    depths: FloatArray = np.minimum.reduceat(ratio, starts) - 1.0
    valley = int(ratio.argmin())
    episode = int(np.searchsorted(starts, valley, side="right")) - 1
    summary = Drawdown(
        depth=float(depths[episode]),
        duration_ns=int(durations.max()),
        peak_idx=int(starts[episode]) - 1,
        valley_idx=valley,
    )
    return _DrawdownEpisodes(summary, depths)


def max_drawdown(equity: FloatArray, ts: IntArray) -> Drawdown:
    """Deepest drawdown from the running peak and the longest time underwater.

    `ts[i]` is the time `equity[i]` was marked; only differences are used, so
    bar open times work as well as close times for a regular curve. Returns
    `Drawdown(depth, duration_ns, peak_idx, valley_idx)` - see `Drawdown`.
    """
    t = np.asarray(ts, dtype=np.int64)
    if len(t) != len(equity):
        raise ValueError(f"equity has {len(equity)} points, ts {len(t)}")
    return _drawdown_episodes(equity, lambda idx: t[idx]).summary


class LowerTail(NamedTuple):
    """The order statistics a historical VaR reads, from one partition of the returns.

    `ordered` is `r` partitioned so that `ordered[lo]` and `ordered[hi]` are
    the lo-th and hi-th smallest returns and everything before `lo` is no
    larger; `quantile` is numpy's default ("linear") quantile at alpha.
    """

    ordered: FloatArray
    lo: int
    hi: int
    weight: float
    quantile: float


def lower_tail(r: FloatArray, alpha: float) -> LowerTail:
    """The alpha-quantile of `r` (n >= 1) with its order statistics, in one `np.partition`.

    `np.quantile` partitions a copy, and CVaR needs a second partition for
    the tail; one partition at both interpolation points serves both (a
    million-bar run computes three VaRs at its end). The interpolation is
    numpy's own: index h = (n - 1) alpha, lo = floor(h), t = h - lo,
    a + (b - a) t, or b - (b - a)(1 - t) for t >= 0.5 (`numpy`'s `_lerp`), so
    the value is np.quantile's bit for bit (tested).
    """
    n = len(r)
    h = (n - 1) * alpha
    lo = math.floor(h)
    hi = min(lo + 1, n - 1)
    t = h - lo
    ordered = np.partition(r, [lo, hi]) if hi != lo else np.partition(r, lo)
    a, b = float(ordered[lo]), float(ordered[hi])
    diff = b - a
    value = b - diff * (1.0 - t) if t >= 0.5 else a + diff * t
    return LowerTail(ordered, lo, hi, t, value)


def var_cvar_historical(r: FloatArray, level: float = 0.95) -> tuple[float, float] | None:
    """One-period historical Value at Risk and Conditional VaR, as % losses.

    VaR = -quantile(r, 1 - level) * 100 (numpy's default linear interpolation).
    CVaR = -mean of the k + 1 worst returns * 100 with k = floor((n - 1) * (1 - level)),
    i.e. the order statistics at or below the VaR quantile (a fixed count, so
    ties cannot change the tail size). Positive numbers are losses; a negative
    VaR means even the tail made money. None for an empty series.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if len(r) == 0:
        return None
    tail = lower_tail(r, 1.0 - level)
    return -tail.quantile * 100.0, -float(tail.ordered[: tail.lo + 1].mean()) * 100.0


def iso_utc(ns: int) -> str:
    """UTC epoch ns -> ISO 8601 with a Z suffix ("2017-08-17T04:00:00Z"); sub-second digits only if present."""
    seconds, frac = divmod(int(ns), NS_PER_SECOND)
    text = datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if frac:
        text += f".{frac:09d}".rstrip("0")
    return text + "Z"


def _pct(fraction: float | None) -> float | None:
    return None if fraction is None else fraction * 100.0


def _plain(value: StatValue) -> StatValue:
    """Python scalar with no NaN/inf: a non-finite float (overflow) becomes None."""
    if isinstance(value, bool | str) or value is None:
        return value
    if isinstance(value, int | np.integer):
        return int(value)
    f = float(value)
    return f if math.isfinite(f) else None


def compute_stats(
    curve: EquityCurve,
    trades: TradeArrays,
    *,
    close: FloatArray,
    initial_cash: float,
    total_fees: float,
    bar_returns: FloatArray | None = None,
) -> Stats:
    """The backtest report, keys in `STAT_KEYS` order (see the module docstring for conventions).

    `bar_returns`: `returns(curve.equity, initial_cash)` if the caller has it (the engine's VaR needs it too).

    - `start` = first bar's open, `end` = last bar's close (when the final
      equity is marked), so `duration_days` = end - start = elapsed time.
    - `exposure_pct` = share of bars with a position open at the close.
    - `initial_equity` = `initial_cash`; `final_equity` = equity[-1] as given
      (even after ruin); `peak_equity` = max of the anchored curve.
    - `return_pct` = (final / initial - 1) * 100, -100 after ruin.
    - `buy_hold_return_pct` = (close[-1] / close[0] - 1) * 100 (None if close[0] <= 0).
    - `cagr_pct` = `cagr(initial, final, elapsed)` * 100, -100 after ruin.
    - `volatility_ann_pct` = std(r, ddof=1) * sqrt(ppy) * 100; `sharpe`,
      `sortino` from `sharpe_ratio` / `sortino_ratio` on the per-bar returns.
    - `calmar` = CAGR / |max drawdown|.
    - `max_drawdown_pct` = deepest drawdown * 100 (negative);
      `max_drawdown_duration_days` = longest underwater period;
      `avg_drawdown_pct` = mean over underwater episodes of each episode's
      deepest point * 100 (0.0 when never underwater, like the maximum).
    - Trade keys from `atb.analytics.trade_stats.trade_stats`; `fees` = `total_fees`.
    """
    if not initial_cash > 0.0:
        raise ValueError(f"initial_cash must be positive, got {initial_cash}")
    close = np.asarray(close, dtype=np.float64)
    n = len(curve)
    if len(close) != n:
        raise ValueError(f"close has {len(close)} rows, equity has {n}")

    equity = curve.equity
    tf = curve.timeframe_ns
    elapsed = curve.elapsed_ns
    ppy = periods_per_year(tf)

    anchored = np.concatenate((np.array([initial_cash], dtype=np.float64), equity))
    ts = curve.ts

    def time_of(idx: IntArray) -> IntArray:  # anchored point i > 0 is marked at bar i-1's close
        return np.where(idx == 0, ts[0], ts[idx - 1] + tf)

    r = returns(anchored) if bar_returns is None else bar_returns
    ruined = _first_ruin(equity) is not None
    final = float(equity[-1])
    episodes = _drawdown_episodes(anchored, time_of)
    dd = episodes.summary
    growth = -1.0 if ruined else cagr(initial_cash, final, elapsed)
    first_close = float(close[0])

    stats: Stats = {
        "start": iso_utc(int(curve.ts[0])),
        "end": iso_utc(int(curve.ts[-1]) + tf),
        "duration_days": elapsed / NS_PER_DAY,
        "bars": n,
        "exposure_pct": np.count_nonzero(curve.exposed) / n * 100.0,
        "initial_equity": float(initial_cash),
        "final_equity": final,
        "peak_equity": float(anchored.max()),
        "return_pct": -100.0 if ruined else (final / initial_cash - 1.0) * 100.0,
        "buy_hold_return_pct": ((float(close[-1]) / first_close - 1.0) * 100.0 if first_close > 0.0 else None),
        "cagr_pct": _pct(growth),
        "volatility_ann_pct": _pct(annual_volatility(r, ppy)),
        "sharpe": sharpe_ratio(r, ppy),
        "sortino": sortino_ratio(r, ppy),
        "calmar": calmar_ratio(growth, dd.depth),
        "max_drawdown_pct": dd.depth * 100.0,
        "max_drawdown_duration_days": dd.duration_ns / NS_PER_DAY,
        "avg_drawdown_pct": float(episodes.depths.mean()) * 100.0 if len(episodes.depths) else 0.0,
    }
    stats.update(trade_stats(trades))
    stats["fees"] = float(total_fees)
    return {key: _plain(value) for key, value in stats.items()}
