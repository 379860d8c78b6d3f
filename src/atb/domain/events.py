"""Order events: past tense, frozen, stamped with `ts_event` (when it happened) and `ts_init` (when we
learned of it), both int nanoseconds since the epoch.

Events are `NamedTuple`s: immutable like frozen dataclasses but built three
times faster, which matters when a backtest creates one per state change.
Every event starts with the same three fields (`client_order_id`,
`ts_event`, `ts_init`); `OrderEvent` is the union of all of them.

Amounts travel as integers on the instrument's grids (ticks, lots, quote units),
which is exact and cheap in the backtest loop; `Fill` offers Decimal views for
everything above the kernel.
"""

from __future__ import annotations

from typing import NamedTuple

from atb.domain.enums import Liquidity, OrderSide
from atb.domain.ids import ClientOrderId, InstrumentId, TradeId, VenueOrderId
from atb.domain.instrument import Instrument
from atb.domain.money import Money, Price, Quantity


class OrderDenied(NamedTuple):
    """Our own risk checks refused the order; it never left."""

    client_order_id: ClientOrderId
    ts_event: int
    ts_init: int
    reason: str


class OrderSubmitted(NamedTuple):
    client_order_id: ClientOrderId
    ts_event: int
    ts_init: int


class OrderAccepted(NamedTuple):
    client_order_id: ClientOrderId
    ts_event: int
    ts_init: int
    venue_order_id: VenueOrderId


class OrderRejected(NamedTuple):
    """The venue refused the order."""

    client_order_id: ClientOrderId
    ts_event: int
    ts_init: int
    reason: str


class OrderTriggered(NamedTuple):
    """A stop price was touched: a stop-market now executes, a stop-limit now rests as a limit."""

    client_order_id: ClientOrderId
    ts_event: int
    ts_init: int


class OrderCancelRequested(NamedTuple):
    client_order_id: ClientOrderId
    ts_event: int
    ts_init: int


class OrderCanceled(NamedTuple):
    client_order_id: ClientOrderId
    ts_event: int
    ts_init: int
    reason: str = ""


class OrderExpired(NamedTuple):
    client_order_id: ClientOrderId
    ts_event: int
    ts_init: int
    reason: str = ""


class OrderFilled(NamedTuple):
    """One execution (trade) of an order. Several may fill one order."""

    client_order_id: ClientOrderId
    ts_event: int
    ts_init: int
    trade_id: TradeId
    instrument: Instrument
    side: OrderSide
    lots: int
    ticks: int
    fee_units: int
    liquidity: Liquidity
    fee_lots: int = 0
    """Base-asset lots the venue kept back as the fee (Binance charges the asset received, VENUE_NOTES).

    The position then moves by `position_lots`, not `signed_lots`, and `fee_units` is the value of
    these lots at the fill price: the cash paid is the same, the fee is recorded in quote, and the
    ledger never holds base the venue did not credit. 0 when the fee was charged in quote.
    """

    @property
    def instrument_id(self) -> InstrumentId:
        return self.instrument.id

    @property
    def position_lots(self) -> int:
        """Signed change of the position: the fill minus the base lots withheld as fee."""
        return self.signed_lots - self.fee_lots

    @property
    def quantity(self) -> Quantity:
        return Quantity.from_lots(self.lots, self.instrument.lot)

    @property
    def price(self) -> Price:
        return Price.from_ticks(self.ticks, self.instrument.tick)

    @property
    def notional_units(self) -> int:
        return self.instrument.notional_units(self.ticks, self.lots)

    @property
    def notional(self) -> Money:
        return Money.from_units(self.notional_units, self.instrument.quote)

    @property
    def fee(self) -> Money:
        """Fees are charged in the quote currency in the simulated venue."""
        return Money.from_units(self.fee_units, self.instrument.quote)

    @property
    def signed_lots(self) -> int:
        return self.lots if self.side is OrderSide.BUY else -self.lots

    def describe(self) -> str:
        withheld = f" ({self.fee_lots} lots of {self.instrument.base.code})" if self.fee_lots else ""
        return f"{self.side.value} {self.quantity} {self.instrument_id} @ {self.price} fee {self.fee}{withheld}"


Fill = OrderFilled
"""A fill is the `OrderFilled` event; the alias reads better in ledger code."""

OrderEvent = (
    OrderDenied
    | OrderSubmitted
    | OrderAccepted
    | OrderRejected
    | OrderTriggered
    | OrderCancelRequested
    | OrderCanceled
    | OrderExpired
    | OrderFilled
)
"""Any order event; all share `client_order_id`, `ts_event`, `ts_init`."""
