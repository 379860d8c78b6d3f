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
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import numpy as np
import numpy.typing as npt

from atb.domain import Account, Order, OrderFilled
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


def units_to_str(units: int, precision: int) -> str:
    return str(Decimal(units).scaleb(-precision))


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

    @property
    def final_equity(self) -> Decimal:
        last = len(self.ts) - 1
        return Decimal(self.equity_exact[last]).scaleb(-self.account.currency.precision)

    def to_dict(self) -> dict[str, Any]:
        precision = self.account.currency.precision
        trade_rows = []
        entry_times = iso_times(np.array([t.entry_ts for t in self.trades], dtype=np.int64))
        exit_times = iso_times(np.array([t.exit_ts for t in self.trades], dtype=np.int64))
        for k, t in enumerate(self.trades):
            inst = t.instrument
            qty = Decimal(t.lots) * inst.lot
            scale = Decimal(1).scaleb(-inst.quote.precision)
            quantum = inst.tick.scaleb(-_PRICE_EXTRA_DIGITS)
            entry_price = (Decimal(t.entry_notional) * scale / qty).quantize(quantum, ROUND_HALF_EVEN).normalize()
            exit_price = (Decimal(t.exit_notional) * scale / qty).quantize(quantum, ROUND_HALF_EVEN).normalize()
            trade_rows.append(
                {
                    "symbol": str(inst.id),
                    "side": "long" if t.direction > 0 else "short",
                    "entry_time": entry_times[k],
                    "exit_time": exit_times[k],
                    "quantity": _plain_decimal(qty),
                    "entry_price": _plain_decimal(entry_price),
                    "exit_price": _plain_decimal(exit_price),
                    "pnl": units_to_str(t.pnl_units, inst.quote.precision),
                    "return_pct": t.pnl_units / t.entry_notional * 100.0 if t.entry_notional else 0.0,
                    "fees": units_to_str(t.fees, inst.quote.precision),
                    "duration_s": (t.exit_ts - t.entry_ts) / 1e9,
                    "mae_pct": float(self.mae_pct[k]),
                    "mfe_pct": float(self.mfe_pct[k]),
                    "open": t.is_open,
                }
            )
        order_times = iso_times(np.array([o.ts_init for o in self.orders], dtype=np.int64))
        order_rows = []
        for k, o in enumerate(self.orders):
            inst_lot, inst_tick = self.meta["_grids"][str(o.instrument_id)]
            avg = o.avg_fill_ticks
            order_rows.append(
                {
                    "id": str(o.client_order_id),
                    "time": order_times[k],
                    "symbol": str(o.instrument_id),
                    "side": o.side.value,
                    "type": o.order_type.value,
                    "quantity": None if o.lots is None else _plain_decimal(Decimal(o.lots) * inst_lot),
                    "price": None
                    if avg is None
                    else _plain_decimal((avg * inst_tick).quantize(inst_tick.scaleb(-_PRICE_EXTRA_DIGITS))),
                    "limit_price": None if o.limit_ticks is None else _plain_decimal(Decimal(o.limit_ticks) * inst_tick),
                    "stop_price": None if o.stop_ticks is None else _plain_decimal(Decimal(o.stop_ticks) * inst_tick),
                    "filled_quantity": _plain_decimal(Decimal(o.filled_lots) * inst_lot),
                    "status": o.status.value,
                    "reason": o.reason,
                    "tag": o.tag,
                }
            )
        points = sorted(self.equity_exact)
        point_times = iso_times(self.ts[np.asarray(points, dtype=np.int64)])
        equity_rows = [
            {"time": point_times[k], "equity": units_to_str(self.equity_exact[i], precision)}
            for k, i in enumerate(points)
        ]
        meta = {k: v for k, v in self.meta.items() if not k.startswith("_")}
        return {
            "schema_version": RESULT_SCHEMA_VERSION,
            "meta": meta,
            "stats": self.stats,
            "trades": trade_rows,
            "orders": order_rows,
            "equity": equity_rows,
        }


def _plain_decimal(value: Decimal) -> str:
    """A Decimal as a plain string without exponent (1E+1 → 10)."""
    text = format(value.normalize(), "f")
    return text
