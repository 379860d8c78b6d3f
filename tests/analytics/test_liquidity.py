"""Liquidity estimators and the pre-trade cost estimate, cross-checked against pandas and hand computations."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from atb.analytics.liquidity import (
    AMIHUD_SCALE,
    OrderCostEstimate,
    amihud_illiquidity,
    average_daily_volume,
    corwin_schultz_spread,
    daily_volatility,
    estimate_order_cost,
    liquidity_report,
    participation_rate,
    roll_spread,
    sqrt_impact_fraction,
)
from atb.data.bars import NS_PER_DAY, Bars
from atb.data.loader import bars_from_arrays, load_ohlcv
from atb.data.sample import load_sample
from atb.engine.execution import SquareRootImpact
from atb.errors import UserInputError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
H = 3_600_000_000_000
T0 = 1_704_067_200 * 1_000_000_000  # 2024-01-01T00:00Z


@pytest.fixture(scope="module")
def btc_1d() -> Bars:
    return load_ohlcv(FIXTURES / "BTC_USDT_1d.csv").bars


@pytest.fixture(scope="module")
def btc_5m() -> Bars:
    return load_sample("BTC_USDT_5m").bars


def frame(bars: Bars) -> pd.DataFrame:
    return pd.DataFrame(
        {"high": bars.high, "low": bars.low, "close": bars.close, "volume": bars.volume},
        index=pd.to_datetime(bars.ts, utc=True),
    )


def pandas_daily(bars: Bars) -> pd.DataFrame:
    """Independent daily table: quote volume, last close, completeness, consecutive-day return."""
    df = frame(bars)
    df["qv"] = df["volume"] * df["close"]
    g = df.groupby(df.index.floor("D"))
    day = pd.DataFrame({"qv": g["qv"].sum(), "close": g["close"].last()})
    first = pd.Timestamp(int(bars.ts[0]), tz="UTC")
    end = pd.Timestamp(int(bars.ts[-1]) + bars.timeframe_ns, tz="UTC")
    day["complete"] = (day.index >= first) & (day.index + pd.Timedelta(days=1) <= end)
    prev_is_yesterday = day.index.to_series().diff() == pd.Timedelta(days=1)
    day["ret"] = day["close"].pct_change().where(prev_is_yesterday & day["complete"])
    day["logret"] = np.log(day["close"]).diff().where(prev_is_yesterday & day["complete"])
    return day


def hourly(closes: list[float], volume: list[float] | float = 10.0, *, start: int = T0, step: int = H) -> Bars:
    n = len(closes)
    c = np.asarray(closes, dtype=np.float64)
    v = np.full(n, float(volume)) if isinstance(volume, float) else np.asarray(volume, dtype=np.float64)
    ts = start + np.arange(n, dtype=np.int64) * step
    return bars_from_arrays(ts, c, c * 1.001, c * 0.999, c, v, symbol="X/USD", timeframe_ns=step)


# --------------------------------------------------------------------------- Roll


def test_roll_recovers_a_known_spread_from_random_bid_ask_bounce() -> None:
    # Roll's model: mid random walk + s/2 × (random ±1 trade sign). n = 200k gives a
    # standard error of ~0.3 % on s; 2 % tolerance, fixed seed.
    rng = np.random.default_rng(20240101)
    n, s = 200_000, 0.2
    mid = 1_000.0 + np.cumsum(rng.normal(0.0, 0.05, n))
    price = mid + s / 2 * rng.choice([-1.0, 1.0], n)
    est = roll_spread(price)
    assert est is not None
    assert est.spread == pytest.approx(s, rel=0.02)
    assert est.spread_pct == pytest.approx(100 * est.spread / price.mean(), rel=1e-12)


def test_roll_on_strictly_alternating_bounce_reads_twice_the_spread() -> None:
    # Alternating signs violate Roll's independence assumption: every Δp_t·Δp_{t-1} = -s², so with
    # m = 998 pairs (zero means) the ddof=1 covariance is -s²·m/(m-1): estimate 2s·sqrt(m/(m-1)).
    s, m = 0.5, 998
    price = 100.0 + s / 2 * (-1.0) ** np.arange(m + 2)
    est = roll_spread(price)
    assert est is not None
    assert est.spread == pytest.approx(2 * s * math.sqrt(m / (m - 1)), rel=1e-9)


def test_roll_matches_pandas_covariance_on_real_data(btc_5m: Bars) -> None:
    close = pd.Series(btc_5m.close[:5_000])
    dp = close.diff()
    cov = dp.cov(dp.shift(1))
    est = roll_spread(close.to_numpy())
    assert est is not None
    assert cov < 0  # real 5m bars do bounce
    assert est.spread == pytest.approx(2 * math.sqrt(-cov), rel=1e-12)
    assert est.spread_pct == pytest.approx(100 * 2 * math.sqrt(-cov) / close.mean(), rel=1e-12)


def test_roll_is_zero_for_positive_covariance_and_constant_prices() -> None:
    trend = np.cumsum(np.arange(1.0, 50.0)) + 100.0  # accelerating: Δp increasing, cov > 0
    assert roll_spread(trend) == roll_spread(np.full(10, 5.0))
    est = roll_spread(np.full(10, 5.0))
    assert est is not None and est.spread == 0.0 and est.spread_pct == 0.0


def test_roll_needs_four_prices_and_rejects_bad_prices() -> None:
    assert roll_spread([1.0, 2.0, 1.0]) is None
    assert roll_spread([1.0, 2.0, 1.0, 2.0]) is not None
    with pytest.raises(UserInputError):
        roll_spread([1.0, 0.0, 1.0, 2.0])
    with pytest.raises(UserInputError):
        roll_spread([1.0, float("nan"), 1.0, 2.0])


# --------------------------------------------------------------------------- Corwin-Schultz


def test_corwin_schultz_hand_example_with_a_clipped_pair() -> None:
    # Two identical bars with range H/L: β = 2x², γ = x² (x = ln H/L) so α = x exactly and
    # S = 2(e^x − 1)/(1 + e^x) = 2(H − L)/(H + L) = 2·2/200 = 0.02.
    # Pair 2 jumps to 110/109.9: γ = ln(110/99)² dwarfs β, α < 0, S < 0 → set to 0.
    k = 3 - 2 * math.sqrt(2)
    beta2 = math.log(101 / 99) ** 2 + math.log(110 / 109.9) ** 2
    gamma2 = math.log(110 / 99) ** 2
    alpha2 = (math.sqrt(2 * beta2) - math.sqrt(beta2)) / k - math.sqrt(gamma2 / k)
    assert alpha2 < 0
    got = corwin_schultz_spread([101.0, 101.0, 110.0], [99.0, 99.0, 109.9])
    assert got == pytest.approx((0.02 + 0.0) / 2, rel=1e-12)
    assert corwin_schultz_spread([101.0, 101.0], [99.0, 99.0]) == pytest.approx(0.02, rel=1e-12)


def _cs_pandas(df: pd.DataFrame) -> float:
    hl = np.log(df["high"] / df["low"]) ** 2
    beta = hl + hl.shift(-1)
    h2 = pd.concat([df["high"], df["high"].shift(-1)], axis=1).max(axis=1, skipna=False)
    l2 = pd.concat([df["low"], df["low"].shift(-1)], axis=1).min(axis=1, skipna=False)
    gamma = np.log(h2 / l2) ** 2
    denom = 3 - 2 * np.sqrt(2)
    alpha = (np.sqrt(2 * beta) - np.sqrt(beta)) / denom - np.sqrt(gamma / denom)
    s = 2 * (np.exp(alpha) - 1) / (1 + np.exp(alpha))
    return float(s.dropna().clip(lower=0).mean())


@pytest.mark.parametrize("which", ["1d", "5m"])
def test_corwin_schultz_matches_a_pandas_reimplementation_on_real_data(which: str, btc_1d: Bars, btc_5m: Bars) -> None:
    bars = btc_1d if which == "1d" else btc_5m
    got = corwin_schultz_spread(bars.high, bars.low)
    assert got is not None and got > 0
    assert got == pytest.approx(_cs_pandas(frame(bars)), rel=1e-12)


def test_corwin_schultz_edges() -> None:
    assert corwin_schultz_spread([5.0], [4.0]) is None
    assert corwin_schultz_spread([5.0] * 20, [5.0] * 20) == 0.0
    with pytest.raises(UserInputError):
        corwin_schultz_spread([5.0, 5.0], [5.5, 4.0])  # high < low
    with pytest.raises(UserInputError):
        corwin_schultz_spread([5.0, 5.0], [4.0])


# --------------------------------------------------------------------------- Amihud, ADV, σ


@pytest.mark.parametrize("which", ["1d", "5m"])
def test_amihud_matches_pandas_groupby_by_day(which: str, btc_1d: Bars, btc_5m: Bars) -> None:
    bars = btc_1d if which == "1d" else btc_5m
    day = pandas_daily(bars)
    ok = day["ret"].notna() & (day["qv"] > 0)
    ratios = (day["ret"].abs() / day["qv"])[ok] * 1e6
    got = amihud_illiquidity(bars)
    assert got is not None
    assert got == pytest.approx(ratios.mean(), rel=1e-12)
    rolling = amihud_illiquidity(bars, window=7)
    np.testing.assert_allclose(rolling, ratios.rolling(7).mean().dropna().to_numpy(), rtol=1e-9)


def test_amihud_5m_sample_drops_the_unfinished_last_day(btc_5m: Bars) -> None:
    day = pandas_daily(btc_5m)
    assert not day["complete"].iloc[-1]  # the sample ends mid-day
    assert day["complete"].iloc[:-1].all()


def test_amihud_hand_values_and_zero_volume_days() -> None:
    # Daily bars: closes 100, 110, 99, 99; quote volumes 1e6, 2e6, 0 (skipped), 1e6.
    bars = hourly([100.0, 110.0, 99.0, 99.0], [1e4, 2e6 / 110, 0.0, 1e6 / 99], step=NS_PER_DAY)
    # day 1: |0.1| / 2e6 × 1e6 = 0.05; day 2: zero volume → skipped; day 3: 0 / 1e6 = 0
    assert amihud_illiquidity(bars) == pytest.approx((0.05 + 0.0) / 2, rel=1e-12)
    assert AMIHUD_SCALE == 1e6
    np.testing.assert_allclose(amihud_illiquidity(bars, window=1), [0.05, 0.0], atol=1e-15)
    assert len(amihud_illiquidity(bars, window=3)) == 0
    assert amihud_illiquidity(hourly([100.0])) is None
    with pytest.raises(UserInputError):
        amihud_illiquidity(bars, window=0)


def test_amihud_skips_returns_across_a_missing_day() -> None:
    ts = T0 + np.array([0, 1, 3], dtype=np.int64) * NS_PER_DAY  # day 2 missing
    c = np.array([100.0, 110.0, 121.0])
    bars = bars_from_arrays(ts, c, c, c, c, np.full(3, 1.0), symbol="X/USD", timeframe_ns=NS_PER_DAY)
    assert amihud_illiquidity(bars) == pytest.approx(0.1 / 110 * 1e6, rel=1e-12)  # only day 1


def test_average_daily_volume_and_volatility_match_pandas(btc_1d: Bars, btc_5m: Bars) -> None:
    for bars in (btc_1d, btc_5m):
        day = pandas_daily(bars)
        last = day[day["complete"]].iloc[-30:]
        assert average_daily_volume(bars, days=30) == pytest.approx(last["qv"].mean(), rel=1e-12)
        assert daily_volatility(bars, days=30) == pytest.approx(last["logret"].std(ddof=1), rel=1e-10)
    # more days asked than exist: the mean of all complete days
    day = pandas_daily(btc_5m)
    assert average_daily_volume(btc_5m, days=10_000) == pytest.approx(day[day["complete"]]["qv"].mean(), rel=1e-12)


def test_adv_counts_zero_volume_days_and_needs_a_complete_day() -> None:
    bars = hourly([10.0, 10.0, 10.0], [5.0, 0.0, 7.0], step=NS_PER_DAY)
    assert average_daily_volume(bars, days=3) == pytest.approx((50.0 + 0.0 + 70.0) / 3)
    assert average_daily_volume(bars, days=1) == pytest.approx(70.0)
    assert average_daily_volume(hourly([10.0] * 5)) is None  # five hours: no complete UTC day
    assert daily_volatility(bars.slice(0, 2)) is None  # one return
    with pytest.raises(UserInputError):
        average_daily_volume(bars, days=0)


def test_partial_first_and_last_days_are_excluded() -> None:
    # hourly bars from 12:00 on day 0 to 11:00 on day 3: only days 1 and 2 are complete
    n = 12 + 24 + 24 + 12
    vol = np.ones(n)
    vol[12:36] = 2.0
    vol[36:60] = 4.0
    bars = hourly([10.0] * n, list(vol), start=T0 + 12 * H)
    assert average_daily_volume(bars) == pytest.approx((24 * 2 * 10 + 24 * 4 * 10) / 2)


# --------------------------------------------------------------------------- impact


def test_sqrt_impact_hand_values_and_array_broadcast() -> None:
    assert sqrt_impact_fraction(0.5, 0.02, 1.0, 100.0) == pytest.approx(0.5 * 0.02 * 0.1)
    assert sqrt_impact_fraction(1.0, 0.04, 25.0, 100.0) == pytest.approx(0.02)
    assert sqrt_impact_fraction(0.5, 0.02, 0.0, 100.0) == 0.0
    assert isinstance(sqrt_impact_fraction(0.5, 0.02, 1.0, 100.0), float)
    q = np.array([0.0, 1.0, 4.0, 9.0, 100.0])
    got = sqrt_impact_fraction(1.0, 0.03, q, np.full(5, 100.0))
    np.testing.assert_allclose(got, 0.03 * np.sqrt(q / 100.0), rtol=1e-15)


def test_sqrt_impact_is_increasing_and_concave_in_size() -> None:
    q = np.linspace(0.0, 50.0, 501)
    got = np.asarray(sqrt_impact_fraction(0.5, 0.03, q, 100.0))
    assert np.all(np.diff(got) > 0)
    assert np.all(np.diff(got, 2) < 0)  # doubling the order less than doubles the impact
    assert sqrt_impact_fraction(0.5, 0.03, 4.0, 100.0) == pytest.approx(2 * sqrt_impact_fraction(0.5, 0.03, 1.0, 100.0))
    assert sqrt_impact_fraction(0.5, 0.06, 1.0, 100.0) == pytest.approx(2 * sqrt_impact_fraction(0.5, 0.03, 1.0, 100.0))


@pytest.mark.parametrize(
    "args",
    [
        (-0.1, 0.02, 1.0, 1.0),
        (0.5, -0.02, 1.0, 1.0),
        (0.5, 0.02, -1.0, 1.0),
        (0.5, 0.02, 1.0, 0.0),
        (0.5, float("nan"), 1.0, 1.0),
        (0.5, 0.02, float("inf"), 1.0),
    ],
)
def test_sqrt_impact_rejects_bad_inputs(args: tuple[float, float, float, float]) -> None:
    with pytest.raises(UserInputError):
        sqrt_impact_fraction(*args)
    with pytest.raises(UserInputError):
        sqrt_impact_fraction(*(np.array([x, x]) for x in args))


def test_engine_square_root_impact_gives_the_numbers_of_its_original_inline_formula(btc_5m: Bars) -> None:
    # The engine's fraction used to be `coef × σ[bar] × math.sqrt(lots × lot / vol)` inline; it now
    # calls the shared kernel. Bit-identical results on real data, zero-volume bars included.
    rng = np.random.default_rng(7)
    vol = btc_5m.volume.copy()
    vol[rng.integers(0, len(vol), 300)] = 0.0
    for coef, window in [(0.5, 20), (1.3, 3)]:
        model = SquareRootImpact(coefficient=coef, window=window)
        model.prepare(btc_5m.close, vol)
        assert model._sigma is not None
        for bar in rng.integers(0, len(vol), 500):
            for lots, lot in [(1, 0.001), (1234, 0.001), (7, 1.0), (0, 0.01)]:
                v = vol[bar]
                old = 0.0 if v <= 0 else float(coef * model._sigma[bar] * math.sqrt(lots * lot / v))
                new = model.fraction(int(bar), lots, lot)
                assert type(new) is float
                assert new == old or (math.isnan(new) and math.isnan(old))
                assert np.float64(new).tobytes() == np.float64(old).tobytes()


def test_participation_rate() -> None:
    assert participation_rate(5.0, 200.0) == 0.025
    assert participation_rate(0.0, 1.0) == 0.0
    for q, v in [(-1.0, 10.0), (1.0, 0.0), (float("nan"), 1.0), (1.0, float("inf"))]:
        with pytest.raises(UserInputError):
            participation_rate(q, v)


# --------------------------------------------------------------------------- order cost estimate


def test_estimate_order_cost_composes_the_estimators(btc_1d: Bars) -> None:
    est = estimate_order_cost(btc_1d, 2.5, "buy", coefficient=0.7, days=20)
    day = pandas_daily(btc_1d)
    last = day[day["complete"]].iloc[-20:]
    adv, sigma = last["qv"].mean(), last["logret"].std(ddof=1)
    price = float(btc_1d.close[-1])
    spread = _cs_pandas(frame(btc_1d).iloc[-20:])
    notional = 2.5 * price
    impact = 0.7 * sigma * math.sqrt(notional / adv)
    assert isinstance(est, OrderCostEstimate)
    assert (est.price, est.notional, est.days_used) == (price, notional, 20)
    assert est.adv == pytest.approx(adv, rel=1e-12)
    assert est.participation == pytest.approx(notional / adv, rel=1e-12)
    assert est.daily_sigma == pytest.approx(sigma, rel=1e-10)
    assert est.impact_fraction == pytest.approx(impact, rel=1e-10)
    assert est.impact_cost == pytest.approx(impact * notional, rel=1e-10)
    assert est.spread_fraction == pytest.approx(spread, rel=1e-12)
    assert est.half_spread_cost == pytest.approx(spread / 2 * notional, rel=1e-12)
    assert est.total_cost == pytest.approx(est.impact_cost + est.half_spread_cost, rel=1e-12)
    assert est.expected_price == pytest.approx(price * (1 + est.total_fraction), rel=1e-15)
    sell = estimate_order_cost(btc_1d, 2.5, "SELL", coefficient=0.7, days=20)
    assert sell.side == "sell" and sell.total_cost == est.total_cost
    assert sell.expected_price == pytest.approx(price * (1 - est.total_fraction), rel=1e-15)
    bigger = estimate_order_cost(btc_1d, 10.0, "buy", coefficient=0.7, days=20)
    assert bigger.impact_fraction == pytest.approx(2 * est.impact_fraction, rel=1e-12)
    json.dumps(est.as_dict())


def test_estimate_order_cost_rejects_bad_requests(btc_1d: Bars) -> None:
    for qty, side in [(0.0, "buy"), (-1.0, "buy"), (float("nan"), "buy"), (1.0, "hold")]:
        with pytest.raises(UserInputError):
            estimate_order_cost(btc_1d, qty, side)
    with pytest.raises(UserInputError, match="3 complete"):
        estimate_order_cost(btc_1d.slice(0, 2), 1.0, "buy")
    with pytest.raises(UserInputError):
        estimate_order_cost(hourly([10.0] * 3, step=NS_PER_DAY).slice(0, 0), 1.0, "buy")
    with pytest.raises(UserInputError, match="no volume"):
        estimate_order_cost(hourly([10.0, 11.0, 10.5, 10.0], 0.0, step=NS_PER_DAY), 1.0, "buy")


def test_constant_prices_cost_nothing() -> None:
    c = np.full(10, 50.0)
    ts = T0 + np.arange(10, dtype=np.int64) * NS_PER_DAY
    bars = bars_from_arrays(ts, c, c, c, c, np.full(10, 3.0), symbol="X/USD", timeframe_ns=NS_PER_DAY)
    est = estimate_order_cost(bars, 1.0, "buy")
    assert (est.daily_sigma, est.spread_fraction, est.total_cost, est.expected_price) == (0.0, 0.0, 0.0, 50.0)


# --------------------------------------------------------------------------- report


def test_liquidity_report_is_json_ready_and_consistent(btc_5m: Bars) -> None:
    rep = liquidity_report(btc_5m, order_quantities=(1.0,), days=10)
    text = json.dumps(rep, allow_nan=False)
    assert json.loads(text) == rep
    assert rep["symbol"] == "BTC/USDT" and rep["timeframe"] == "5m" and rep["days_used"] == 10
    assert rep["adv_quote"] == pytest.approx(average_daily_volume(btc_5m, days=10), rel=1e-12)
    sigma = daily_volatility(btc_5m, days=10)
    assert sigma is not None and rep["daily_volatility_pct"] == pytest.approx(100 * sigma, rel=1e-12)
    assert [e["size"] for e in rep["estimates"]] == [0.001, 0.01, 0.05, 1.0]
    pcts = [e["participation_pct"] for e in rep["estimates"][:3]]
    assert pcts == pytest.approx([0.1, 1.0, 5.0], rel=1e-12)
    totals = [e["total_bps"] for e in rep["estimates"][:3]]
    assert totals == sorted(totals) and totals[0] > rep["corwin_schultz_spread_pct"] * 100 / 2
    one = estimate_order_cost(btc_5m, 1.0, "buy", days=10)
    assert rep["estimates"][3]["total_cost"] == pytest.approx(one.total_cost, rel=1e-12)
    # the window's bars: the last 10 complete days
    start = int(pd.Timestamp(rep["window_start"], tz="UTC").value)
    end = int(pd.Timestamp(rep["window_end"], tz="UTC").value) + NS_PER_DAY
    sel = (btc_5m.ts >= start) & (btc_5m.ts < end)
    roll = roll_spread(btc_5m.close[sel])
    assert roll is not None and rep["roll_spread"] == roll.spread
    cs = corwin_schultz_spread(btc_5m.high[sel], btc_5m.low[sel])
    assert cs is not None and rep["corwin_schultz_spread_pct"] == pytest.approx(100 * cs)


def test_liquidity_report_on_too_little_data_has_nulls_not_nans() -> None:
    rep = liquidity_report(hourly([10.0]))
    json.dumps(rep, allow_nan=False)
    assert rep["days_used"] == 0 and rep["adv_quote"] is None and rep["estimates"] == []
    assert rep["last_price"] == 10.0
    with pytest.raises(UserInputError):
        liquidity_report(hourly([10.0]), adv_fractions=(-0.01,))


def test_the_daily_buckets_of_the_same_bars_are_made_once_and_of_new_bars_anew() -> None:
    from atb.analytics import liquidity

    bars = hourly([100.0 + k for k in range(72)], 5.0)
    first = liquidity._daily(bars)
    assert liquidity._daily(bars) is first
    same_values = hourly([100.0 + k for k in range(72)], 5.0)
    again = liquidity._daily(same_values)
    assert again is not first and np.array_equal(again.quote_volume, first.quote_volume)
    other = hourly([100.0 + k for k in range(72)], 7.0)
    assert np.allclose(liquidity._daily(other).quote_volume, first.quote_volume * 7.0 / 5.0)
    assert average_daily_volume(other) == pytest.approx(average_daily_volume(bars) * 7.0 / 5.0)
