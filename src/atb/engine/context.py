"""The strategy's window onto a backtest: implements `atb.strategy.context.StrategyContext`."""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property

from atb.data.bars import Bars
from atb.data.resample import closed_index_map
from atb.domain import Account, ClientOrderIdFactory, Order, Position
from atb.domain.ids import InstrumentId
from atb.engine.market import MarketData
from atb.engine.venue import SimulatedVenue
from atb.errors import UserInputError
from atb.strategy.context import Feed, OrderRequest, feed_for


class Cursor:
    """The bar being processed; every Series reads it."""

    __slots__ = ("i",)

    def __init__(self) -> None:
        self.i = 0


class BacktestContext:
    """Implements `StrategyContext` for a backtest; the paper node has its own."""

    cursor: Cursor

    def __init__(
        self,
        markets: dict[str, MarketData],
        primary: str,
        account: Account,
        venue: SimulatedVenue,
        ids: ClientOrderIdFactory,
        resample: Callable[[Bars, str], tuple[Bars, int]],
        on_submit: Callable[[Order], None],
    ) -> None:
        self.cursor = Cursor()
        self._markets = markets
        self._account = account
        self._venue = venue
        self._ids = ids
        self._resample = resample
        self._on_submit = on_submit
        self._feeds = {sym: Feed(m.instrument, m.bars, self.cursor) for sym, m in markets.items()}
        self._primary = self._feeds[primary]
        self._primary_ts = markets[primary].bars.ts
        self._higher: dict[tuple[str, str], Feed] = {}
        self.messages: list[tuple[int, str]] = []

    @cached_property
    def _ts(self) -> list[int]:
        """Bar times as a list (an index is cheaper than a numpy scalar in the bar loop).

        Built on first use: the signal kernel never needs a million-element list.
        """
        ts: list[int] = self._primary_ts.tolist()
        return ts

    @property
    def primary(self) -> Feed:
        return self._primary

    def feed(self, symbol: str) -> Feed:
        return feed_for(self._feeds, symbol)

    def symbols(self) -> list[str]:
        return list(self._feeds)

    def higher_timeframe(self, symbol: str, timeframe: str) -> Feed:
        key = (symbol, timeframe)
        feed = self._higher.get(key)
        if feed is None:
            base = self.feed(symbol)
            bars = self._markets[symbol].bars
            htf, htf_ns = self._resample(bars, timeframe)
            if htf_ns <= bars.timeframe_ns:
                raise UserInputError(f"timeframe {timeframe} is not higher than the data's bars")
            feed = Feed(base.instrument, htf, self.cursor, closed_index_map(bars, htf, htf_ns))
            self._higher[key] = feed
        return feed

    def submit(self, request: OrderRequest) -> Order:
        market = self._markets.get(request.symbol)
        if market is None:
            raise UserInputError(f"cannot trade {request.symbol!r}: not in this run")
        ts = self._ts[self.cursor.i]
        # positional: this runs once per order in the backtest hot path
        symbol, side, order_type, lots, notional, fraction, limit, stop, tif, post_only, reduce_only, tag = request
        order = Order(
            self._ids.next(), InstrumentId(symbol), side, order_type, lots, notional, fraction, limit, stop, tif,
            post_only, reduce_only, ts, tag,
        )  # fmt: skip
        self._on_submit(order)
        self._venue.submit(order, self.cursor.i, ts)
        return order

    def cancel(self, order: Order) -> None:
        self._venue.cancel(order, self._ts[self.cursor.i])

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        return self._venue.open_orders(symbol)

    def position(self, symbol: str) -> Position:
        return self._account.position(self.feed(symbol).instrument)

    def mark_ticks(self, symbol: str) -> int:
        return int(self._markets[symbol].close[self.cursor.i])

    def equity_units(self) -> int:
        i = self.cursor.i
        marks = {iid: int(self._markets[str(iid)].close[i]) for iid, pos in self._account.positions.items() if pos.lots}
        return self._account.equity_units(marks)

    def cash_units(self) -> int:
        return self._account.cash_units

    def now_ns(self) -> int:
        return self._ts[self.cursor.i]

    def log(self, message: str) -> None:
        self.messages.append((self._ts[self.cursor.i], message))
