"""A finished run's columns → `BacktestResult`: equity curve, trades, MAE/MFE, statistics.

Shared by both engines: the bar loop passes its fills as columns, the signal
kernel its own. Nothing per bar is recorded during the run; the equity curve,
exposure and excursions are rebuilt here with numpy from the fills. Cash after
each fill and the sampled equity values stay exact (Python ints); only the
per-bar float curve behind the statistics is float64.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import accumulate
from typing import TYPE_CHECKING, Any

import numpy as np

from atb.analytics.performance import EquityCurve, compute_stats, returns, var_cvar_historical
from atb.analytics.trade_stats import TradeArrays
from atb.domain import Money, Order, OrderFilled
from atb.engine.columns import FillColumns, OrderColumns
from atb.engine.formatting import fixed_str
from atb.engine.results import BacktestResult, ResultBook
from atb.engine.trades import build_trades, excursions

if TYPE_CHECKING:
    from atb.engine.backtest import Backtest


def build_result(
    bt: Backtest,
    fills: FillColumns,
    *,
    order_count: int,
    order_columns: Callable[[], OrderColumns],
    objects: Callable[[], tuple[list[Order], list[OrderFilled]]],
) -> BacktestResult:
    markets = bt.markets
    account = bt.account
    primary = markets[bt.primary]
    bars = primary.bars
    n = len(bars)
    ts = bars.ts
    fill_bars = np.asarray(fills.bar, dtype=np.int64)
    signed = fills.signed
    if fills.cash is not None:
        cash_steps = [account.initial_units, *fills.cash]
    else:
        cash_steps = list(
            accumulate(
                (
                    -(q * t * f) - fee
                    for q, t, f, fee in zip(signed, fills.ticks, fills.factors(), fills.fee, strict=True)
                ),
                initial=account.initial_units,
            )
        )
    owner = np.asarray(fills.owner, dtype=np.int64) if fills.owner is not None else None
    signed_arr = np.array(signed, dtype=np.int64)
    last_fill = np.cumsum(np.bincount(fill_bars, minlength=n))  # fills booked by bar i's close
    equity_f = np.asarray(cash_steps, dtype=np.float64)[last_fill]
    exposed = np.zeros(n, dtype=bool)
    lots_by_symbol: dict[str, np.ndarray[Any, Any]] = {}
    for j, (sym, market) in enumerate(markets.items()):
        deltas = np.zeros(len(fills) + 1, dtype=np.int64)
        deltas[1:] = signed_arr if owner is None else np.where(owner == j, signed_arr, 0)
        lots_steps = np.cumsum(deltas)
        lots_bar = lots_steps[last_fill]
        lots_by_symbol[sym] = lots_steps
        exposed |= lots_bar != 0
        equity_f += lots_bar.astype(np.float64) * market.close.astype(np.float64) * market.instrument.notional_factor
    scale = 10.0**account.currency.precision
    equity_f /= scale

    # exact equity at the sampled points
    every = 1 if bt.equity_points == 0 or n <= bt.equity_points else -(-n // bt.equity_points)
    sample = np.arange(0, n, every, dtype=np.int64)
    if sample[-1] != n - 1:
        sample = np.append(sample, n - 1)
    at_fill = last_fill[sample]
    values = [cash_steps[k] for k in at_fill.tolist()]
    for sym, market in markets.items():
        lots_at = lots_by_symbol[sym][at_fill].tolist()
        closes = market.close[sample].tolist()
        factor = market.instrument.notional_factor
        values = [v + q * c * factor for v, q, c in zip(values, lots_at, closes, strict=True)]
    equity_exact = dict(zip(sample.tolist(), values, strict=True))

    last_close = [int(m.close[n - 1]) for m in markets.values()]
    trades = build_trades(fills, last_close, n - 1, int(ts[n - 1]))
    mae, mfe = excursions(
        trades,
        trades.entry_price(),
        [m.bars.high for m in markets.values()],
        [m.bars.low for m in markets.values()],
    )
    pnl = trades.pnl_units
    trade_arrays = TradeArrays(
        pnl=np.array(pnl, dtype=np.float64) / scale,
        return_pct=np.array(trades.return_pct, dtype=np.float64),
        entry_ts=np.array(trades.entry_ts, dtype=np.int64),
        exit_ts=np.array(trades.exit_ts, dtype=np.int64),
        fees=np.array(trades.fees, dtype=np.float64) / scale,
    )
    initial = account.initial_units / scale
    curve = EquityCurve(equity=equity_f, ts=ts, timeframe_ns=bars.timeframe_ns, exposed=exposed)
    bar_returns = returns(equity_f, initial)  # shared with compute_stats: one pass fewer over the curve
    stats = compute_stats(
        curve,
        trade_arrays,
        close=bars.close,
        initial_cash=initial,
        total_fees=account.fees_units / scale,
        bar_returns=bar_returns,
    )
    risk = var_cvar_historical(bar_returns, 0.95)
    stats["var_95_pct"] = None if risk is None else risk[0]
    stats["cvar_95_pct"] = None if risk is None else risk[1]
    stats["warmup_bars"] = bt.strategy.warmup_bars
    stats["orders"] = order_count
    stats["final_equity_exact"] = fixed_str(equity_exact[n - 1], account.currency.precision)
    meta = {
        "strategy": type(bt.strategy).name or type(bt.strategy).__name__,
        "params": bt.strategy.params,
        "symbols": list(markets),
        "timeframe_s": bars.timeframe_ns // 1_000_000_000,
        "cash": str(Money.from_units(account.initial_units, account.currency).amount),
        "account_mode": account.mode.value,
        "leverage": str(account.leverage),
        "fill": bt.execution.fill.value,
        "engine": bt.engine_used,
        "latency_bars": bt.execution.latency_bars,
        "equity_every": every,
        "_grids": {s: (m.instrument.lot, m.instrument.tick) for s, m in markets.items()},
    }
    book = ResultBook(fills=fills, trades=trades, order_count=order_count, order_columns=order_columns, objects=objects)
    return BacktestResult(
        stats=stats,
        book=book,
        account=account,
        ts=ts,
        equity=equity_f,
        equity_exact=equity_exact,
        mae_pct=mae,
        mfe_pct=mfe,
        meta=meta,
        messages=bt.ctx.messages,
    )
