"""Bars that grow while the node runs, and the strategy's context over them.

A backtest knows every bar before it starts; a live node learns one closed bar at a time.
`GrowingBars` keeps each symbol's columns in capacity-doubling numpy buffers, and
`LiveContext.append` adds the newest bars, points every series the strategy reads at the
longer data and moves the cursor to the last bar. Indicators declared with `self.I` are then
recomputed over all bars (`Strategy.refresh_indicators`), so a strategy sees exactly the values a
backtest over the same bars would show it at that bar.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Protocol

import numpy as np
import numpy.typing as npt

from atb.data.bars import Bars
from atb.data.resample import closed_index_map, parse_timeframe, resample
from atb.domain import Account, Instrument, Order, Position
from atb.domain.money import Price
from atb.engine.market import to_ticks
from atb.errors import DataValidationError, UserInputError
from atb.strategy.context import Feed, OrderRequest, feed_for
from atb.strategy.series import MappedSeries, Series

_COLUMNS = ("ts", "open", "high", "low", "close", "volume")


class OrderDesk(Protocol):
    """Where the context sends the strategy's orders (the node's order router)."""

    def submit(self, request: OrderRequest) -> Order: ...

    def cancel(self, order: Order) -> None: ...

    def open_orders(self, symbol: str | None = None) -> list[Order]: ...


class GrowingBars:
    """One symbol's bars, appended in time order; `bars` is a zero-copy view of those so far."""

    def __init__(self, symbol: str, timeframe_ns: int, history: Bars | None = None, capacity: int = 1024) -> None:
        size = max(capacity, 2 * len(history) if history is not None else 0, 16)
        self.symbol = symbol
        self.timeframe_ns = timeframe_ns
        self._ts = np.zeros(size, dtype=np.int64)
        self._cols = {name: np.zeros(size, dtype=np.float64) for name in _COLUMNS[1:]}
        self.n = 0
        if history is not None:
            if history.timeframe_ns != timeframe_ns:
                raise UserInputError(f"{symbol}: history timeframe differs from the feed's")
            k = len(history)
            self._ts[:k] = history.ts
            for name, col in self._cols.items():
                col[:k] = getattr(history, name)
            self.n = k

    def __len__(self) -> int:
        return self.n

    @property
    def last_ts(self) -> int | None:
        return int(self._ts[self.n - 1]) if self.n else None

    def append(self, ts_ns: int, open_: float, high: float, low: float, close: float, volume: float) -> None:
        """Add the next closed bar; refuses a bar that is not after the last one or is malformed."""
        last = self.last_ts
        if last is not None and ts_ns <= last:
            raise DataValidationError(f"{self.symbol}: bar at {ts_ns} is not after the last bar {last}")
        values = (open_, high, low, close, volume)
        if not all(np.isfinite(values)) or min(open_, high, low, close) <= 0 or volume < 0:
            raise DataValidationError(f"{self.symbol}: malformed bar at {ts_ns}: {values}")
        if not low <= min(open_, close) <= max(open_, close) <= high:
            raise DataValidationError(f"{self.symbol}: bar at {ts_ns} has high/low not containing open/close")
        if self.n == len(self._ts):
            self._grow()
        i = self.n
        self._ts[i] = ts_ns
        for name, value in zip(_COLUMNS[1:], values, strict=True):
            self._cols[name][i] = value
        self.n = i + 1

    def _grow(self) -> None:
        size = 2 * len(self._ts)
        ts = np.zeros(size, dtype=np.int64)
        ts[: self.n] = self._ts[: self.n]
        self._ts = ts
        for name, col in self._cols.items():
            grown = np.zeros(size, dtype=np.float64)
            grown[: self.n] = col[: self.n]
            self._cols[name] = grown

    @property
    def bars(self) -> Bars:
        n = self.n
        c = self._cols
        return Bars(
            self.symbol,
            self._ts[:n],
            c["open"][:n],
            c["high"][:n],
            c["low"][:n],
            c["close"][:n],
            c["volume"][:n],
            self.timeframe_ns,
        )


class _Cursor:
    __slots__ = ("i",)

    def __init__(self) -> None:
        self.i = 0


def _materialised(feed: Feed) -> list[tuple[str, Series]]:
    """The column series a strategy has touched (Feed makes them lazily)."""
    found = []
    for name in _COLUMNS:
        try:
            found.append((name, object.__getattribute__(feed, name)))
        except AttributeError:
            continue
    return found


class LiveContext:
    """Implements `StrategyContext` for a node whose bars arrive one at a time."""

    def __init__(
        self,
        bars: Mapping[str, GrowingBars],
        instruments: Mapping[str, Instrument],
        account: Account,
        desk: OrderDesk,
        *,
        logger: logging.Logger | None = None,
        clock_ns: Callable[[], int] | None = None,
    ) -> None:
        if not bars:
            raise UserInputError("a live context needs at least one symbol")
        self.cursor = _Cursor()
        self._bars = dict(bars)
        self._instruments = dict(instruments)
        self._account = account
        self._desk = desk
        self._log = logger or logging.getLogger("atb.strategy")
        self._feeds = {sym: Feed(self._instruments[sym], gb.bars, self.cursor) for sym, gb in self._bars.items()}
        self._primary = next(iter(self._feeds.values()))
        self._higher: dict[tuple[str, str], tuple[Feed, int]] = {}
        self.messages: list[tuple[int, str]] = []
        self._sync_cursor()

    # --- growth -------------------------------------------------------------------------------
    def append(self, rows: Mapping[str, Sequence[float]], ts_ns: int) -> None:
        """Add one closed bar per symbol (open, high, low, close, volume) at `ts_ns` and show it."""
        missing = set(self._bars) - set(rows)
        if missing:
            raise DataValidationError(f"bar at {ts_ns} lacks {sorted(missing)}")
        for sym, growing in self._bars.items():
            o, h, low, c, v = rows[sym]
            growing.append(ts_ns, o, h, low, c, v)
        for sym, feed in self._feeds.items():
            bars = self._bars[sym].bars
            object.__setattr__(feed, "_bars", bars)
            for name, series in _materialised(feed):
                series._extend(getattr(bars, name))
        for (sym, _), (feed, htf_ns) in self._higher.items():
            htf, index_map = self._resampled(sym, htf_ns)
            object.__setattr__(feed, "_bars", htf)
            object.__setattr__(feed, "_index_map", index_map)
            for name, series in _materialised(feed):
                assert isinstance(series, MappedSeries)
                series._reset_mapped(getattr(htf, name), index_map)
        self._sync_cursor()

    def _sync_cursor(self) -> None:
        self.cursor.i = len(self._bars[self._primary.symbol]) - 1
        self._marks: dict[str, int] = {}  # the latest closes in ticks, snapped once per bar on first use

    def _resampled(self, symbol: str, htf_ns: int) -> tuple[Bars, npt.NDArray[np.int64]]:
        bars = self._bars[symbol].bars
        htf = resample(bars, htf_ns)
        return htf, closed_index_map(bars, htf, htf_ns)

    # --- StrategyContext ------------------------------------------------------------------------
    @property
    def primary(self) -> Feed:
        return self._primary

    def feed(self, symbol: str) -> Feed:
        return feed_for(self._feeds, symbol)

    def symbols(self) -> list[str]:
        return list(self._feeds)

    def higher_timeframe(self, symbol: str, timeframe: str) -> Feed:
        htf_ns = parse_timeframe(timeframe)
        key = (symbol, timeframe)
        known = self._higher.get(key)
        if known is not None:
            return known[0]
        base = self.feed(symbol)
        if htf_ns <= base.timeframe_ns:
            raise UserInputError(f"timeframe {timeframe} is not higher than the data's bars")
        htf, index_map = self._resampled(symbol, htf_ns)
        feed = Feed(base.instrument, htf, self.cursor, index_map)
        self._higher[key] = (feed, htf_ns)
        return feed

    def submit(self, request: OrderRequest) -> Order:
        if request.symbol not in self._feeds:
            raise UserInputError(f"cannot trade {request.symbol!r}: not in this run")
        return self._desk.submit(request)

    def cancel(self, order: Order) -> None:
        self._desk.cancel(order)

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        return self._desk.open_orders(symbol)

    def position(self, symbol: str) -> Position:
        return self._account.position(self.feed(symbol).instrument)

    def last_price(self, symbol: str) -> Decimal:
        """The latest close as an exact Decimal on the instrument's tick grid."""
        return Price.from_ticks(self.mark_ticks(symbol), self._instruments[symbol].tick).value

    def mark_ticks(self, symbol: str) -> int:
        """The latest close in ticks; an off-grid close is refused as in a backtest (`to_ticks`)."""
        mark = self._marks.get(symbol)
        if mark is None:
            gb = self._bars[symbol]
            if not gb.n:
                raise DataValidationError(f"{symbol}: no bar yet to mark at")
            close = gb._cols["close"][gb.n - 1 : gb.n]
            mark = self._marks[symbol] = int(to_ticks(close, self._instruments[symbol].tick, "close", symbol)[0])
        return mark

    def marks(self) -> dict[str, int]:
        return {sym: self.mark_ticks(sym) for sym in self._feeds}

    def equity_units(self) -> int:
        marks = {iid: self.mark_ticks(str(iid)) for iid, pos in self._account.positions.items() if pos.lots}
        return self._account.equity_units(marks)

    def cash_units(self) -> int:
        return self._account.cash_units

    def now_ns(self) -> int:
        last = self._bars[self._primary.symbol].last_ts
        return 0 if last is None else last

    def log(self, message: str) -> None:
        self.messages.append((self.now_ns(), message))
        self._log.info("strategy: %s", message)
