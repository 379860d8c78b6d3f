"""What a strategy may touch: the narrow interface the engine (backtest, paper or live) implements.

A strategy never sees the engine, the venue or the database; it sees this.
The same strategy therefore runs unchanged in every mode, and a test can
drive it with a fake context.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import NamedTuple, Protocol

import numpy as np
import numpy.typing as npt

from atb.data.bars import Bars
from atb.domain import Instrument, Order, OrderSide, OrderType, Position, TimeInForce
from atb.errors import UserInputError
from atb.strategy.series import BarCursor, MappedSeries, Series


class OrderRequest(NamedTuple):
    """A strategy's order before the engine gives it an id; sizes and prices exact already."""

    symbol: str
    side: OrderSide
    order_type: OrderType
    lots: int | None = None
    notional_units: int | None = None
    equity_fraction: Decimal | None = None
    limit_ticks: int | None = None
    stop_ticks: int | None = None
    tif: TimeInForce = TimeInForce.GTC
    post_only: bool = False
    reduce_only: bool = False
    tag: str = ""


class Feed:
    """One instrument's bars as causal series: `feed.close[0]` is the latest closed bar.

    Columns become `Series` on first use (turning a million-row column into a
    list costs ~15 ms, so a strategy that reads only closes pays only for
    closes); afterwards each is a plain slot read.
    """

    __slots__ = (
        "_bars",
        "_cursor",
        "_index_map",
        "close",
        "high",
        "instrument",
        "low",
        "open",
        "symbol",
        "timeframe_ns",
        "ts",
        "volume",
    )

    _COLUMNS = frozenset({"ts", "open", "high", "low", "close", "volume"})

    close: Series
    high: Series
    low: Series
    open: Series
    ts: Series
    volume: Series

    def __init__(
        self,
        instrument: Instrument,
        bars: Bars,
        cursor: BarCursor,
        index_map: npt.NDArray[np.int64] | None = None,
    ) -> None:
        self.instrument = instrument
        self.symbol = str(instrument.id)
        self.timeframe_ns = bars.timeframe_ns
        self._bars = bars
        self._cursor = cursor
        self._index_map = index_map

    def __getattr__(self, name: str) -> Series:
        if name not in Feed._COLUMNS:
            raise AttributeError(name)
        values = getattr(self._bars, name)
        label = f"{self.symbol} {name}"
        series: Series
        if self._index_map is None:
            series = Series(values, self._cursor, label)
        else:
            series = MappedSeries(values, self._index_map, self._cursor, label)
        object.__setattr__(self, name, series)
        return series

    @property
    def bars(self) -> Bars:
        """All bars of the run (for vectorised set-up in `on_start`; never read ahead in `on_bar`)."""
        return self._bars

    def __len__(self) -> int:
        return len(self._bars)


def feed_for(feeds: Mapping[str, Feed], symbol: str) -> Feed:
    """The feed of `symbol`, or the error every runtime gives for a symbol the run has no data for."""
    try:
        return feeds[symbol]
    except KeyError:
        raise UserInputError(f"no data for {symbol!r} in this run (have: {', '.join(feeds)})") from None


class StrategyContext(Protocol):
    """Implemented by each runtime; see `atb.engine.context` for the backtest one."""

    @property
    def cursor(self) -> BarCursor: ...

    @property
    def primary(self) -> Feed: ...

    def feed(self, symbol: str) -> Feed: ...

    def symbols(self) -> list[str]: ...

    def higher_timeframe(self, symbol: str, timeframe: str) -> Feed: ...

    def submit(self, request: OrderRequest) -> Order: ...

    def cancel(self, order: Order) -> None: ...

    def open_orders(self, symbol: str | None = None) -> list[Order]: ...

    def position(self, symbol: str) -> Position: ...

    def mark_ticks(self, symbol: str) -> int: ...

    def equity_units(self) -> int: ...

    def cash_units(self) -> int: ...

    def now_ns(self) -> int: ...

    def log(self, message: str) -> None: ...
