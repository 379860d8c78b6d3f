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

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

from atb.domain import Account, Order, OrderFilled
from atb.engine.columns import FillColumns, OrderColumns
from atb.engine.formatting import Grid
from atb.engine.gc_pause import gc_paused
from atb.engine.result_rows import equity_rows, order_rows, trade_rows
from atb.engine.trades import Trade, TradeColumns

RESULT_SCHEMA_VERSION = 1


class ResultBook:
    """A run's orders, fills and trades: columns for the statistics and JSON, domain objects on request.

    The bar loop hands over the objects it built; the signal kernel hands over
    only columns and a function that rebuilds the objects, so a run that is
    only reported never pays for a million-bar run's worth of `Order`s.
    """

    def __init__(
        self,
        *,
        fills: FillColumns,
        trades: TradeColumns,
        order_count: int,
        order_columns: Callable[[], OrderColumns],
        objects: Callable[[], tuple[list[Order], list[OrderFilled]]],
    ) -> None:
        self.fill_columns = fills
        self.trade_columns = trades
        self.order_count = order_count
        self._order_columns = order_columns
        self._objects = objects

    @cached_property
    def order_columns(self) -> OrderColumns:
        return self._order_columns()

    @cached_property
    def _domain(self) -> tuple[list[Order], list[OrderFilled]]:
        with gc_paused():
            return self._objects()

    @property
    def orders(self) -> list[Order]:
        return self._domain[0]

    @property
    def fills(self) -> list[OrderFilled]:
        return self._domain[1]

    @cached_property
    def trades(self) -> list[Trade]:
        return self.trade_columns.to_trades()


@dataclass
class BacktestResult:
    stats: dict[str, Any]
    book: ResultBook
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
            f"BacktestResult({len(self.ts)} bars, {self.book.order_count} orders, "
            f"{len(self.book.fill_columns)} fills, {len(self.book.trade_columns)} trades)"
        )

    @property
    def orders(self) -> list[Order]:
        """Every order as a domain object (built on first use when the signal kernel ran)."""
        return self.book.orders

    @property
    def fills(self) -> list[OrderFilled]:
        return self.book.fills

    @property
    def trades(self) -> list[Trade]:
        return self.book.trades

    @property
    def final_equity(self) -> Decimal:
        last = len(self.ts) - 1
        return Decimal(self.equity_exact[last]).scaleb(-self.account.currency.precision)

    def to_dict(self, *, orders: Any = None) -> dict[str, Any]:
        """The result JSON as a dict; `orders`, when given, stands in for the order rows (see `order_rows`)."""
        with gc_paused():
            return {
                "schema_version": RESULT_SCHEMA_VERSION,
                "meta": {k: v for k, v in self.meta.items() if not k.startswith("_")},
                "stats": self.stats,
                "trades": trade_rows(self.book.trade_columns, self.mae_pct, self.mfe_pct, self._grids()),
                "orders": self.order_rows() if orders is None else orders,
                "equity": equity_rows(self.ts, self.equity_exact, self.account.currency.precision),
            }

    def order_rows(self) -> list[dict[str, Any]]:
        """The result JSON's `orders` (a part of `to_dict` that can be made apart, e.g. in another process)."""
        with gc_paused():
            return order_rows(self.book.order_columns, self._grids())

    def _grids(self) -> dict[str, tuple[Grid, Grid]]:
        return {sym: (Grid(lot), Grid(tick)) for sym, (lot, tick) in self.meta["_grids"].items()}
