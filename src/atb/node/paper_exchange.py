"""A simulated exchange for paper trading on live market data: the backtest's matching engine
behind the same interface as the live venue adapter.

The node treats it exactly like `CcxtVenue` (orders acknowledged with a venue id, fills read
back as trades by id, balances), so paper trading exercises the live order path — risk checks,
persistence, reconciliation — with only the matching simulated. Matching is `SimulatedVenue`,
unchanged: its market data is a two-row window (previous bar, newest bar) whose rows the
exchange rewrites as each bar closes, so an order placed after bar t is matched on bar t+1 with
the backtest's intrabar rules, fees and slippage.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from decimal import Decimal

import numpy as np

from atb.data.bars import Bars
from atb.domain import Account, AccountMode, Instrument, Money, Order, OrderFilled
from atb.domain.enums import Liquidity
from atb.domain.money import Price, Quantity
from atb.engine.execution import ExecutionConfig, FillTiming
from atb.engine.market import MarketData, to_ticks
from atb.engine.venue import SimulatedVenue
from atb.errors import UserInputError
from atb.node.exchange import Balances
from atb.node.live_feed import LiveBar, OhlcvSource
from atb.venues.ccxt_models import OrderAck, OrderUnknownError, SubmitOutcome, VenueFee, VenueOrder, VenueTrade

_log = logging.getLogger("atb.node.paper")
_ROW = 1  # the newest bar's row in the two-row window


class PaperExchange:
    """In-process spot venue: a quote-currency cash balance, the backtest's matching, fees in quote."""

    def __init__(
        self,
        instruments: Mapping[str, Instrument],
        cash: str | Decimal,
        *,
        data: OhlcvSource | None = None,
        execution: ExecutionConfig | None = None,
        clock_ms: Callable[[], int] | None = None,
    ) -> None:
        if not instruments:
            raise UserInputError("paper trading needs at least one instrument")
        quotes = {inst.quote for inst in instruments.values()}
        if len(quotes) != 1:
            raise UserInputError("all instruments of one paper account must share a quote currency")
        config = execution or ExecutionConfig()
        if config.latency_bars:
            raise UserInputError("paper trading on live data takes no --latency: the network supplies it")
        if config.slippage is not None and hasattr(config.slippage, "prepare"):
            raise UserInputError("the square-root impact model needs the whole volume history; use fixed bps here")
        (quote,) = quotes
        self.instruments = dict(instruments)
        self.account = Account(quote, Money.of(str(cash), quote), mode=AccountMode.SPOT)
        self._data = data
        self._clock_ms = clock_ms or (lambda: time.time_ns() // 1_000_000)
        self._markets = {sym: self._empty_market(inst) for sym, inst in self.instruments.items()}
        self._venue = SimulatedVenue(self.account, self._markets, config, self._filled, self._closed)
        self._fill_close = config.fill is FillTiming.CLOSE
        self._orders: dict[str, Order] = {}
        self._trades: list[VenueTrade] = []
        self._ts = 0
        self._bars_seen = 0

    @staticmethod
    def _empty_market(inst: Instrument) -> MarketData:
        zeros = np.zeros(2, dtype=np.float64)
        bars = Bars(str(inst.id), np.zeros(2, dtype=np.int64), zeros.copy(), zeros.copy(), zeros.copy(),
                    zeros.copy(), zeros.copy(), 1)  # fmt: skip
        ticks = np.zeros(2, dtype=np.int64)
        return MarketData(inst, bars, ticks.copy(), ticks.copy(), ticks.copy(), ticks.copy())

    # --- the clock: the node tells the exchange about each closed bar ----------------------------------
    def bar_opened(self, bars: Mapping[str, LiveBar], ts_ns: int) -> None:
        """A new bar closed: it becomes the window's newest row and working orders are matched on it."""
        for sym, market in self._markets.items():
            bar = bars.get(sym)
            if bar is None:
                continue
            inst = market.instrument
            for name, value in (("open", bar.open), ("high", bar.high), ("low", bar.low), ("close", bar.close)):
                column = getattr(market, name)
                column[0] = column[_ROW]
                column[_ROW] = to_ticks(np.array([value]), inst.tick, name, sym)[0]
                raw = getattr(market.bars, name)
                raw[0] = raw[_ROW]
                raw[_ROW] = value
            market.bars.volume[0] = market.bars.volume[_ROW]
            market.bars.volume[_ROW] = bar.volume
            market.bars.ts[0] = market.bars.ts[_ROW]
            market.bars.ts[_ROW] = ts_ns
        self._ts = ts_ns
        self._bars_seen += 1
        if self._venue.working:
            self._venue.process_bar(_ROW, ts_ns)

    def bar_closed(self) -> None:
        """After the strategy saw the bar: `fill=close` market orders fill at its close."""
        if self._venue.close_queue:
            self._venue.process_close(_ROW, self._ts)

    # --- ExchangeClient ----------------------------------------------------------------------------
    async def load_instruments(self) -> dict[str, Instrument]:
        return dict(self.instruments)

    async def balances(self) -> Balances:
        quote = self.account.currency
        out: Balances = {quote.code: (Money.from_units(self.account.cash_units, quote).amount, Decimal(0))}
        for pos in self.account.positions.values():
            out[pos.instrument.base.code] = (Quantity.from_lots(pos.lots, pos.instrument.lot).value, Decimal(0))
        return out

    async def submit(self, order: Order, instrument: Instrument) -> OrderAck:
        cid = str(order.client_order_id)
        if cid in self._orders and self._orders[cid].is_open:
            return OrderAck(SubmitOutcome.REJECTED, cid, reason="Duplicate order sent.")
        if str(instrument.id) not in self._markets:
            return OrderAck(SubmitOutcome.REJECTED, cid, reason=f"unknown symbol {instrument.id}")
        if not self._bars_seen:
            return OrderAck(SubmitOutcome.REJECTED, cid, reason="no market data yet")
        mine = Order(
            order.client_order_id, order.instrument_id, order.side, order.order_type, order.lots,
            None if order.lots is not None else order.notional_units,
            None if order.lots is not None or order.notional_units is not None else order.equity_fraction,
            order.limit_ticks, order.stop_ticks, order.tif, order.post_only, order.reduce_only, self._ts, order.tag,
        )  # fmt: skip
        self._orders[cid] = mine
        self._venue.submit(mine, 0 if not self._fill_close else _ROW, self._ts)
        if mine.venue_order_id is None:  # refused on arrival
            return OrderAck(SubmitOutcome.REJECTED, cid, reason=mine.reason)
        return OrderAck(SubmitOutcome.ACCEPTED, cid, self._report(mine))

    async def fetch_order(self, client_order_id: str, symbol: str) -> VenueOrder:
        order = self._orders.get(client_order_id)
        if order is None or str(order.instrument_id) != symbol:
            raise OrderUnknownError(f"paper venue has no order {client_order_id!r} on {symbol}")
        return self._report(order)

    async def cancel(self, client_order_id: str, symbol: str) -> VenueOrder:
        order = self._orders.get(client_order_id)
        if order is None:
            raise OrderUnknownError(f"paper venue has no order {client_order_id!r} on {symbol}")
        if order.is_open:
            self._venue.cancel(order, self._ts, "cancelled by request")
        return self._report(order)

    async def open_orders(self, symbol: str | None = None) -> list[VenueOrder]:
        return [self._report(o) for o in self._venue.open_orders(symbol)]

    async def my_trades(self, symbol: str, since: int | None = None) -> list[VenueTrade]:
        return [t for t in self._trades if t.symbol == symbol and (since is None or (t.timestamp_ms or 0) >= since)]

    async def ohlcv(
        self, symbol: str, timeframe: str, since: int | None = None, limit: int | None = None
    ) -> list[tuple[int, float, float, float, float, float]]:
        if self._data is None:
            raise UserInputError("this paper exchange has no market-data source")
        return await self._data.ohlcv(symbol, timeframe, since, limit)

    async def close(self) -> None:
        closer = getattr(self._data, "close", None)
        if closer is not None:
            await closer()

    # --- SimulatedVenue callbacks ----------------------------------------------------------------------
    def _filled(self, fill: OrderFilled, order: Order) -> None:
        inst = fill.instrument
        quantity = Quantity.from_lots(fill.lots, inst.lot).value
        price = Price.from_ticks(fill.ticks, inst.tick).value
        self._trades.append(
            VenueTrade(
                trade_id=str(fill.trade_id),
                venue_order_id=str(order.venue_order_id),
                symbol=str(inst.id),
                side=fill.side,
                price=price,
                amount=quantity,
                cost=quantity * price,
                fee=Money.from_units(fill.fee_units, inst.quote).amount,
                fee_currency=inst.quote.code,
                maker=fill.liquidity is Liquidity.MAKER,
                # when it happened, as a real venue stamps it (the matching bar's time is fill.ts_event)
                timestamp_ms=self._clock_ms(),
            )
        )

    def _closed(self, order: Order) -> None:
        # Nothing is pushed to the node: it reads final states with `fetch_order`, as from a real venue.
        _log.debug("paper order %s closed: %s", order.client_order_id, order.status.value)

    def _report(self, order: Order) -> VenueOrder:
        inst = self.instruments[str(order.instrument_id)]
        lot = inst.lot
        amount = None if order.lots is None else Quantity.from_lots(order.lots, lot).value
        filled = Quantity.from_lots(order.filled_lots, lot).value
        avg = order.avg_fill_ticks
        average = None if avg is None else avg * inst.tick
        status = order.status
        return VenueOrder(
            venue_order_id=str(order.venue_order_id or ""),
            client_order_id=str(order.client_order_id),
            symbol=str(inst.id),
            side=order.side,
            order_type=order.order_type.value,
            status=status,
            venue_status=status.value,
            amount=amount,
            filled=filled,
            remaining=None if amount is None else amount - filled,
            price=None if order.limit_ticks is None else Price.from_ticks(order.limit_ticks, inst.tick).value,
            average=average,
            cost=Decimal(0) if average is None else average * filled,
            fees=(VenueFee(inst.quote.code, Decimal(0)),),
            timestamp_ms=order.ts_init // 1_000_000,
            reason=order.reason,
        )
