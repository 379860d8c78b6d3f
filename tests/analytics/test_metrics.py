"""Extended metrics and calendar tables, cross-checked against empyrical, scipy, pandas and hand computations."""

from __future__ import annotations

import math

import empyrical
import numpy as np
import numpy.typing as npt
import orjson
import pandas as pd
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

from atb.analytics.metrics import (
    EXTENDED_STAT_KEYS,
    alpha_beta,
    excess_kurtosis,
    exposure_adjusted_return,
    extended_stats,
    information_ratio,
    omega_ratio,
    rolling_sharpe,
    rolling_volatility,
    skewness,
    tail_ratio,
    turnover,
    ulcer_index,
)
from atb.analytics.periods import drawdown_table, period_returns

from .helpers import DAY, T0, DailyBars

HOUR = DAY // 24
FloatArray = npt.NDArray[np.float64]


def _returns(seed: int = 7, n: int = 2_000) -> FloatArray:
    rng = np.random.default_rng(seed)
    return rng.standard_t(4, n) * 0.01 + 0.0004  # fat-tailed, positive drift


def _series(values: FloatArray, ts: npt.NDArray[np.int64]) -> pd.Series:
    return pd.Series(values, index=pd.to_datetime(ts, utc=True))


def _strategy_and_benchmark(btc_1d: DailyBars) -> tuple[FloatArray, FloatArray]:
    """A 50 % BTC + noise daily strategy and BTC itself, as simple returns."""
    bench = btc_1d.close[1:] / btc_1d.close[:-1] - 1.0
    noise = np.random.default_rng(3).normal(0.0003, 0.01, len(bench))
    return 0.5 * bench + noise, bench


# --- rolling series -------------------------------------------------------------------------------


def test_rolling_volatility_matches_pandas_rolling_std() -> None:
    r = _returns()
    r[500] = np.nan  # a gap: every window holding it is NaN, as in pandas
    ppy = 4380.0
    got = rolling_volatility(r, 90, ppy)
    ref = pd.Series(r).rolling(90).std().to_numpy() * math.sqrt(ppy)
    assert np.isnan(got[:89]).all() and np.isnan(got[500:590]).all() and not np.isnan(got[590:]).any()
    np.testing.assert_allclose(got, ref, rtol=1e-9, equal_nan=True)


def test_rolling_sharpe_matches_empyrical() -> None:
    r = _returns(11)
    ppy = 8760.0
    got = rolling_sharpe(r, 250, ppy)
    # empyrical's roll_* functions return only the complete windows (length n - w + 1): no warm-up prefix.
    ref = empyrical.roll_sharpe_ratio(r, 250, annualization=ppy)
    assert len(got) == len(r) and np.isnan(got[:249]).all()
    np.testing.assert_allclose(got[249:], ref, rtol=1e-9)
    # Series input: same numbers.
    ts = T0 + np.arange(len(r), dtype=np.int64) * HOUR
    np.testing.assert_array_equal(rolling_sharpe(_series(r, ts), 250, ppy), got)


def test_rolling_flat_windows_are_exactly_zero() -> None:
    r = np.concatenate((_returns(2, 300) * 1e3, np.full(100, 0.0015), _returns(5, 50)))
    vol = rolling_volatility(r, 40, 365.0)
    sharpe = rolling_sharpe(r, 40, 365.0)
    flat = slice(339, 400)  # windows lying entirely in the constant stretch
    assert (vol[flat] == 0.0).all() and (sharpe[flat] == 0.0).all()
    assert (vol[300:339] > 0.0).all() and vol[400] > 0.0
    assert rolling_sharpe(np.zeros(5), 3, 365.0)[2:].tolist() == [0.0, 0.0, 0.0]
    assert np.isnan(rolling_sharpe(np.zeros(2), 3, 365.0)).all()  # shorter than one window
    with pytest.raises(ValueError, match="window"):
        rolling_sharpe(r, 1, 365.0)


# --- distribution shape ---------------------------------------------------------------------------


def test_omega_and_tail_ratio_match_empyrical() -> None:
    r = _returns()
    for threshold in (0.0, 0.002, -0.001):
        # annualization=1: empyrical uses required_return as the per-period threshold, as we do.
        ref = empyrical.omega_ratio(r, required_return=threshold, annualization=1)
        assert omega_ratio(r, threshold) == pytest.approx(ref, rel=1e-12)
    # Hand: gains 0.02 + 0.01, losses 0.01.
    assert omega_ratio(np.array([0.02, -0.01, 0.01])) == pytest.approx(3.0)
    assert np.percentile(r, 95) > 0  # empyrical takes |p95|; equal to ours when p95 > 0
    assert tail_ratio(r) == pytest.approx(empyrical.tail_ratio(r), rel=1e-12)
    losing = -np.abs(r) - 0.001  # p95 < 0: we keep the sign, empyrical does not
    assert tail_ratio(losing) == pytest.approx(-empyrical.tail_ratio(losing), rel=1e-12)


def test_skew_and_kurtosis_match_scipy() -> None:
    for r in (_returns(), _returns(1, 50), np.array([0.01, -0.02, 0.03])):
        assert skewness(r) == pytest.approx(scipy.stats.skew(r), rel=1e-10)
        assert excess_kurtosis(r) == pytest.approx(scipy.stats.kurtosis(r), rel=1e-10)
    assert excess_kurtosis(np.array([0.01, -0.01])) == pytest.approx(-2.0)


def test_nan_returns_are_dropped() -> None:
    """The leading NaN of `pct_change()` must not poison the scalars."""
    r = _returns()
    with_nan = np.concatenate(([np.nan], r))
    assert omega_ratio(with_nan) == omega_ratio(r)
    assert tail_ratio(with_nan) == tail_ratio(r)
    assert skewness(with_nan) == skewness(r)
    assert excess_kurtosis(with_nan) == excess_kurtosis(r)


def test_ulcer_index_by_hand() -> None:
    # drawdowns 0, -50, 0, -25 %: sqrt((50^2 + 25^2) / 4)
    assert ulcer_index(np.array([100.0, 50.0, 100.0, 75.0])) == pytest.approx(math.sqrt(781.25))
    assert ulcer_index(np.array([100.0, 110.0, 120.0])) == 0.0
    assert ulcer_index(np.array([100.0, 0.0, -5.0])) == pytest.approx(math.sqrt(2 * 100.0**2 / 3))  # ruin: -100 %


# --- benchmark-relative ---------------------------------------------------------------------------


def test_alpha_beta_and_information_ratio_match_empyrical(btc_1d: DailyBars) -> None:
    r, bench = _strategy_and_benchmark(btc_1d)
    alpha, beta = alpha_beta(r, bench, 365.0)
    ref_alpha, ref_beta = empyrical.alpha_beta(r, bench, annualization=365)
    assert beta == pytest.approx(ref_beta, rel=1e-10)
    assert 0.4 < beta < 0.6
    assert alpha == pytest.approx(ref_alpha, rel=1e-9)
    # empyrical's excess_sharpe is the per-period information ratio.
    assert information_ratio(r, bench, 365.0) == pytest.approx(
        empyrical.excess_sharpe(r, bench) * math.sqrt(365), rel=1e-10
    )


def test_benchmark_edge_cases() -> None:
    r = _returns(n=10)
    assert alpha_beta(r, np.full(10, 0.001), 365.0) == (None, None)  # benchmark without variance
    assert alpha_beta(r[:1], r[:1], 365.0) == (None, None)
    alpha, beta = alpha_beta(2.0 * r, r, 365.0)
    assert beta == pytest.approx(2.0) and alpha == pytest.approx(0.0, abs=1e-12)
    assert information_ratio(r + 0.001, r, 365.0) == 0.0  # constant active return: no tracking error
    assert information_ratio(r[:1], r[:1], 365.0) is None
    with pytest.raises(ValueError, match="benchmark"):
        alpha_beta(r, r[:5], 365.0)


def test_exposure_and_turnover() -> None:
    assert exposure_adjusted_return(10.0, 25.0) == pytest.approx(40.0)
    assert exposure_adjusted_return(10.0, 0.0) is None
    assert exposure_adjusted_return(None, 50.0) is None
    # 1.2M traded on 100k average over half a year: 12x per half year = 24x a year.
    assert turnover(1_200_000.0, 100_000.0, 182.5) == pytest.approx(24.0)
    assert turnover(1_000.0, 100.0, 0.0) is None and turnover(None, 100.0, 10.0) is None


# --- calendar tables ------------------------------------------------------------------------------


def test_drawdown_table_by_hand() -> None:
    #         0      1     2     3     4      5      6      7      8     9
    eq = np.array([100.0, 90.0, 80.0, 95.0, 100.0, 120.0, 108.0, 126.0, 63.0, 90.0])
    ts = T0 + np.arange(10, dtype=np.int64) * DAY  # 2024-01-01 .. 2024-01-10
    rows = drawdown_table(eq, ts)
    assert rows == [
        {  # 126 -> 63, never recovered: length runs to the last point
            "start": "2024-01-08T00:00:00Z",
            "valley": "2024-01-09T00:00:00Z",
            "recovery": None,
            "depth_pct": pytest.approx(-50.0),
            "length_days": 2.0,
            "valley_days": 1.0,
        },
        {  # 100 -> 80 -> back to 100 (equal counts as recovered)
            "start": "2024-01-01T00:00:00Z",
            "valley": "2024-01-03T00:00:00Z",
            "recovery": "2024-01-05T00:00:00Z",
            "depth_pct": pytest.approx(-20.0),
            "length_days": 4.0,
            "valley_days": 2.0,
        },
        {
            "start": "2024-01-06T00:00:00Z",
            "valley": "2024-01-07T00:00:00Z",
            "recovery": "2024-01-08T00:00:00Z",
            "depth_pct": pytest.approx(-10.0),
            "length_days": 2.0,
            "valley_days": 1.0,
        },
    ]
    assert drawdown_table(eq, ts, top=1) == rows[:1]
    assert drawdown_table(_series(eq, ts)) == rows
    orjson.dumps(rows)


def test_period_returns_match_pandas_resample(btc_1d: DailyBars) -> None:
    r, _ = _strategy_and_benchmark(btc_1d)
    eq = 1_000.0 * np.cumprod(np.concatenate(([1.0], 1.0 + r)))
    s = _series(eq, btc_1d.ts)
    for period, rule, fmt in (("month", "ME", "%Y-%m"), ("year", "YE", "%Y")):
        ends = s.resample(rule).last()
        ref = ends.pct_change() * 100.0
        ref.iloc[0] = (ends.iloc[0] / eq[0] - 1.0) * 100.0
        got = period_returns(eq, btc_1d.ts, period)  # type: ignore[arg-type]
        assert [label for label, _ in got] == [t.strftime(fmt) for t in ends.index]
        np.testing.assert_allclose([v for _, v in got], ref.to_numpy(), rtol=1e-10)
        assert period_returns(s, period=period) == got  # type: ignore[arg-type]
    assert period_returns(eq, btc_1d.ts, "year")[0][0] == "2017"


def test_period_returns_by_hand() -> None:
    ts = np.array(["2021-01-05", "2021-01-31T23:59", "2021-03-01", "2022-06-30"], dtype="datetime64[ns]")
    eq = np.array([100.0, 110.0, 99.0, 198.0])
    got = period_returns(eq, ts.astype(np.int64), "month")
    assert [k for k, _ in got] == ["2021-01", "2021-03", "2022-06"]  # February has no point: left out
    assert [v for _, v in got] == pytest.approx([10.0, -10.0, 100.0])
    assert period_returns(eq, ts.astype(np.int64), "year") == [("2021", pytest.approx(-1.0)), ("2022", 100.0)]
    assert period_returns(np.array([100.0, 0.0, 0.0]), ts[:3].astype(np.int64), "month") == [
        ("2021-01", -100.0),
        ("2021-03", 0.0),
    ]
    with pytest.raises(ValueError, match="period"):
        period_returns(eq, ts.astype(np.int64), "week")  # type: ignore[arg-type]


# --- edge cases and the bundle -----------------------------------------------------------------


def test_flat_and_single_point_curves() -> None:
    ts = T0 + np.arange(50, dtype=np.int64) * DAY
    flat = np.full(50, 1_000.0)
    assert drawdown_table(flat, ts) == []
    assert ulcer_index(flat) == 0.0
    stats = extended_stats(flat, ts, DAY, benchmark_close=np.linspace(10.0, 20.0, 50), exposure_pct=0.0)
    assert stats["omega"] is None and stats["tail_ratio"] is None  # nothing below 0 / a zero 5th percentile
    assert stats["skew"] is None and stats["kurtosis"] is None
    assert stats["ulcer_index"] == 0.0 and stats["beta"] == 0.0 and stats["exposure_adjusted_return_pct"] is None
    assert period_returns(flat, ts, "year") == [("2024", 0.0)]

    one = extended_stats(np.array([1_000.0]), ts[:1], DAY, benchmark_close=np.array([5.0]), traded_notional=10.0)
    assert one == dict.fromkeys(EXTENDED_STAT_KEYS, None) | {"ulcer_index": 0.0}
    assert drawdown_table(np.array([1_000.0]), ts[:1]) == []
    assert period_returns(np.array([1_000.0]), ts[:1]) == [("2024-01", 0.0)]
    assert rolling_volatility(np.empty(0), 5, 365.0).shape == (0,)


def test_extended_stats_bundle(btc_1d: DailyBars) -> None:
    r, bench = _strategy_and_benchmark(btc_1d)
    eq = 1_000.0 * np.cumprod(np.concatenate(([1.0], 1.0 + r)))
    ts = btc_1d.ts
    stats = extended_stats(eq, ts, DAY, btc_1d.close, exposure_pct=60.0, traded_notional=50_000.0)
    assert tuple(stats) == EXTENDED_STAT_KEYS
    assert all(isinstance(v, float) for v in stats.values())
    orjson.dumps(stats)  # JSON-safe (orjson rejects nothing, so also check finiteness)
    assert all(math.isfinite(v) for v in stats.values() if v is not None)

    alpha, beta = empyrical.alpha_beta(r, bench, annualization=365)
    assert stats["beta"] == pytest.approx(beta, rel=1e-9)
    assert stats["alpha_ann_pct"] == pytest.approx(alpha * 100.0, rel=1e-8)
    assert stats["omega"] == pytest.approx(empyrical.omega_ratio(r, annualization=1), rel=1e-9)
    assert stats["skew"] == pytest.approx(scipy.stats.skew(r), rel=1e-9)
    assert stats["kurtosis"] == pytest.approx(scipy.stats.kurtosis(r), rel=1e-9)
    total_pct = (eq[-1] / eq[0] - 1.0) * 100.0
    assert stats["exposure_adjusted_return_pct"] == pytest.approx(total_pct / 0.6)
    days = (ts[-1] - ts[0]) / DAY
    assert stats["turnover_ann"] == pytest.approx(50_000.0 / eq.mean() * 365.0 / days)

    # pandas Series in, same numbers out; the median spacing stands in for a missing timeframe.
    from_series = extended_stats(_series(eq, ts), None, None, pd.Series(btc_1d.close), 60.0, 50_000.0)
    assert from_series == stats
    bare = extended_stats(eq, ts)
    assert bare["alpha_ann_pct"] is None and bare["turnover_ann"] is None and bare["omega"] == stats["omega"]


def test_input_validation() -> None:
    ts = T0 + np.arange(3, dtype=np.int64) * DAY
    with pytest.raises(ValueError, match="needs ts"):
        drawdown_table(np.array([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="non-decreasing"):
        drawdown_table(np.array([1.0, 2.0, 3.0]), ts[::-1])
    with pytest.raises(ValueError, match="NaN"):
        ulcer_index(np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="DatetimeIndex"):
        period_returns(pd.Series([1.0, 2.0]))
    with pytest.raises(ValueError, match="2 timestamps"):
        period_returns(np.array([1.0, 2.0, 3.0]), ts[:2])


def test_timezones_and_datetime_inputs_are_utc() -> None:
    ts = np.array(["2021-01-31T20:00", "2021-02-01T03:00", "2021-02-28T12:00"], dtype="datetime64[ns]")
    eq = np.array([100.0, 120.0, 90.0])
    want = period_returns(eq, ts.astype(np.int64))
    assert [k for k, _ in want] == ["2021-01", "2021-02"]
    tokyo = pd.Series(eq, index=pd.DatetimeIndex(ts).tz_localize("UTC").tz_convert("Asia/Tokyo"))
    assert period_returns(tokyo) == want  # Tokyo's 2021-02-01 05:00 is still January in UTC
    assert period_returns(eq, ts) == want  # datetime64 ts
    assert period_returns(eq, pd.Series(ts).dt.tz_localize("UTC")) == want  # tz-aware datetime Series
    assert drawdown_table(tokyo) == drawdown_table(eq, ts.astype(np.int64))


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.floats(-0.5, 0.5, allow_nan=False), min_size=2, max_size=200),
    offset=st.sampled_from([0.0, 0.01, 1.0]),
    window=st.integers(2, 30),
)
def test_rolling_volatility_property_matches_pandas(values: list[float], offset: float, window: int) -> None:
    r = np.asarray(values) + offset
    got = rolling_volatility(r, window, 1.0)
    ref = pd.Series(r).rolling(window).std().to_numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-7, atol=1e-9, equal_nan=True)
    assert (got[window - 1 :] >= 0.0).all()


def test_extended_stats_absurd_magnitudes_are_none_not_inf() -> None:
    ts = T0 + np.arange(4, dtype=np.int64) * HOUR
    stats = extended_stats(np.array([1e-300, 1e300, 1e-300, 1e300]), ts, HOUR, np.array([1.0, 2.0, 1.0, 2.0]))
    assert all(v is None or math.isfinite(v) for v in stats.values())
    orjson.dumps(stats)


def test_rolling_nearly_flat_window_after_a_volatile_stretch() -> None:
    """Cumulative-sum rounding must not leak into a quiet window: checked against a direct two-pass std."""
    quiet = 1e-4 + np.random.default_rng(4).normal(0.0, 1e-11, 300)
    r = np.concatenate((_returns(9, 100_000) * 10.0, quiet))
    vol = rolling_volatility(r, 200, 1.0)
    sharpe = rolling_sharpe(r, 200, 1.0)
    last = r[-200:]
    assert vol[-1] == pytest.approx(last.std(ddof=1), rel=1e-6)
    assert sharpe[-1] == pytest.approx(last.mean() / last.std(ddof=1), rel=1e-6)
