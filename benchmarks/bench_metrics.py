"""Analytics speed on a long equity curve: statistics, VaR/CVaR by every method, VaR backtest.

    python benchmarks/bench_metrics.py [N]

Prints the time of each computation on N points (default 1,000,000) and
points per second. Not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from atb.analytics.metrics import extended_stats, rolling_sharpe
from atb.analytics.performance import EquityCurve, compute_stats
from atb.analytics.periods import drawdown_table, period_returns
from atb.analytics.risk import portfolio_var, risk_table
from atb.analytics.trade_stats import TradeArrays
from atb.analytics.var_backtest import backtest_var


def _best(fn: Callable[[], Any], repeat: int = 3) -> float:
    fn()  # warm-up (numba kernels compile or load from cache on the first call)
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("points", nargs="?", type=int, default=1_000_000)
    n = parser.parse_args().points
    rng = np.random.default_rng(7)
    returns = rng.standard_t(4, n) * 0.002
    equity = 10_000.0 * np.cumprod(1.0 + returns)
    ts = np.int64(1_600_000_000_000_000_000) + np.arange(n, dtype=np.int64) * 60_000_000_000
    curve = EquityCurve(equity=equity, ts=ts, timeframe_ns=60_000_000_000, exposed=np.ones(n, dtype=bool))
    k = 30_000
    trades = TradeArrays(
        pnl=rng.normal(0, 10, k),
        return_pct=rng.normal(0, 1, k),
        entry_ts=ts[:k],
        exit_ts=ts[:k] + 60_000_000_000,
        fees=np.full(k, 0.1),
    )
    matrix = np.column_stack([returns, rng.standard_t(4, n) * 0.002, rng.standard_t(4, n) * 0.003])
    jobs: dict[str, Callable[[], Any]] = {
        "compute_stats (all backtest statistics, 30k trades)": lambda: compute_stats(
            curve, trades, close=equity, initial_cash=10_000.0, total_fees=3000.0
        ),
        "extended_stats (omega, tail, skew, kurtosis, ulcer, alpha/beta, IR...)": lambda: extended_stats(
            equity, ts, 60_000_000_000, benchmark_close=equity[::-1].copy(), exposure_pct=50.0, traded_notional=1e7
        ),
        "rolling_sharpe (window 1440)": lambda: rolling_sharpe(returns, 1440, 525_600),
        "drawdown_table (top 5)": lambda: drawdown_table(equity, ts, top=5),
        "period_returns (months)": lambda: period_returns(equity, ts, period="month"),
        "risk_table (4 methods x 2 levels)": lambda: risk_table(returns),
        "portfolio_var normal, 3 assets": lambda: portfolio_var(matrix, [0.4, 0.4, 0.2]),
        "backtest_var historical, window 250": lambda: backtest_var(returns, method="historical"),
        "backtest_var normal, window 250": lambda: backtest_var(returns, method="normal"),
    }
    print(f"analytics on {n:,} points, best of 3")
    for label, job in jobs.items():
        seconds = _best(job)
        print(f"  {label:<70} {seconds:.3f} s  {n / seconds:>14,.0f} points/s")


if __name__ == "__main__":
    main()
