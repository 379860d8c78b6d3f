"""Equity-curve statistics: hand computations, empyrical cross-checks, edge cases.

empyrical works on a returns series, not on an equity curve with an initial
cash. Our curve is anchored at `initial_cash` (see the module docstring of
`atb.analytics.performance`), so `returns(equity, initial=cash)` yields one
return per bar and that is exactly the series empyrical gets. Where the
conventions meet:

* sharpe / annual_volatility: empyrical uses std(ddof=1) and sqrt(annualization)
  like us -> equal with `annualization=ppy`.
* sortino: empyrical's downside risk with required_return=0 is
  sqrt(mean(min(r, 0)^2)) over all periods, and its ratio is
  mean * ann / (dd * sqrt(ann)) = mean / dd * sqrt(ann) -> equal.
* max_drawdown: empyrical starts its cumulative curve at 100 before the first
  return, which is our initial-cash anchor -> equal (we report % not fraction).
* cagr / annual_return: empyrical counts years as len(r) / annualization, we use
  calendar time (ts[-1] + tf - ts[0]). Equal on gap-free data; with gaps we
  match empyrical only if we hand it the calendar-implied annualization.
* calmar: empyrical's annual_return / |max_drawdown| -> equal on gap-free data.
"""

from __future__ import annotations

import math

import empyrical as ep
import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atb.analytics.performance import (
    STAT_KEYS,
    Drawdown,
    EquityCurve,
    annual_volatility,
    cagr,
    calmar_ratio,
    compute_stats,
    drawdown_series,
    iso_utc,
    lower_tail,
    max_drawdown,
    periods_per_year,
    returns,
    sharpe_ratio,
    sortino_ratio,
    var_cvar_historical,
)
from atb.analytics.trade_stats import TradeArrays

from .helpers import DAY, SPEC_KEYS, T0, DailyBars, assert_clean, run_stats

HOUR = 3_600 * 1_000_000_000
REL = 1e-12


def reference_drawdowns(equity: list[float], times: list[int]) -> tuple[float, int, list[float]]:
    """Plain-loop reference: (deepest drawdown, longest peak-to-recovery time, episode depths)."""
    peak, peak_t = equity[0], times[0]
    worst, longest, depths = 0.0, 0, []
    episode_depth: float | None = None
    for value, t in zip(equity, times, strict=True):
        if value >= peak:
            if episode_depth is not None:
                longest = max(longest, t - peak_t)
                depths.append(episode_depth)
                episode_depth = None
            peak, peak_t = value, t
        else:
            depth = value / peak - 1.0
            worst = min(worst, depth)
            episode_depth = depth if episode_depth is None else min(episode_depth, depth)
    if episode_depth is not None:
        longest = max(longest, times[-1] - peak_t)
        depths.append(episode_depth)
    return worst, longest, depths


# --- hand-computed 4-bar case: every statistic ------------------------------------------------


def test_every_stat_by_hand() -> None:
    # cash 100 -> closes 120, 90, 108, 135: returns +20 %, -25 %, +20 %, +25 %.
    trades = TradeArrays(
        pnl=np.array([20.0, -5.0]),
        return_pct=np.array([20.0, -4.0]),
        entry_ts=np.array([T0 + DAY, T0 + 2 * DAY]),
        exit_ts=np.array([T0 + DAY + 36 * HOUR, T0 + 4 * DAY]),
        fees=np.array([0.1, 0.2]),
    )
    s = run_stats(
        [120.0, 90.0, 108.0, 135.0],
        exposed=[False, True, True, False],
        close=[10.0, 12.0, 9.0, 11.0],
        trades=trades,
        total_fees=0.3,
    )
    assert_clean(s)
    mean, var = 0.1, (0.1**2 + 0.35**2 + 0.1**2 + 0.15**2) / 3  # = 0.055
    downside = math.sqrt(0.25**2 / 4)  # = 0.125, averaged over all 4 bars
    growth = 1.35 ** (365 / 4) - 1  # 4 calendar days
    expected = {
        "start": "2024-01-01T00:00:00Z",
        "end": "2024-01-05T00:00:00Z",  # close of the 4th daily bar
        "duration_days": 4.0,
        "bars": 4,
        "exposure_pct": 50.0,
        "initial_equity": 100.0,
        "final_equity": 135.0,
        "peak_equity": 135.0,
        "return_pct": 35.0,
        "buy_hold_return_pct": 10.0,
        "cagr_pct": growth * 100,
        "volatility_ann_pct": math.sqrt(var) * math.sqrt(365) * 100,
        "sharpe": mean / math.sqrt(var) * math.sqrt(365),
        "sortino": mean / downside * math.sqrt(365),
        "calmar": growth / 0.25,
        "max_drawdown_pct": -25.0,  # 120 -> 90
        "max_drawdown_duration_days": 3.0,  # peak at close of bar 0 (Jan 2), back at 135 on Jan 5
        "avg_drawdown_pct": -25.0,  # one episode
        "trades": 2,
        "win_rate_pct": 50.0,
        "best_trade_pct": 20.0,
        "worst_trade_pct": -4.0,
        "avg_trade_pct": (math.sqrt(1.20 * 0.96) - 1) * 100,  # geometric
        "max_trade_duration_days": 2.0,
        "avg_trade_duration_days": 1.75,  # (1.5 + 2) / 2
        "profit_factor": 4.0,  # 20 / 5
        "expectancy_pct": 8.0,  # (20 - 4) / 2
        "sqn": 0.6,  # sqrt(2) * 7.5 / (25 / sqrt(2))
        "fees": 0.3,
    }
    for key, value in expected.items():
        if isinstance(value, float):
            assert s[key] == pytest.approx(value, rel=REL), key
        else:
            assert s[key] == value, key
    assert list(expected) == list(STAT_KEYS)


def test_loss_on_first_bar_is_a_return_and_a_drawdown() -> None:
    # The initial cash anchors the curve: paying fees on bar 0 shows up.
    s = run_stats([99.0, 99.0, 100.0], initial_cash=100.0)
    assert s["max_drawdown_pct"] == pytest.approx(-1.0, rel=REL)
    assert s["max_drawdown_duration_days"] == 3.0  # cash at Jan 1 open -> recovered at Jan 3 close
    assert s["return_pct"] == 0.0
    assert s["peak_equity"] == 100.0


# --- building blocks ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("timeframe_ns", "ppy"),
    [(5 * 60 * 10**9, 105_120.0), (HOUR, 8_760.0), (2 * HOUR, 4_380.0), (DAY, 365.0)],
)
def test_periods_per_year(timeframe_ns: int, ppy: float) -> None:
    assert periods_per_year(timeframe_ns) == ppy


def test_periods_per_year_rejects_nonpositive() -> None:
    with pytest.raises(ValueError, match="positive"):
        periods_per_year(0)


def test_returns_plain_and_anchored() -> None:
    np.testing.assert_allclose(returns(np.array([100.0, 110.0, 99.0])), [0.1, -0.1], rtol=REL)
    np.testing.assert_allclose(returns(np.array([110.0, 99.0]), 100.0), [0.1, -0.1], rtol=REL)
    assert returns(np.array([5.0])).shape == (0,)
    assert returns(np.array([5.0]), 4.0).tolist() == [0.25]


@pytest.mark.parametrize("curve", [[100.0, 50.0, 0.0, 20.0], [100.0, 50.0, -10.0, 20.0]])
def test_returns_after_ruin(curve: list[float]) -> None:
    # Wiped out at index 2: -100 % there, nothing afterwards (no division by 0 or by a debt).
    assert returns(np.array(curve)).tolist() == [-0.5, -1.0, 0.0]


def test_returns_rejects_nonpositive_start() -> None:
    with pytest.raises(ValueError, match="first equity"):
        returns(np.array([0.0, 1.0]))


def test_sharpe_sortino_vol_undefined_and_flat() -> None:
    one = np.array([0.01])
    assert sharpe_ratio(one, 365) is None
    assert sortino_ratio(one, 365) is None
    assert annual_volatility(one, 365) is None
    flat = np.zeros(10)
    assert sharpe_ratio(flat, 365) == 0.0
    assert sortino_ratio(flat, 365) == 0.0
    assert annual_volatility(flat, 365) == 0.0
    # Constant growth: zero volatility too -> 0.0 by the documented rule, not inf.
    steady = np.full(10, 0.001)
    assert sharpe_ratio(steady, 365) == 0.0
    assert sortino_ratio(steady, 365) == 0.0
    # Varying, never negative: downside deviation 0 -> unbounded -> None.
    assert sortino_ratio(np.array([0.0, 0.01, 0.02]), 365) is None
    # Constant loss is a zero-volatility sample as well.
    assert sharpe_ratio(np.full(5, -0.01), 365) == 0.0


def test_cagr_hand_and_edges() -> None:
    assert cagr(100.0, 121.0, 2 * 365 * DAY) == pytest.approx(0.1, rel=REL)
    assert cagr(100.0, 50.0, 365 * DAY) == pytest.approx(-0.5, rel=REL)
    assert cagr(100.0, 0.0, DAY) == -1.0
    assert cagr(100.0, -5.0, DAY) == -1.0
    assert cagr(100.0, 200.0, 5 * 60 * 10**9) is None  # doubling every 5 min overflows a year
    with pytest.raises(ValueError):
        cagr(0.0, 1.0, DAY)
    with pytest.raises(ValueError):
        cagr(1.0, 1.0, 0)


def test_calmar_ratio() -> None:
    assert calmar_ratio(0.3, -0.15) == pytest.approx(2.0, rel=REL)
    assert calmar_ratio(0.3, 0.0) is None
    assert calmar_ratio(None, -0.1) is None


def test_drawdown_series_by_hand() -> None:
    dd = drawdown_series(np.array([100.0, 120.0, 90.0, 108.0, 135.0, 0.0, 50.0]))
    np.testing.assert_allclose(dd, [0.0, 0.0, -0.25, -0.1, 0.0, -1.0, -1.0], rtol=REL, atol=0)


def test_max_drawdown_longest_is_not_deepest() -> None:
    eq = np.array([100.0, 95.0, 96.0, 97.0, 99.0, 100.0, 60.0, 110.0])
    t = np.arange(8) * DAY
    # Episode 1: peak idx 0, back at 100 on idx 5 -> 5 days, -5 %. Episode 2: idx 5 -> 7, -40 %.
    assert max_drawdown(eq, t) == Drawdown(depth=-0.4, duration_ns=5 * DAY, peak_idx=5, valley_idx=6)


def test_max_drawdown_never_recovered_runs_to_end() -> None:
    d = max_drawdown(np.array([100.0, 120.0, 110.0, 115.0]), np.arange(4) * DAY)
    assert d == Drawdown(depth=110 / 120 - 1, duration_ns=2 * DAY, peak_idx=1, valley_idx=2)


def test_max_drawdown_equal_to_peak_is_recovered() -> None:
    d = max_drawdown(np.array([100.0, 90.0, 100.0, 90.0]), np.arange(4) * DAY)
    assert d.duration_ns == 2 * DAY  # 0 -> 2; the unrecovered 2 -> 3 is shorter
    assert (d.peak_idx, d.valley_idx) == (0, 1)
    assert d.depth == pytest.approx(-0.1, rel=REL)


def test_max_drawdown_compares_exactly() -> None:
    # No tolerance: the curve comes from an exact ledger, so any dip is a drawdown.
    d = max_drawdown(np.array([100.0, 100.0 - 1e-11, 100.0]), np.arange(3) * DAY)
    assert d.duration_ns == 2 * DAY
    assert d.depth == pytest.approx(-1e-13, rel=1e-2)


def test_max_drawdown_uses_calendar_time_across_gaps() -> None:
    d = max_drawdown(np.array([100.0, 90.0, 100.0]), np.array([0, 1, 10]) * DAY)
    assert d.duration_ns == 10 * DAY


def test_max_drawdown_without_drawdown() -> None:
    assert max_drawdown(np.array([1.0, 2.0, 2.0, 3.0]), np.arange(4)) == Drawdown(0.0, 0, 0, 0)
    assert max_drawdown(np.array([1.0]), np.array([0])) == Drawdown(0.0, 0, 0, 0)


def test_max_drawdown_after_ruin() -> None:
    d = max_drawdown(np.array([100.0, 120.0, -30.0, 10.0]), np.arange(4) * DAY)
    assert d == Drawdown(depth=-1.0, duration_ns=2 * DAY, peak_idx=1, valley_idx=2)


def test_var_cvar_by_hand() -> None:
    r = np.array([0.03, -0.05, 0.04, -0.02, 0.01])
    var, cvar = var_cvar_historical(r, level=0.8) or (0.0, 0.0)
    assert var == pytest.approx(2.6, rel=REL)  # quantile 0.2: -0.05 + 0.8 * 0.03 = -0.026
    assert cvar == pytest.approx(5.0, rel=REL)  # worst 1 of 5
    var, cvar = var_cvar_historical(r, level=0.5) or (0.0, 0.0)
    assert var == pytest.approx(-1.0, rel=REL)  # median +1 %: a gain, reported as -1
    assert cvar == pytest.approx(2.0, rel=REL)  # mean(-5, -2, +1)
    assert var_cvar_historical(np.empty(0)) is None
    with pytest.raises(ValueError):
        var_cvar_historical(r, level=1.0)


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(st.floats(-1.0, 1.0, allow_nan=False), min_size=1, max_size=60),
    alpha=st.floats(0.0, 1.0),
)
def test_lower_tail_is_numpys_quantile_bit_for_bit(values: list[float], alpha: float) -> None:
    r = np.array(values)
    tail = lower_tail(r, alpha)
    expected = float(np.quantile(r, alpha))
    assert tail.quantile == expected or (math.isnan(expected) and math.isnan(tail.quantile))
    ranked = np.sort(r)
    assert tail.ordered[tail.lo] == ranked[tail.lo] and tail.ordered[tail.hi] == ranked[tail.hi]
    assert sorted(tail.ordered[: tail.lo + 1].tolist()) == ranked[: tail.lo + 1].tolist()


def test_lower_tail_on_ties_and_one_value() -> None:
    one = lower_tail(np.array([0.5]), 0.05)
    assert (one.lo, one.hi, one.weight, one.quantile) == (0, 0, 0.0, 0.5)
    tail = lower_tail(np.array([-0.02, -0.02, -0.02, 0.01]), 0.5)  # h = 1.5 between two tied values
    assert (tail.lo, tail.hi, tail.weight, tail.quantile) == (1, 2, 0.5, -0.02)


def test_iso_utc() -> None:
    assert iso_utc(1_502_942_400 * 10**9) == "2017-08-17T04:00:00Z"
    assert iso_utc(1_502_942_400 * 10**9 + 250_000_000) == "2017-08-17T04:00:00.25Z"
    assert iso_utc(0) == "1970-01-01T00:00:00Z"


# --- empyrical cross-checks ---------------------------------------------------------------------


def btc_buy_and_hold(bars: DailyBars, cash: float = 10_000.0) -> npt.NDArray[np.float64]:
    """Buy at the first open with all the cash, mark at every close."""
    return cash / bars.open[0] * bars.close


def test_btc_buy_and_hold_against_empyrical(btc_1d: DailyBars) -> None:
    cash = 10_000.0
    equity = btc_buy_and_hold(btc_1d, cash)
    n = len(equity)
    s = run_stats(equity, initial_cash=cash, ts=btc_1d.ts, close=btc_1d.close,
                  exposed=[True] * n)  # fmt: skip
    assert_clean(s)
    r = returns(equity, cash)
    assert len(r) == n
    ann = 365
    assert s["sharpe"] == pytest.approx(ep.sharpe_ratio(r, annualization=ann), rel=1e-9)
    assert s["sortino"] == pytest.approx(ep.sortino_ratio(r, required_return=0, annualization=ann), rel=1e-9)
    assert s["volatility_ann_pct"] == pytest.approx(ep.annual_volatility(r, annualization=ann) * 100, rel=1e-9)
    assert s["max_drawdown_pct"] == pytest.approx(ep.max_drawdown(r) * 100, rel=1e-12)
    assert s["cagr_pct"] == pytest.approx(ep.cagr(r, annualization=ann) * 100, rel=1e-9)
    assert s["calmar"] == pytest.approx(ep.calmar_ratio(r, annualization=ann), rel=1e-9)
    var, cvar = var_cvar_historical(r) or (0.0, 0.0)
    assert var == pytest.approx(-ep.value_at_risk(r, cutoff=0.05) * 100, rel=1e-12)
    assert cvar == pytest.approx(-ep.conditional_value_at_risk(r, cutoff=0.05) * 100, rel=1e-12)

    # Facts about this data set, independent of any library.
    assert s["start"] == "2017-08-17T00:00:00Z"
    assert s["end"] == "2025-08-27T00:00:00Z"  # close of the 2025-08-26 daily bar
    assert s["duration_days"] == 2932.0
    assert s["buy_hold_return_pct"] == pytest.approx((btc_1d.close[-1] / btc_1d.close[0] - 1) * 100, rel=REL)
    assert s["return_pct"] == pytest.approx((equity[-1] / cash - 1) * 100, rel=REL)
    assert -84.0 < (s["max_drawdown_pct"] or 0.0) < -83.0  # the 2017-12 -> 2018-12 bear market

    # Drawdown duration / episodes against the plain-loop reference.
    anchored = [cash, *equity.tolist()]
    times = [int(btc_1d.ts[0]), *(btc_1d.ts + DAY).tolist()]
    worst, longest, depths = reference_drawdowns(anchored, times)
    assert s["max_drawdown_pct"] == pytest.approx(worst * 100, rel=REL)
    assert s["max_drawdown_duration_days"] == longest / DAY
    assert s["avg_drawdown_pct"] == pytest.approx(np.mean(depths) * 100, rel=1e-12)
    # The Dec 2017 top (~19k) was not regained until late Nov 2020.
    assert 1000 < longest / DAY < 1100


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("timeframe_ns", [5 * 60 * 10**9, 2 * HOUR, DAY])
def test_random_series_against_empyrical(seed: int, timeframe_ns: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(50, 3000))
    r_true = rng.normal(rng.normal(0, 0.001), rng.uniform(0.001, 0.03), n)
    cash = 1_000.0
    equity = cash * np.cumprod(1 + r_true)
    ppy = periods_per_year(timeframe_ns)
    s = run_stats(equity, initial_cash=cash, timeframe_ns=timeframe_ns)
    assert_clean(s)
    r = returns(equity, cash)
    np.testing.assert_allclose(r, ep.simple_returns(np.r_[cash, equity]), rtol=1e-12, atol=1e-16)
    assert s["sharpe"] == pytest.approx(ep.sharpe_ratio(r, annualization=ppy), rel=1e-9)
    assert s["sortino"] == pytest.approx(ep.sortino_ratio(r, annualization=ppy), rel=1e-9)
    assert s["volatility_ann_pct"] == pytest.approx(ep.annual_volatility(r, annualization=ppy) * 100, rel=1e-9)
    assert s["max_drawdown_pct"] == pytest.approx(ep.max_drawdown(r) * 100, rel=1e-12)
    expected_cagr = ep.cagr(r, annualization=ppy)
    if math.isfinite(expected_cagr) and abs(expected_cagr) < 1e12:
        assert s["cagr_pct"] == pytest.approx(expected_cagr * 100, rel=1e-8)
        assert s["calmar"] == pytest.approx(ep.calmar_ratio(r, annualization=ppy), rel=1e-8)
    var, cvar = var_cvar_historical(r, level=0.99) or (0.0, 0.0)
    assert var == pytest.approx(-ep.value_at_risk(r, cutoff=0.01) * 100, rel=1e-12)
    assert cvar == pytest.approx(-ep.conditional_value_at_risk(r, cutoff=0.01) * 100, rel=1e-12)
    times = T0 + np.r_[0, np.arange(1, n + 1)] * timeframe_ns
    worst, longest, depths = reference_drawdowns([cash, *equity.tolist()], times.tolist())
    assert s["max_drawdown_pct"] == pytest.approx(worst * 100, rel=REL)
    assert s["max_drawdown_duration_days"] == longest / DAY
    assert s["avg_drawdown_pct"] == pytest.approx(np.mean(depths) * 100 if depths else 0.0)


def test_gaps_count_as_calendar_time_for_cagr_only(btc_1d: DailyBars) -> None:
    keep = np.ones(len(btc_1d.ts), dtype=bool)
    keep[100:130] = False  # a 30-day outage
    keep[1000:1005] = False
    ts, close = btc_1d.ts[keep], btc_1d.close[keep]
    cash = 10_000.0
    equity = cash / close[0] * close
    s = run_stats(equity, initial_cash=cash, ts=ts, close=close)
    assert_clean(s)
    r = returns(equity, cash)
    assert s["duration_days"] == 2932.0  # calendar span is unchanged by the missing rows
    years = 2932 / 365
    # empyrical counts len(r) / annualization years; fed the calendar-implied rate it agrees.
    assert s["cagr_pct"] == pytest.approx(ep.cagr(r, annualization=len(r) / years) * 100, rel=1e-9)
    assert s["cagr_pct"] != pytest.approx(ep.cagr(r, annualization=365) * 100, rel=1e-3)
    # Per-bar ratios keep the timeframe's annualisation.
    assert s["sharpe"] == pytest.approx(ep.sharpe_ratio(r, annualization=365), rel=1e-9)
    times = [int(ts[0]), *(ts + DAY).tolist()]
    _, longest, _ = reference_drawdowns([cash, *equity.tolist()], times)
    assert s["max_drawdown_duration_days"] == longest / DAY


# --- compute_stats edge cases -------------------------------------------------------------------


def test_flat_equity() -> None:
    s = run_stats([100.0] * 5)
    assert_clean(s)
    assert (s["return_pct"], s["cagr_pct"], s["volatility_ann_pct"]) == (0.0, 0.0, 0.0)
    assert (s["sharpe"], s["sortino"]) == (0.0, 0.0)
    assert s["calmar"] is None  # no drawdown: CAGR / 0 is undefined
    assert (s["max_drawdown_pct"], s["max_drawdown_duration_days"], s["avg_drawdown_pct"]) == (
        0.0,
        0.0,
        0.0,
    )
    assert s["trades"] == 0
    assert all(s[k] is None for k in SPEC_KEYS[19:28])


@pytest.mark.parametrize("curve", [[50.0, 0.0, 0.0], [80.0, -10.0, 5.0], [0.0]])
def test_equity_hitting_zero(curve: list[float]) -> None:
    s = run_stats(curve)
    assert_clean(s)
    assert s["return_pct"] == -100.0
    assert s["cagr_pct"] == -100.0
    assert s["max_drawdown_pct"] == -100.0
    assert s["final_equity"] == curve[-1]  # the ledger's number, even after ruin
    assert s["peak_equity"] == 100.0  # the initial cash was the high-water mark
    assert s["max_drawdown_duration_days"] == s["duration_days"]  # from the initial cash, never back
    assert s["calmar"] == -1.0


def test_single_bar() -> None:
    s = run_stats([105.0], timeframe_ns=2 * HOUR, exposed=[True], close=[7.0])
    assert_clean(s)
    assert s["bars"] == 1
    assert s["duration_days"] == pytest.approx(1 / 12, rel=REL)
    assert s["end"] == "2024-01-01T02:00:00Z"
    assert s["return_pct"] == pytest.approx(5.0, rel=REL)
    assert s["cagr_pct"] == pytest.approx((1.05**4380 - 1) * 100, rel=1e-9)
    assert (s["volatility_ann_pct"], s["sharpe"], s["sortino"]) == (None, None, None)
    assert s["buy_hold_return_pct"] == 0.0
    assert s["exposure_pct"] == 100.0
    assert s["max_drawdown_pct"] == 0.0


def test_cagr_overflow_is_none() -> None:
    s = run_stats([200.0, 400.0], timeframe_ns=5 * 60 * 10**9)
    assert_clean(s)
    assert s["cagr_pct"] is None
    assert s["calmar"] is None
    assert s["return_pct"] == 300.0


def test_gaps_in_ts_extend_duration() -> None:
    ts = [T0, T0 + DAY, T0 + 10 * DAY]
    s = run_stats([90.0, 95.0, 100.0], ts=ts)
    assert s["duration_days"] == 11.0
    assert s["end"] == "2024-01-12T00:00:00Z"
    assert s["max_drawdown_duration_days"] == 11.0  # 100 at Jan 1 open, regained at Jan 12 close
    assert s["cagr_pct"] == pytest.approx(0.0, abs=1e-12)


def test_buy_hold_undefined_for_nonpositive_first_close() -> None:
    assert run_stats([100.0, 101.0], close=[0.0, 5.0])["buy_hold_return_pct"] is None


def test_fees_reported_from_total() -> None:
    assert run_stats([100.0], total_fees=12.5)["fees"] == 12.5


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"equity": [], "ts": [], "exposed": []}, "at least one"),
        ({"equity": [1.0, 2.0], "ts": [0], "exposed": [True, True]}, "'ts' has 1 rows"),
        ({"equity": [1.0], "ts": [0], "exposed": [True, False]}, "'exposed'"),
        ({"equity": [1.0, float("nan")], "ts": [0, 1], "exposed": [True, True]}, "NaN"),
        ({"equity": [1.0, 2.0], "ts": [1, 1], "exposed": [True, True]}, "increasing"),
        ({"equity": [[1.0]], "ts": [0], "exposed": [True]}, "one-dimensional"),
    ],
)
def test_equity_curve_validation(kwargs: dict[str, list[object]], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        EquityCurve(timeframe_ns=DAY, **kwargs)  # type: ignore[arg-type]


def test_equity_curve_rejects_bad_timeframe() -> None:
    with pytest.raises(ValueError, match="timeframe"):
        EquityCurve(equity=np.ones(1), ts=np.zeros(1, np.int64), timeframe_ns=0,
                    exposed=np.ones(1, bool))  # fmt: skip


def test_compute_stats_validation() -> None:
    curve = EquityCurve(equity=np.ones(2), ts=np.arange(2), timeframe_ns=1, exposed=np.ones(2, bool))
    with pytest.raises(ValueError, match="initial_cash"):
        compute_stats(curve, TradeArrays.empty(), close=np.ones(2), initial_cash=0.0, total_fees=0)
    with pytest.raises(ValueError, match="close"):
        compute_stats(curve, TradeArrays.empty(), close=np.ones(3), initial_cash=1.0, total_fees=0)
