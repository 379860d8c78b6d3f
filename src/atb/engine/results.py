"""What a backtest returns, and the result JSON contract other tools read.

Result JSON (version 1), top-level keys:

* `stats` — flat dict, snake_case keys with units (`return_pct`, `sharpe`, ...).
  Ratios are numbers; undefined ratios are `null`, never NaN.
* `trades` — one object per round trip: `entry_time`, `exit_time` (ISO 8601 UTC),
  `symbol`, `side` (long/short), `quantity`, `entry_price`, `exit_price`, `pnl`,
  `return_pct`, `fees`, `duration_s`, `mae_pct`, `mfe_pct`, `open` (still open
  at the end, marked at the last close).
* `orders` — `id`, `time`, `symbol`, `side`, `type`, `quantity`, `price`, `limit_price`,
  `stop_price`, `filled_quantity`, `status`, `reason`, `tag`.
* `equity` — `time`, `equity` points (the value at the close of the bar stamped
  `time`); at most `equity_points` points, evenly spaced bars, first and last always
  included (see `meta.equity_every`).
* `meta` — run description: strategy, params, symbols, data source, warnings (gaps).

Money, prices and quantities are decimal strings, exact from the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt

from atb.domain import Account, Order, OrderFilled
from atb.engine.formatting import Grid, div_round_half_even, fixed_str, scaled_strs
from atb.engine.gc_pause import gc_paused
from atb.engine.trades import Trade

RESULT_SCHEMA_VERSION = 1

_PRICE_EXTRA_DIGITS = 4
"""Average prices are quotients: shown with 4 digits beyond the tick, half-even."""


def iso_times(ns: npt.NDArray[np.int64]) -> list[str]:
    """UTC epoch ns → ISO 8601 strings with a Z, vectorised."""
    if len(ns) == 0:
        return []
    text = np.datetime_as_string(np.asarray(ns, dtype=np.int64).astype("datetime64[ns]"), unit="s")
    return [t + "Z" for t in text.tolist()]


@dataclass
class BacktestResult:
    stats: dict[str, Any]
    trades: list[Trade]
    orders: list[Order]
    fills: list[OrderFilled]
    account: Account
    ts: npt.NDArray[np.int64]
    equity: npt.NDArray[np.float64]
    equity_exact: dict[int, int]
    mae_pct: npt.NDArray[np.float64]
    mfe_pct: npt.NDArray[np.float64]
    meta: dict[str, Any] = field(default_factory=dict)
    messages: list[tuple[int, str]] = field(default_factory=list)

    def __repr__(self) -> str:
        # Short on purpose: the generated dataclass repr would format every order and fill
        # (seconds for a long run), and asyncio reprs a task's result when its loop shuts down.
        return (
            f"BacktestResult({len(self.ts)} bars, {len(self.orders)} orders, {len(self.fills)} fills, "
            f"{len(self.trades)} trades)"
        )

    @property
    def final_equity(self) -> Decimal:
        last = len(self.ts) - 1
        return Decimal(self.equity_exact[last]).scaleb(-self.account.currency.precision)

    def to_dict(self) -> dict[str, Any]:
        with gc_paused():
            return self._to_dict()

    def _to_dict(self) -> dict[str, Any]:
        precision = self.account.currency.precision
        grids = {sym: (Grid(lot), Grid(tick)) for sym, (lot, tick) in self.meta["_grids"].items()}
        return {
            "schema_version": RESULT_SCHEMA_VERSION,
            "meta": {k: v for k, v in self.meta.items() if not k.startswith("_")},
            "stats": self.stats,
            "trades": self._trade_rows(grids),
            "orders": self._order_rows(grids),
            "equity": self._equity_rows(precision),
        }

    def _trade_rows(self, grids: dict[str, tuple[Grid, Grid]]) -> list[dict[str, Any]]:
        trades = self.trades
        if not trades:
            return []
        entry_times = iso_times(np.array([t.entry_ts for t in trades], dtype=np.int64))
        exit_times = iso_times(np.array([t.exit_ts for t in trades], dtype=np.int64))
        inst = trades[0].instrument
        single = all(t.instrument is inst for t in trades)
        rows = []
        if single:
            lot_grid, tick_grid = grids[inst.id]
            qp = inst.quote.precision
            quantities = scaled_strs([t.lots * lot_grid.step_int for t in trades], lot_grid.decimals)
            pnls = scaled_strs([t.pnl_units for t in trades], qp)
            fees = scaled_strs([t.fees for t in trades], qp)
        for k, t in enumerate(trades):
            if not single:
                inst = t.instrument
                lot_grid, tick_grid = grids[inst.id]
                qp = inst.quote.precision
            rows.append(
                {
                    "symbol": t.instrument.id,
                    "side": "long" if t.direction > 0 else "short",
                    "entry_time": entry_times[k],
                    "exit_time": exit_times[k],
                    "quantity": quantities[k] if single else lot_grid.format(t.lots),
                    "entry_price": _avg_price(t.entry_notional, t.lots, lot_grid, tick_grid, qp),
                    "exit_price": _avg_price(t.exit_notional, t.lots, lot_grid, tick_grid, qp),
                    "pnl": pnls[k] if single else fixed_str(t.pnl_units, qp),
                    "return_pct": t.pnl_units / t.entry_notional * 100.0 if t.entry_notional else 0.0,
                    "fees": fees[k] if single else fixed_str(t.fees, qp),
                    "duration_s": (t.exit_ts - t.entry_ts) / 1e9,
                    "mae_pct": float(self.mae_pct[k]),
                    "mfe_pct": float(self.mfe_pct[k]),
                    "open": t.is_open,
                }
            )
        return rows

    def _order_rows(self, grids: dict[str, tuple[Grid, Grid]]) -> list[dict[str, Any]]:
        orders = self.orders
        n = len(orders)
        times = iso_times(np.array([o.ts_init for o in orders], dtype=np.int64))
        quantity: list[str | None] = [None] * n
        filled_qty: list[str] = [""] * n
        price: list[str | None] = [None] * n
        by_symbol: dict[str, list[int]] = {}
        for k, o in enumerate(orders):
            by_symbol.setdefault(o.instrument_id, []).append(k)
        # Format whole columns per instrument grid: one list pass each instead of a call per cell.
        for symbol, rows in by_symbol.items():
            lot_grid, tick_grid = grids[symbol]
            lot_step, tick_step = lot_grid.step_int, tick_grid.step_int
            sized = [(k, lots) for k in rows if (lots := orders[k].lots) is not None]
            texts = scaled_strs([lots * lot_step for _, lots in sized], lot_grid.decimals)
            for (k, _), text in zip(sized, texts, strict=True):
                quantity[k] = text
            for k, text in zip(
                rows, scaled_strs([orders[k].filled_lots * lot_step for k in rows], lot_grid.decimals), strict=True
            ):
                filled_qty[k] = text
            on_grid = []
            for k in rows:
                o = orders[k]
                if o.filled_lots:
                    if o.filled_notional_ticks_lots % o.filled_lots == 0:
                        on_grid.append(k)
                    else:
                        price[k] = _avg_ticks(o.filled_notional_ticks_lots, o.filled_lots, tick_grid)
            ticks = [orders[k].filled_notional_ticks_lots // orders[k].filled_lots * tick_step for k in on_grid]
            for k, text in zip(on_grid, scaled_strs(ticks, tick_grid.decimals), strict=True):
                price[k] = text
        rows_out = []
        for k, o in enumerate(orders):
            tick_grid = grids[o.instrument_id][1]
            rows_out.append(
                {
                    "id": o.client_order_id,
                    "time": times[k],
                    "symbol": o.instrument_id,
                    "side": o.side,
                    "type": o.order_type,
                    "quantity": quantity[k],
                    "price": price[k],
                    "limit_price": None if o.limit_ticks is None else tick_grid.format(o.limit_ticks),
                    "stop_price": None if o.stop_ticks is None else tick_grid.format(o.stop_ticks),
                    "filled_quantity": filled_qty[k],
                    "status": o.status,
                    "reason": o.reason,
                    "tag": o.tag,
                }
            )
        return rows_out

    def _equity_rows(self, precision: int) -> list[dict[str, str]]:
        points = sorted(self.equity_exact)
        times = iso_times(self.ts[np.asarray(points, dtype=np.int64)])
        values = scaled_strs([self.equity_exact[i] for i in points], precision)
        return [{"time": t, "equity": v} for t, v in zip(times, values, strict=True)]


def _avg_ticks(ticks_times_lots: int, lots: int, tick: Grid) -> str:
    """Average fill price: exact when it lies on the tick grid, else 4 more digits, half-even."""
    if ticks_times_lots % lots == 0:
        return tick.format(ticks_times_lots // lots)
    scale = 10**_PRICE_EXTRA_DIGITS
    value = div_round_half_even(ticks_times_lots * tick.step_int * scale, lots)
    return fixed_str(value, tick.decimals + _PRICE_EXTRA_DIGITS)


def _avg_price(notional_units: int, lots: int, lot: Grid, tick: Grid, quote_precision: int) -> str:
    """notional / quantity as a price string (exact on-grid, else 4 extra digits half-even)."""
    # price = notional × 10^-qp / (lots × lot_int × 10^-dl), expressed in units of 10^-(dt+extra)
    num = notional_units * 10**lot.decimals  # price = num / den, in quote currency
    den = 10**quote_precision * lots * lot.step_int
    in_decimals = num * 10**tick.decimals
    if in_decimals % den == 0 and (in_decimals // den) % tick.step_int == 0:
        return tick.format(in_decimals // den // tick.step_int)  # on the tick grid: exact, the tick's decimals
    digits = tick.decimals + _PRICE_EXTRA_DIGITS
    value = div_round_half_even(num * 10**digits, den)
    return fixed_str(value, digits)
