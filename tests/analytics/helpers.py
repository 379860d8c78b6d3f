"""Builders shared by the analytics tests."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import orjson

from atb.analytics.performance import EquityCurve, Stats, compute_stats
from atb.analytics.trade_stats import TradeArrays

DAY = 86_400 * 1_000_000_000
#: 2024-01-01T00:00:00Z, so hand cases have readable `start`/`end` strings.
T0 = 1_704_067_200 * 1_000_000_000


@dataclass(frozen=True)
class DailyBars:
    ts: npt.NDArray[np.int64]
    open: npt.NDArray[np.float64]
    close: npt.NDArray[np.float64]


def run_stats(
    equity: Sequence[float] | npt.NDArray[np.float64],
    *,
    initial_cash: float = 100.0,
    ts: Sequence[int] | npt.NDArray[np.int64] | None = None,
    timeframe_ns: int = DAY,
    exposed: Sequence[bool] | None = None,
    close: Sequence[float] | npt.NDArray[np.float64] | None = None,
    trades: TradeArrays | None = None,
    total_fees: float = 0.0,
) -> Stats:
    """compute_stats with defaults for whatever a test does not care about."""
    eq = np.asarray(equity, dtype=np.float64)
    n = len(eq)
    ts_arr = T0 + np.arange(n, dtype=np.int64) * timeframe_ns if ts is None else np.asarray(ts)
    curve = EquityCurve(
        equity=eq,
        ts=ts_arr,
        timeframe_ns=timeframe_ns,
        exposed=np.zeros(n, dtype=bool) if exposed is None else np.asarray(exposed),
    )
    return compute_stats(
        curve,
        TradeArrays.empty() if trades is None else trades,
        close=np.full(n, 10.0) if close is None else np.asarray(close, dtype=np.float64),
        initial_cash=initial_cash,
        total_fees=total_fees,
    )


SPEC_KEYS = [
    "start", "end", "duration_days", "bars", "exposure_pct", "initial_equity", "final_equity",
    "peak_equity", "return_pct", "buy_hold_return_pct", "cagr_pct", "volatility_ann_pct",
    "sharpe", "sortino", "calmar", "max_drawdown_pct", "max_drawdown_duration_days",
    "avg_drawdown_pct", "trades", "win_rate_pct", "best_trade_pct", "worst_trade_pct",
    "avg_trade_pct", "max_trade_duration_days", "avg_trade_duration_days", "profit_factor",
    "expectancy_pct", "sqn", "fees",
]  # fmt: skip


def assert_clean(stats: dict[str, object]) -> None:
    """Every value a plain JSON scalar: finite float, int, str or None; orjson round-trips it."""
    assert list(stats) == SPEC_KEYS
    for key, value in stats.items():
        assert value is None or type(value) in (float, int, str), (key, type(value))
        if type(value) is float:
            assert math.isfinite(value), key
    assert orjson.loads(orjson.dumps(stats)) == stats
