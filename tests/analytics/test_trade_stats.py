"""Trade statistics: hand computations and the no/one/all-winning/all-losing edge cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from atb.analytics.trade_stats import (
    TRADE_STAT_KEYS,
    TradeArrays,
    TradeRecord,
    geometric_mean_return_pct,
    profit_factor,
    sqn,
    trade_stats,
)

from .helpers import DAY, T0, assert_clean, run_stats

REL = 1e-12


def make_trades(pnl: list[float], ret: list[float], days: list[float] | None = None) -> TradeArrays:
    n = len(pnl)
    durations = [1.0] * n if days is None else days
    entry = [T0 + i * 10 * DAY for i in range(n)]
    return TradeArrays.from_records(
        TradeRecord(pnl=p, return_pct=r, entry_ts=e, exit_ts=e + int(d * DAY), fees=0.5)
        for p, r, e, d in zip(pnl, ret, entry, durations, strict=True)
    )


def test_no_trades() -> None:
    out = trade_stats(TradeArrays.empty())
    assert list(out) == list(TRADE_STAT_KEYS)
    assert out["trades"] == 0
    assert all(out[k] is None for k in TRADE_STAT_KEYS[1:])
    s = run_stats([100.0, 101.0], trades=TradeArrays.empty())
    assert_clean(s)
    assert s["trades"] == 0


def test_one_winning_trade() -> None:
    out = trade_stats(make_trades([12.0], [3.0], days=[0.5]))
    assert out == {
        "trades": 1,
        "win_rate_pct": 100.0,
        "best_trade_pct": 3.0,
        "worst_trade_pct": 3.0,
        "avg_trade_pct": pytest.approx(3.0, rel=REL),
        "max_trade_duration_days": 0.5,
        "avg_trade_duration_days": 0.5,
        "profit_factor": None,  # no losing trade: unbounded
        "expectancy_pct": 3.0,
        "sqn": None,  # std of one sample is undefined
    }


def test_one_losing_trade() -> None:
    out = trade_stats(make_trades([-4.0], [-2.0]))
    assert out["win_rate_pct"] == 0.0
    assert out["profit_factor"] == 0.0
    assert out["sqn"] is None


def test_all_winning() -> None:
    out = trade_stats(make_trades([1.0, 2.0, 6.0], [1.0, 2.0, 6.0], days=[1.0, 2.0, 6.0]))
    assert out["win_rate_pct"] == 100.0
    assert out["profit_factor"] is None
    assert out["max_trade_duration_days"] == 6.0
    assert out["avg_trade_duration_days"] == 3.0
    # mean 3, std(ddof=1) = sqrt((4 + 1 + 9) / 2) = sqrt(7)
    assert out["sqn"] == pytest.approx(math.sqrt(3) * 3 / math.sqrt(7), rel=REL)
    assert out["avg_trade_pct"] == pytest.approx(((1.01 * 1.02 * 1.06) ** (1 / 3) - 1) * 100, rel=REL)


def test_all_losing() -> None:
    out = trade_stats(make_trades([-1.0, -3.0], [-0.5, -1.5]))
    assert out["win_rate_pct"] == 0.0
    assert out["profit_factor"] == 0.0
    assert out["best_trade_pct"] == -0.5
    assert out["worst_trade_pct"] == -1.5
    assert out["expectancy_pct"] == -1.0
    assert out["sqn"] == pytest.approx(math.sqrt(2) * -2.0 / math.sqrt(2), rel=REL)


def test_break_even_trades_are_neither_wins_nor_losses() -> None:
    out = trade_stats(make_trades([0.0, 5.0, -2.5, 0.0], [0.0, 1.0, -0.5, 0.0]))
    assert out["win_rate_pct"] == 25.0
    assert out["profit_factor"] == 2.0
    assert profit_factor(np.array([0.0, 0.0])) is None


def test_identical_pnl_has_zero_sqn() -> None:
    assert sqn(np.array([2.0, 2.0, 2.0])) == 0.0
    assert sqn(np.array([0.1] * 7)) == 0.0  # the float mean of identical values may drift


def test_total_loss_trade_geometric_mean() -> None:
    assert geometric_mean_return_pct(np.array([50.0, -100.0])) == -100.0
    assert geometric_mean_return_pct(np.array([50.0, -120.0])) == -100.0
    assert geometric_mean_return_pct(np.array([21.0, 0.0, -10.0])) == pytest.approx(
        ((1.21 * 0.9) ** (1 / 3) - 1) * 100, rel=REL
    )
    assert geometric_mean_return_pct(np.empty(0)) is None


def test_trade_stats_in_report_are_plain_python() -> None:
    rng = np.random.default_rng(3)
    m = 500
    entry = T0 + np.sort(rng.integers(0, 100 * DAY, m))
    trades = TradeArrays(
        pnl=rng.normal(0.5, 3.0, m),
        return_pct=rng.normal(0.2, 1.5, m),
        entry_ts=entry,
        exit_ts=entry + rng.integers(1, 5 * DAY, m),
        fees=np.full(m, 0.05),
    )
    s = run_stats(100 + np.cumsum(rng.normal(0, 1, 200)), trades=trades, total_fees=25.0)
    assert_clean(s)
    pnl = trades.pnl
    assert s["trades"] == m
    assert s["win_rate_pct"] == pytest.approx(np.mean(pnl > 0) * 100, rel=REL)
    assert s["profit_factor"] == pytest.approx(pnl[pnl > 0].sum() / -pnl[pnl < 0].sum(), rel=1e-12)
    assert s["sqn"] == pytest.approx(math.sqrt(m) * pnl.mean() / pnl.std(ddof=1), rel=1e-9)
    assert s["expectancy_pct"] == pytest.approx(trades.return_pct.mean(), rel=1e-12)


def test_trade_arrays_validation() -> None:
    with pytest.raises(ValueError, match="'fees' has 1 rows"):
        TradeArrays(pnl=[1.0, 2.0], return_pct=[1.0, 2.0], entry_ts=[0, 1], exit_ts=[1, 2],  # type: ignore[arg-type]
                    fees=[0.0])  # fmt: skip
    with pytest.raises(ValueError, match="NaN"):
        TradeArrays(pnl=[float("nan")], return_pct=[1.0], entry_ts=[0], exit_ts=[1], fees=[0.0])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="exits before"):
        TradeArrays(pnl=[1.0], return_pct=[1.0], entry_ts=[5], exit_ts=[4], fees=[0.0])  # type: ignore[arg-type]
    trades = TradeArrays(pnl=[1], return_pct=[2], entry_ts=[0], exit_ts=[5], fees=[0])  # type: ignore[arg-type]
    assert trades.pnl.dtype == np.float64 and trades.exit_ts.dtype == np.int64
    assert len(trades) == 1
