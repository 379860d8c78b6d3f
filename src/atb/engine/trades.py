"""Round-trip trades rebuilt from fills, exactly.

A trade is one position's life in one instrument: it opens when the position
leaves zero and closes when it returns to zero. A fill that flips the
position closes one trade and opens the next; its quantity and fee are split
between them in proportion (the fee share of the closing part is rounded
down, the rest goes to the new trade, so no unit is lost or counted twice).
A position still open after the last bar is reported as an open trade,
marked at the last close, as backtesting.py and vectorbt do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from atb.domain import Instrument, InstrumentId, OrderFilled


@dataclass(slots=True)
class Trade:
    """Exact ledger of one round trip; amounts in quote units, prices in ticks × lots sums."""

    instrument: Instrument
    direction: int  # +1 long, -1 short
    entry_bar: int
    entry_ts: int
    exit_bar: int = -1
    exit_ts: int = 0
    lots: int = 0  # total entered
    entry_notional: int = 0  # Σ ticks × lots × factor of entries (quote units)
    exit_notional: int = 0
    exit_lots: int = 0
    fees: int = 0
    is_open: bool = True

    @property
    def gross_units(self) -> int:
        return self.direction * (self.exit_notional - self.entry_notional)

    @property
    def pnl_units(self) -> int:
        """Net of entry and exit fees."""
        return self.gross_units - self.fees


def build_trades(
    fills: list[OrderFilled],
    signed_lots: list[int],
    fill_bars: list[int],
    last_close_ticks: dict[str, int],
    last_bar: int,
    last_ts: int,
) -> list[Trade]:
    """Rebuild round trips from fills in execution order; open ones are marked at the last close.

    `signed_lots[k]` is fill k's quantity, negative for sells (computed once by the caller).
    """
    open_trades: dict[InstrumentId, Trade] = {}
    position: dict[InstrumentId, int] = {}
    done: list[Trade] = []
    for fill, signed, bar in zip(fills, signed_lots, fill_bars, strict=True):
        inst = fill.instrument
        sym = inst.id
        factor = inst.notional_factor
        pos = position.get(sym, 0)
        remaining = abs(signed)
        fee_left = fill.fee_units
        if pos != 0 and (pos > 0) != (signed > 0):
            trade = open_trades[sym]
            closing = remaining if remaining < abs(pos) else abs(pos)
            fee_share = fill.fee_units * closing // fill.lots
            trade.exit_notional += closing * fill.ticks * factor
            trade.exit_lots += closing
            trade.fees += fee_share
            fee_left -= fee_share
            remaining -= closing
            pos += closing if signed > 0 else -closing
            if pos == 0:
                trade.exit_bar = bar
                trade.exit_ts = fill.ts_event
                trade.is_open = False
                done.append(trade)
                del open_trades[sym]
        if remaining:
            opened = open_trades.get(sym)
            if opened is None:
                opened = open_trades[sym] = Trade(inst, 1 if signed > 0 else -1, bar, fill.ts_event)
            opened.lots += remaining
            opened.entry_notional += remaining * fill.ticks * factor
            opened.fees += fee_left
            pos += remaining if signed > 0 else -remaining
        elif fee_left and sym in open_trades:
            open_trades[sym].fees += fee_left
        position[sym] = pos
    for iid, trade in open_trades.items():
        rest = trade.lots - trade.exit_lots
        trade.exit_notional += rest * last_close_ticks[iid] * trade.instrument.notional_factor
        trade.exit_bar = last_bar
        trade.exit_ts = last_ts
        done.append(trade)
    if len(last_close_ticks) > 1:
        done.sort(key=lambda t: (t.entry_ts, t.exit_ts))  # interleave instruments by time
    return done


def excursions(
    trades: list[Trade],
    entry_price: npt.NDArray[np.float64],
    highs: dict[str, npt.NDArray[np.float64]],
    lows: dict[str, npt.NDArray[np.float64]],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Maximum adverse and favourable excursion of each trade, in % of its entry price.

    Computed over the bars from entry to exit inclusive (the entry bar's full
    range counts, a conservative reading for MAE), one `reduceat` per
    instrument instead of a Python loop over trades.
    """
    n = len(trades)
    mae = np.zeros(n)
    mfe = np.zeros(n)
    by_symbol: dict[str, list[int]] = {}
    for k, trade in enumerate(trades):
        by_symbol.setdefault(str(trade.instrument.id), []).append(k)
    for sym, rows in by_symbol.items():
        high = np.append(highs[sym], 0.0)
        low = np.append(lows[sym], 0.0)
        starts = np.array([trades[k].entry_bar for k in rows], dtype=np.int64)
        stops = np.array([trades[k].exit_bar + 1 for k in rows], dtype=np.int64)
        order = np.argsort(starts, kind="stable")
        starts, stops = starts[order], stops[order]
        idx = np.empty(2 * len(rows), dtype=np.int64)
        idx[0::2] = starts
        idx[1::2] = stops
        seg_high = np.maximum.reduceat(high, idx)[0::2]
        seg_low = np.minimum.reduceat(low, idx)[0::2]
        sel = np.asarray(rows, dtype=np.int64)[order]
        entry = entry_price[sel]
        direction = np.array([trades[k].direction for k in sel], dtype=np.float64)
        up = (seg_high / entry - 1.0) * 100.0
        down = (seg_low / entry - 1.0) * 100.0
        mfe[sel] = np.where(direction > 0, up, -down)
        mae[sel] = np.where(direction > 0, down, -up)
    return mae, mfe
