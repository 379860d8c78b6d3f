"""Explicit mapping between domain order events and their stored form (kind + JSON payload).

Integers (lots, ticks, fee units) are stored as JSON integers, which both
backends keep exactly; the decimal views (quantity, price, fee) are stored as
strings next to them for people and reports, never read back as the truth.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from atb.domain.enums import Liquidity, OrderSide
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
from atb.domain.instrument import Instrument

KINDS: dict[type, str] = {
    OrderDenied: "denied",
    OrderSubmitted: "submitted",
    OrderAccepted: "accepted",
    OrderRejected: "rejected",
    OrderTriggered: "triggered",
    OrderCancelRequested: "cancel_requested",
    OrderCanceled: "canceled",
    OrderExpired: "expired",
    OrderFilled: "filled",
}
_WITH_REASON = (OrderDenied, OrderRejected, OrderCanceled, OrderExpired)


def encode(event: OrderEvent) -> tuple[str, dict[str, Any]]:
    kind = KINDS[type(event)]
    if isinstance(event, OrderFilled):
        return kind, {
            "trade_id": event.trade_id,
            "instrument": event.instrument.id,
            "side": event.side.value,
            "lots": event.lots,
            "ticks": event.ticks,
            "fee_units": event.fee_units,
            "liquidity": event.liquidity.value,
            "quantity": str(event.quantity.value),
            "price": str(event.price.value),
            "fee": str(event.fee.amount),
            "fee_currency": event.instrument.quote.code,
            "fee_lots": event.fee_lots,
        }
    if isinstance(event, OrderAccepted):
        return kind, {"venue_order_id": event.venue_order_id}
    if isinstance(event, _WITH_REASON):
        return kind, {"reason": event.reason}
    return kind, {}


def decode(
    kind: str,
    client_order_id: ClientOrderId,
    ts_event: int,
    ts_init: int,
    payload: dict[str, Any],
    instrument: Callable[[InstrumentId], Instrument],
) -> OrderEvent:
    cid, te, ti = client_order_id, ts_event, ts_init
    if kind == "filled":
        return OrderFilled(
            cid,
            te,
            ti,
            TradeId(payload["trade_id"]),
            instrument(InstrumentId(payload["instrument"])),
            OrderSide(payload["side"]),
            int(payload["lots"]),
            int(payload["ticks"]),
            int(payload["fee_units"]),
            Liquidity(payload["liquidity"]),
            int(payload.get("fee_lots", 0)),  # absent in rows written before withheld fees existed
        )
    if kind == "accepted":
        return OrderAccepted(cid, te, ti, VenueOrderId(payload["venue_order_id"]))
    if kind == "denied":
        return OrderDenied(cid, te, ti, payload["reason"])
    if kind == "rejected":
        return OrderRejected(cid, te, ti, payload["reason"])
    if kind == "canceled":
        return OrderCanceled(cid, te, ti, payload["reason"])
    if kind == "expired":
        return OrderExpired(cid, te, ti, payload["reason"])
    if kind == "submitted":
        return OrderSubmitted(cid, te, ti)
    if kind == "triggered":
        return OrderTriggered(cid, te, ti)
    if kind == "cancel_requested":
        return OrderCancelRequested(cid, te, ti)
    raise ValueError(f"unknown order event kind {kind!r}")
