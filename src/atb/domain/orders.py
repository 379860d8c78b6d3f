"""The order entity and the one table that says which events may change it.

An order changes only through `apply(event)`. The table admits what really
happens at venues — a fill that arrives after a cancel was requested, a
cancel of a partly filled order — and refuses the rest (a fill of a
cancelled order, a repeated trade id, an overfill) with
`InvalidTransitionError`, before anything is changed.

Size is one of three intents, given by keyword: `quantity` (base lots),
`notional` (quote units to spend/receive, like Binance's quoteOrderQty) or
`equity_fraction` (share of account equity). A venue resolves notional and
fraction intents into lots when it executes (the simulated venue at the fill
price, a live venue from the last price before sending), so "invest the
whole equity" never overdraws because the next open moved.
"""

from __future__ import annotations

from decimal import Decimal

from atb.domain.enums import OrderSide, OrderStatus, OrderType, TimeInForce
from atb.domain.errors import InvalidOrderError, InvalidTransitionError
from atb.domain.events import (
    OrderAccepted,
    OrderCanceled,
    OrderCancelRequested,
    OrderDenied,
    OrderEvent,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
    OrderTriggered,
)
from atb.domain.ids import ClientOrderId, InstrumentId, TradeId, VenueOrderId
from atb.domain.money import quotient

S = OrderStatus
_ZERO = Decimal(0)
_HUNDRED = Decimal(100)
_WITH_LIMIT = frozenset({OrderType.LIMIT, OrderType.STOP_LIMIT})
_WITH_STOP = frozenset({OrderType.STOP_MARKET, OrderType.STOP_LIMIT})
_CLOSED = frozenset({S.DENIED, S.REJECTED, S.FILLED, S.CANCELED, S.EXPIRED})
_WITH_REASON = frozenset({OrderDenied, OrderRejected, OrderCanceled, OrderExpired})
_MISSING = object()
_FILLABLE = (S.ACCEPTED, S.PARTIALLY_FILLED, S.PENDING_CANCEL)

# (current status, event type) -> status after the event. Fills are resolved by
# remaining size (partial vs full) in `apply`, so they map to a marker here.
_TRANSITIONS: dict[tuple[OrderStatus, type], OrderStatus | None] = {
    (S.INITIALIZED, OrderDenied): S.DENIED,
    (S.INITIALIZED, OrderSubmitted): S.SUBMITTED,
    (S.SUBMITTED, OrderAccepted): S.ACCEPTED,
    (S.SUBMITTED, OrderRejected): S.REJECTED,
    (S.SUBMITTED, OrderCanceled): S.CANCELED,
    (S.SUBMITTED, OrderExpired): S.EXPIRED,
    (S.SUBMITTED, OrderFilled): None,  # venues may report the fill before the ack
    (S.SUBMITTED, OrderCancelRequested): S.PENDING_CANCEL,
    (S.ACCEPTED, OrderTriggered): S.ACCEPTED,
    (S.ACCEPTED, OrderCancelRequested): S.PENDING_CANCEL,
    (S.ACCEPTED, OrderCanceled): S.CANCELED,
    (S.ACCEPTED, OrderExpired): S.EXPIRED,
    (S.ACCEPTED, OrderRejected): S.REJECTED,
    (S.ACCEPTED, OrderFilled): None,
    (S.PARTIALLY_FILLED, OrderTriggered): S.PARTIALLY_FILLED,
    (S.PARTIALLY_FILLED, OrderCancelRequested): S.PENDING_CANCEL,
    (S.PARTIALLY_FILLED, OrderCanceled): S.CANCELED,
    (S.PARTIALLY_FILLED, OrderExpired): S.EXPIRED,
    (S.PARTIALLY_FILLED, OrderFilled): None,
    (S.PENDING_CANCEL, OrderCanceled): S.CANCELED,
    (S.PENDING_CANCEL, OrderExpired): S.EXPIRED,
    (S.PENDING_CANCEL, OrderFilled): None,  # fill raced the cancel: it counts
    (S.PENDING_CANCEL, OrderAccepted): S.PENDING_CANCEL,
    # The late ack of an order that filled, was cancelled or expired before its ack arrived (the
    # SUBMITTED rows above): it only records the venue's id. An order is acked once (see `apply`).
    (S.PARTIALLY_FILLED, OrderAccepted): S.PARTIALLY_FILLED,
    (S.FILLED, OrderAccepted): S.FILLED,
    (S.CANCELED, OrderAccepted): S.CANCELED,
    (S.EXPIRED, OrderAccepted): S.EXPIRED,
}


class Order:
    """A request to trade, with its full life recorded in `events`."""

    __slots__ = (
        "client_order_id",
        "equity_fraction",
        "events",
        "filled_lots",
        "filled_notional_ticks_lots",
        "instrument_id",
        "limit_ticks",
        "lots",
        "notional_units",
        "order_type",
        "post_only",
        "reason",
        "reduce_only",
        "side",
        "status",
        "stop_ticks",
        "tag",
        "tif",
        "trade_ids",
        "triggered",
        "ts_init",
        "ts_last",
        "venue_order_id",
    )

    def __init__(
        self,
        client_order_id: ClientOrderId,
        instrument_id: InstrumentId,
        side: OrderSide,
        order_type: OrderType,
        lots: int | None = None,
        notional_units: int | None = None,
        equity_fraction: Decimal | None = None,
        limit_ticks: int | None = None,
        stop_ticks: int | None = None,
        tif: TimeInForce = TimeInForce.GTC,
        post_only: bool = False,
        reduce_only: bool = False,
        ts_init: int = 0,
        tag: str = "",
    ) -> None:
        if lots is not None:
            if notional_units is not None or equity_fraction is not None:
                raise InvalidOrderError("give exactly one of quantity, notional or equity fraction")
            if lots <= 0:
                raise InvalidOrderError(f"quantity must be positive, got {lots} lots")
        elif notional_units is not None:
            if equity_fraction is not None:
                raise InvalidOrderError("give exactly one of quantity, notional or equity fraction")
            if notional_units <= 0:
                raise InvalidOrderError("notional must be positive")
        elif equity_fraction is None:
            raise InvalidOrderError("give exactly one of quantity, notional or equity fraction")
        elif not _ZERO < equity_fraction <= _HUNDRED:
            raise InvalidOrderError(f"equity fraction must be in (0, 100], got {equity_fraction}")
        needs_limit = order_type in _WITH_LIMIT
        needs_stop = order_type in _WITH_STOP
        if needs_limit != (limit_ticks is not None):
            raise InvalidOrderError(f"{order_type.value} order {'needs' if needs_limit else 'takes no'} limit price")
        if needs_stop != (stop_ticks is not None):
            raise InvalidOrderError(f"{order_type.value} order {'needs' if needs_stop else 'takes no'} stop price")
        if (limit_ticks is not None and limit_ticks <= 0) or (stop_ticks is not None and stop_ticks <= 0):
            raise InvalidOrderError("prices must be positive")
        if post_only and order_type is not OrderType.LIMIT:
            raise InvalidOrderError("post-only applies to limit orders only")
        if post_only and tif is not TimeInForce.GTC:
            raise InvalidOrderError("a post-only order must rest: time in force GTC")
        if lots is None and order_type is not OrderType.MARKET and order_type is not OrderType.STOP_MARKET:
            raise InvalidOrderError("limit orders are sized by quantity")
        self.client_order_id = client_order_id
        self.instrument_id = instrument_id
        self.side = side
        self.order_type = order_type
        self.lots = lots
        self.notional_units = notional_units
        self.equity_fraction = equity_fraction
        self.limit_ticks = limit_ticks
        self.stop_ticks = stop_ticks
        self.tif = tif
        self.post_only = post_only
        self.reduce_only = reduce_only
        self.ts_init = ts_init
        self.ts_last = ts_init
        self.tag = tag
        self.status = S.INITIALIZED
        self.filled_lots = 0
        self.filled_notional_ticks_lots = 0
        self.triggered = not needs_stop
        self.venue_order_id: VenueOrderId | None = None
        self.reason = ""
        self.trade_ids: set[TradeId] = set()
        self.events: list[OrderEvent] = []

    # --- state ---------------------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        return self.status.is_open

    @property
    def leaves_lots(self) -> int | None:
        """Lots still to fill; None while the size is a notional/fraction intent not yet resolved."""
        return None if self.lots is None else self.lots - self.filled_lots

    @property
    def avg_fill_ticks(self) -> Decimal | None:
        if not self.filled_lots:
            return None
        return quotient(Decimal(self.filled_notional_ticks_lots), Decimal(self.filled_lots))

    def resolve_lots(self, lots: int) -> None:
        """Fix the size of a notional/fraction order once the venue knows its price."""
        if self.lots is not None:
            raise InvalidOrderError(f"order {self.client_order_id} already has a quantity")
        if lots <= 0:
            raise InvalidOrderError("resolved quantity must be positive")
        self.lots = lots

    def submit_accepted(self, submitted: OrderSubmitted, accepted: OrderAccepted) -> None:
        """Apply a submission and its acknowledgement together (the simulated venue's common case).

        Same transitions and checks as two `apply` calls — new → submitted →
        accepted — in one step, because a backtest makes this move for every order.
        """
        if self.status is not S.INITIALIZED:
            raise InvalidTransitionError(
                f"order {self.client_order_id}: OrderSubmitted not allowed when {self.status.value}"
            )
        if submitted.client_order_id != self.client_order_id or accepted.client_order_id != self.client_order_id:
            raise InvalidTransitionError(f"events for another order applied to {self.client_order_id}")
        self.status = S.ACCEPTED
        self.venue_order_id = accepted.venue_order_id
        self.ts_last = accepted.ts_event
        self.events += (submitted, accepted)

    def apply(self, event: OrderEvent) -> None:
        """Move to the next status, or raise `InvalidTransitionError` and change nothing."""
        kind = type(event)
        target = _TRANSITIONS.get((self.status, kind), _MISSING)
        if target is _MISSING:
            raise InvalidTransitionError(
                f"order {self.client_order_id}: {kind.__name__} not allowed when {self.status.value}"
            )
        if event.client_order_id != self.client_order_id:
            raise InvalidTransitionError(f"event for {event.client_order_id} applied to {self.client_order_id}")
        if kind is OrderFilled:
            target = self._fill_target(event)  # type: ignore[arg-type]
        elif kind is OrderAccepted:
            if self.venue_order_id is not None:
                raise InvalidTransitionError(f"order {self.client_order_id}: already acked as {self.venue_order_id}")
            self.venue_order_id = event.venue_order_id  # type: ignore[union-attr]
        elif kind is OrderTriggered:
            self.triggered = True
        elif kind in _WITH_REASON and event.reason:  # type: ignore[union-attr]
            self.reason = event.reason  # type: ignore[union-attr]
        self.status = target  # type: ignore[assignment]
        self.ts_last = event.ts_event
        self.events.append(event)

    @property
    def is_closed(self) -> bool:
        return self.status in _CLOSED

    def _fill_target(self, fill: OrderFilled) -> OrderStatus:
        if fill.trade_id in self.trade_ids:
            raise InvalidTransitionError(f"order {self.client_order_id}: trade {fill.trade_id} already applied")
        if fill.lots <= 0 or fill.ticks <= 0:
            raise InvalidTransitionError("a fill must have a positive quantity and price")
        if fill.instrument.id != self.instrument_id:
            raise InvalidTransitionError(
                f"order {self.client_order_id} is for {self.instrument_id}, the fill for {fill.instrument.id}"
            )
        if fill.side is not self.side:
            raise InvalidTransitionError(f"fill side {fill.side.value} does not match order side {self.side.value}")
        if self.lots is None:
            raise InvalidTransitionError(f"order {self.client_order_id} filled before its size was resolved")
        if self.filled_lots + fill.lots > self.lots:
            raise InvalidTransitionError(
                f"order {self.client_order_id}: fill of {fill.lots} lots overfills "
                f"({self.filled_lots} of {self.lots} already filled)"
            )
        self.trade_ids.add(fill.trade_id)
        self.filled_lots += fill.lots
        self.filled_notional_ticks_lots += fill.lots * fill.ticks
        if self.filled_lots == self.lots:
            return S.FILLED
        return S.PENDING_CANCEL if self.status is S.PENDING_CANCEL else S.PARTIALLY_FILLED

    def __repr__(self) -> str:
        return (
            f"Order({self.client_order_id} {self.side.value} {self.order_type.value} {self.instrument_id} "
            f"lots={self.lots} status={self.status.value})"
        )
