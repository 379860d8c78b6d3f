"""Round-trip trades rebuilt from fills, exactly.

A trade is one position's life in one instrument: it opens when the position
leaves zero and closes when it returns to zero. A fill that flips the
position closes one trade and opens the next; its quantity and fee are split
between them in proportion (the fee share of the closing part is rounded
down, the rest goes to the new trade, so no unit is lost or counted twice).
A position still open after the last bar is reported as an open trade,
marked at the last close, as backtesting.py and vectorbt do.

Trades are built as columns (`TradeColumns`) from the fill columns; `Trade`
objects are made from them only when a caller asks (`BacktestResult.trades`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import numpy.typing as npt

from atb.domain import Instrument
from atb.engine.columns import FillColumns

FloatArray = npt.NDArray[np.float64]


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


# positions in a trade record while it is built (a list: cheaper than an object per trade)
_DIR, _ENTRY_BAR, _ENTRY_TS, _EXIT_BAR, _EXIT_TS, _LOTS, _ENTRY_N, _EXIT_N, _EXIT_LOTS, _FEES, _OPEN, _OWNER = range(12)


@dataclass
class TradeColumns:
    """Round trips in the order `build_trades` reports them (by exit; by entry time across instruments)."""

    owner: list[int]
    """Index into `instruments`."""
    direction: list[int]
    entry_bar: list[int]
    entry_ts: list[int]
    exit_bar: list[int]
    exit_ts: list[int]
    lots: list[int]
    entry_notional: list[int]
    exit_notional: list[int]
    exit_lots: list[int]
    fees: list[int]
    is_open: list[bool]
    instruments: list[Instrument]

    def __len__(self) -> int:
        return len(self.owner)

    @cached_property
    def pnl_units(self) -> list[int]:
        """Net P&L of each trade in quote units (`Trade.pnl_units`); made once, read by the statistics and the
        JSON rows."""
        return [
            d * (x - e) - f
            for d, x, e, f in zip(self.direction, self.exit_notional, self.entry_notional, self.fees, strict=True)
        ]

    @cached_property
    def return_pct(self) -> list[float]:
        """Net P&L of each trade in % of its entry notional (0.0 for a trade that cost nothing)."""
        return [p / e * 100.0 if e else 0.0 for p, e in zip(self.pnl_units, self.entry_notional, strict=True)]

    def entry_price(self) -> FloatArray:
        """Average entry price as a float (for MAE/MFE), computed as the trade objects did."""
        factors = [inst.notional_factor for inst in self.instruments]
        ticks = [float(inst.tick) for inst in self.instruments]
        return np.array(
            [
                e / (q * factors[k]) * ticks[k]
                for e, q, k in zip(self.entry_notional, self.lots, self.owner, strict=True)
            ],
            dtype=np.float64,
        )

    def to_trades(self) -> list[Trade]:
        insts = self.instruments
        return [
            Trade(insts[k], d, eb, et, xb, xt, q, en, xn, xq, f, o)
            for k, d, eb, et, xb, xt, q, en, xn, xq, f, o in zip(
                self.owner, self.direction, self.entry_bar, self.entry_ts, self.exit_bar, self.exit_ts, self.lots,
                self.entry_notional, self.exit_notional, self.exit_lots, self.fees, self.is_open, strict=True,
            )
        ]  # fmt: skip


def build_trades(fills: FillColumns, last_close_ticks: list[int], last_bar: int, last_ts: int) -> TradeColumns:
    """Rebuild round trips from fills in execution order; open ones are marked at the last close.

    `fills.instruments` lists every instrument of the run (several → trades
    sorted by entry, then exit time); `last_close_ticks` is aligned with it.
    """
    simple = _flat_to_flat(fills, last_close_ticks, last_bar, last_ts)
    return simple if simple is not None else _walk_fills(fills, last_close_ticks, last_bar, last_ts)


def _flat_to_flat(fills: FillColumns, last_close_ticks: list[int], last_bar: int, last_ts: int) -> TradeColumns | None:
    """The usual shape, column at a time: one instrument, every fill opens from flat or closes to flat.

    Then fill 2k opens trade k and fill 2k+1 closes it whole, so no quantity or
    fee is split: `_walk_fills` would give each trade exactly its two fills'
    sums, which is what is computed here. Any other shape returns None.
    """
    if fills.owner is not None or not len(fills):
        return None
    signed = np.array(fills.signed, dtype=np.int64)
    after = np.cumsum(signed)
    before = after - signed
    if not ((before == 0) | (after == 0)).all():
        return None
    # every fill opens from flat or closes to flat, so they alternate: fill 2k opens, fill 2k+1 closes
    inst = fills.instruments[0]
    factor = inst.notional_factor
    s, t, f, b, ts = fills.signed, fills.ticks, fills.fee, fills.bar, fills.ts
    opened_signed, closing_ticks = s[0::2], t[1::2]
    lots = [q if q > 0 else -q for q in opened_signed]
    closed = len(closing_ticks)
    still_open = len(lots) - closed  # 0, or 1: the last trade runs past the data
    exit_notional = [q * x * factor for q, x in zip(lots, closing_ticks, strict=False)]
    fees = [o + c for o, c in zip(f[0::2], f[1::2], strict=False)]
    if still_open:
        exit_notional.append(lots[-1] * last_close_ticks[0] * factor)
        fees.append(f[-1])
    return TradeColumns(
        owner=[0] * len(lots),
        direction=[1 if q > 0 else -1 for q in opened_signed],
        entry_bar=b[0::2],
        entry_ts=ts[0::2],
        exit_bar=b[1::2] + [last_bar] * still_open,
        exit_ts=ts[1::2] + [last_ts] * still_open,
        lots=lots,
        entry_notional=[q * x * factor for q, x in zip(lots, t[0::2], strict=True)],
        exit_notional=exit_notional,
        exit_lots=lots[:closed] + [0] * still_open,
        fees=fees,
        is_open=[False] * closed + [True] * still_open,
        instruments=fills.instruments,
    )


def _walk_fills(fills: FillColumns, last_close_ticks: list[int], last_bar: int, last_ts: int) -> TradeColumns:
    """Any shape (flips, partial closes, scaling in, several instruments): one pass over the fills."""
    insts = fills.instruments
    factors = [inst.notional_factor for inst in insts]
    owners = fills.owner if fills.owner is not None else [0] * len(fills.bar)
    open_trades: dict[int, list[int]] = {}
    position = [0] * len(insts)
    done: list[list[int]] = []
    for sym, signed, ticks, fee, bar, ts in zip(
        owners, fills.signed, fills.ticks, fills.fee, fills.bar, fills.ts, strict=True
    ):
        factor = factors[sym]
        pos = position[sym]
        lots = signed if signed > 0 else -signed
        remaining = lots
        fee_left = fee
        if pos != 0 and (pos > 0) != (signed > 0):
            trade = open_trades[sym]
            held = pos if pos > 0 else -pos
            closing = remaining if remaining < held else held
            fee_share = fee * closing // lots
            trade[_EXIT_N] += closing * ticks * factor
            trade[_EXIT_LOTS] += closing
            trade[_FEES] += fee_share
            fee_left -= fee_share
            remaining -= closing
            pos += closing if signed > 0 else -closing
            if pos == 0:
                trade[_EXIT_BAR] = bar
                trade[_EXIT_TS] = ts
                trade[_OPEN] = 0
                done.append(trade)
                del open_trades[sym]
        if remaining:
            opened = open_trades.get(sym)
            if opened is None:
                opened = open_trades[sym] = [1 if signed > 0 else -1, bar, ts, -1, 0, 0, 0, 0, 0, 0, 1, sym]
            opened[_LOTS] += remaining
            opened[_ENTRY_N] += remaining * ticks * factor
            opened[_FEES] += fee_left
            pos += remaining if signed > 0 else -remaining
        elif fee_left and sym in open_trades:
            open_trades[sym][_FEES] += fee_left
        position[sym] = pos
    for sym, trade in open_trades.items():
        rest = trade[_LOTS] - trade[_EXIT_LOTS]
        trade[_EXIT_N] += rest * last_close_ticks[sym] * factors[sym]
        trade[_EXIT_BAR] = last_bar
        trade[_EXIT_TS] = last_ts
        done.append(trade)
    if len(insts) > 1:
        done.sort(key=lambda t: (t[_ENTRY_TS], t[_EXIT_TS]))  # interleave instruments by time
    if not done:
        return TradeColumns([], [], [], [], [], [], [], [], [], [], [], [], insts)
    cols = [list(col) for col in zip(*done, strict=True)]
    return TradeColumns(
        owner=cols[_OWNER],
        direction=cols[_DIR],
        entry_bar=cols[_ENTRY_BAR],
        entry_ts=cols[_ENTRY_TS],
        exit_bar=cols[_EXIT_BAR],
        exit_ts=cols[_EXIT_TS],
        lots=cols[_LOTS],
        entry_notional=cols[_ENTRY_N],
        exit_notional=cols[_EXIT_N],
        exit_lots=cols[_EXIT_LOTS],
        fees=cols[_FEES],
        is_open=[bool(o) for o in cols[_OPEN]],
        instruments=insts,
    )


def excursions(
    trades: TradeColumns, entry_price: FloatArray, highs: list[FloatArray], lows: list[FloatArray]
) -> tuple[FloatArray, FloatArray]:
    """Maximum adverse and favourable excursion of each trade, in % of its entry price.

    Computed over the bars from entry to exit inclusive (the entry bar's full
    range counts, a conservative reading for MAE), one `reduceat` per
    instrument instead of a Python loop over trades. `highs`/`lows` are
    aligned with `trades.instruments`.
    """
    n = len(trades)
    mae = np.zeros(n)
    mfe = np.zeros(n)
    if not n:
        return mae, mfe
    owner = np.asarray(trades.owner, dtype=np.int64)
    entry_bar = np.asarray(trades.entry_bar, dtype=np.int64)
    exit_bar = np.asarray(trades.exit_bar, dtype=np.int64)
    direction = np.asarray(trades.direction, dtype=np.float64)
    for sym in dict.fromkeys(trades.owner):
        rows = np.flatnonzero(owner == sym)
        high = np.append(highs[sym], 0.0)
        low = np.append(lows[sym], 0.0)
        starts = entry_bar[rows]
        stops = exit_bar[rows] + 1
        order = np.argsort(starts, kind="stable")
        starts, stops = starts[order], stops[order]
        idx = np.empty(2 * len(rows), dtype=np.int64)
        idx[0::2] = starts
        idx[1::2] = stops
        seg_high = np.maximum.reduceat(high, idx)[0::2]
        seg_low = np.minimum.reduceat(low, idx)[0::2]
        sel = rows[order]
        entry = entry_price[sel]
        up = (seg_high / entry - 1.0) * 100.0
        down = (seg_low / entry - 1.0) * 100.0
        long = direction[sel] > 0
        mfe[sel] = np.where(long, up, -down)
        mae[sel] = np.where(long, down, -up)
    return mae, mfe
