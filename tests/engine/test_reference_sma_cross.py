"""`sma_cross` on real data against an independent re-implementation.

The reference below shares no code with the engine: it reads the bundled
BTC/USDT 2h bars, finds crosses with exact integer window sums, and replays
next-open fills of whole-equity entries with Python integers (fee rounded
up, lots rounded down). Trades and the final equity must agree exactly.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pyarrow.parquet as pq
import pytest

from atb.data.sample import sample_path
from atb.services.backtest import BacktestRequest, run_backtest_request

FEE_NUM, FEE_DEN = 1, 1000  # 0.1 %
TICKS_PER_UNIT = 100  # BTC/USDT tick 0.01
LOTS_PER_UNIT = 100_000  # lot 0.00001
QUOTE_UNITS = 10**8  # USDT precision 8 → 1 tick × 1 lot = 10 quote units


def _reference(fast: int, slow: int, cash: int) -> tuple[list[tuple[int, int]], int]:
    table = pq.read_table(sample_path("BTC_USDT_2h"))
    close = np.rint(table.column("close").to_numpy() * TICKS_PER_UNIT).astype(np.int64)
    open_ = np.rint(table.column("open").to_numpy() * TICKS_PER_UNIT).astype(np.int64)
    csum = np.concatenate([[0], np.cumsum(close)])
    n = len(close)
    side = 0
    signals: list[tuple[int, int]] = []  # (bar, +1 buy / -1 exit)
    for i in range(slow - 1, n):
        fast_sum = int(csum[i + 1] - csum[i + 1 - fast])
        slow_sum = int(csum[i + 1] - csum[i + 1 - slow])
        diff = fast_sum * slow - slow_sum * fast  # sign of SMA(fast) - SMA(slow), exactly
        if diff > 0:
            if side < 0:
                signals.append((i, 1))
            side = 1
        elif diff < 0:
            if side > 0:
                signals.append((i, -1))
            side = -1
    factor = QUOTE_UNITS // (TICKS_PER_UNIT * LOTS_PER_UNIT)
    money = cash * QUOTE_UNITS
    lots = 0
    trades: list[tuple[int, int]] = []
    entry_bar = -1
    for bar, signal in signals:
        fill_bar = bar + 1
        if fill_bar >= n:
            break
        price = int(open_[fill_bar])
        if signal > 0 and lots == 0:
            unit = price * factor
            buy = money * FEE_DEN // (unit * (FEE_DEN + FEE_NUM))
            while buy > 0 and buy * unit + -(-buy * unit * FEE_NUM // FEE_DEN) > money:
                buy -= 1
            notional = buy * unit
            money -= notional + -(-notional * FEE_NUM // FEE_DEN)
            lots = buy
            entry_bar = fill_bar
        elif signal < 0 and lots > 0:
            notional = lots * price * factor
            money += notional - -(-notional * FEE_NUM // FEE_DEN)
            lots = 0
            trades.append((entry_bar, fill_bar))
    equity = money + lots * int(close[-1]) * factor
    if lots:
        trades.append((entry_bar, n - 1))
    return trades, equity


@pytest.mark.parametrize(("fast", "slow"), [(10, 20), (20, 50)])
def test_sma_cross_matches_independent_reference(fast: int, slow: int) -> None:
    ref_trades, ref_equity = _reference(fast, slow, cash=10_000)
    outcome = run_backtest_request(BacktestRequest(params={"fast": str(fast), "slow": str(slow)}))
    result = outcome.result
    ts = result.ts
    got = [(int(np.searchsorted(ts, t.entry_ts)), int(np.searchsorted(ts, t.exit_ts))) for t in result.trades]
    assert got == ref_trades
    assert Decimal(result.stats["final_equity_exact"]) == Decimal(ref_equity).scaleb(-8)
    assert result.stats["trades"] == len(ref_trades)
