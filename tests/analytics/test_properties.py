"""Property tests: whatever the curve and trades, the report is finite, ordered and serialisable."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from atb.analytics.performance import max_drawdown, returns
from atb.analytics.trade_stats import TradeArrays

from .helpers import DAY, T0, assert_clean, run_stats

finite = st.floats(allow_nan=False, allow_infinity=False)
equity_values = st.one_of(
    st.floats(min_value=-1e3, max_value=1e9, allow_nan=False),
    st.sampled_from([0.0, 100.0, 1e-300, 5e-324, 1e308]),
    finite,
)
curves = st.lists(equity_values, min_size=1, max_size=60)
trade_rows = st.lists(
    st.tuples(
        st.one_of(st.floats(min_value=-1e6, max_value=1e6), finite),
        st.one_of(st.floats(min_value=-150.0, max_value=1e4), finite),
        st.integers(min_value=0, max_value=400 * DAY),
    ),
    max_size=30,
)
timeframes = st.sampled_from([60 * 10**9, 5 * 60 * 10**9, 3_600 * 10**9, DAY])


@settings(max_examples=300, deadline=None)
@given(curve=curves, rows=trade_rows, timeframe_ns=timeframes, gaps=st.data())
def test_report_is_always_clean(
    curve: list[float], rows: list[tuple[float, float, int]], timeframe_ns: int, gaps: st.DataObject
) -> None:
    n = len(curve)
    steps = gaps.draw(st.lists(st.integers(1, 50), min_size=n, max_size=n))
    offsets = np.cumsum(np.array(steps, dtype=np.int64)) - steps[0]  # 0, then gaps of 1..50 bars
    ts = T0 + offsets * timeframe_ns
    trades = TradeArrays(
        pnl=np.array([r[0] for r in rows], dtype=np.float64),
        return_pct=np.array([r[1] for r in rows], dtype=np.float64),
        entry_ts=np.full(len(rows), T0, dtype=np.int64),
        exit_ts=T0 + np.array([r[2] for r in rows], dtype=np.int64),
        fees=np.zeros(len(rows)),
    )
    s = run_stats(
        curve,
        initial_cash=100.0,
        ts=ts,
        timeframe_ns=timeframe_ns,
        exposed=[v > 100.0 for v in curve],
        close=np.abs(np.array(curve)) + 1.0,
        trades=trades,
    )
    assert_clean(s)
    assert s["bars"] == n
    assert s["trades"] == len(rows)
    mdd = s["max_drawdown_pct"]
    assert isinstance(mdd, float) and -100.0 <= mdd <= 0.0
    avg = s["avg_drawdown_pct"]
    assert isinstance(avg, float) and mdd - 1e-9 <= avg <= 0.0  # a mean may round past the min
    duration, dd_duration = s["duration_days"], s["max_drawdown_duration_days"]
    assert isinstance(duration, float) and isinstance(dd_duration, float)
    assert 0.0 <= dd_duration <= duration
    assert 0.0 <= (s["exposure_pct"] or 0.0) <= 100.0
    if min(curve) <= 0.0:
        assert s["return_pct"] == s["cagr_pct"] == mdd == -100.0


@settings(max_examples=200, deadline=None)
@given(curve=st.lists(st.floats(min_value=1e-3, max_value=1e6), min_size=1, max_size=80))
def test_drawdown_depth_matches_the_compounded_returns(curve: list[float]) -> None:
    eq = np.array(curve)
    d = max_drawdown(eq, np.arange(len(eq), dtype=np.int64))
    wealth = np.r_[1.0, np.cumprod(1.0 + returns(eq))]  # rebuilt from returns, scaled to 1
    expected = float((wealth / np.maximum.accumulate(wealth) - 1.0).min())
    assert abs(d.depth - expected) < 1e-9
    assert 0 <= d.peak_idx <= d.valley_idx < len(eq)
    assert eq[d.peak_idx] == eq[: d.valley_idx + 1].max()
