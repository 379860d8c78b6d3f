"""What the ccxt venue adapter returns: small frozen records with exact Decimal amounts, and their parsers.

ccxt parses the venue's decimal strings into floats. Every such number is turned back into a
Decimal through its shortest repr, which gives back the venue's string exactly for values of up to
15 significant digits (Binance sends 8 decimal places); nothing here computes in float.
No ccxt import: these work on ccxt's plain unified dicts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from atb.domain.enums import OrderSide, OrderStatus
from atb.errors import AtbError
from atb.venues.errors import describe

__all__ = [
    "OrderAck",
    "OrderUnknownError",
    "SubmitOutcome",
    "UnsupportedOrderError",
    "VenueFee",
    "VenueOrder",
    "VenueTrade",
    "parse_order",
    "parse_trade",
    "to_decimal_exact",
    "to_decimal_or_zero",
    "venue_reason",
]

_STATUS = {
    "closed": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    "cancelled": OrderStatus.CANCELED,
    "canceling": OrderStatus.PENDING_CANCEL,
    "expired": OrderStatus.EXPIRED,
    "rejected": OrderStatus.REJECTED,
}
_VENUE_JSON = re.compile(r"\{.*\}", re.DOTALL)


class OrderUnknownError(AtbError):
    """The venue does not know an order with this client order id (it was never placed there)."""


class UnsupportedOrderError(AtbError):
    """An order this adapter cannot send as written; nothing was sent."""


class SubmitOutcome(StrEnum):
    ACCEPTED = "accepted"
    """The venue holds the order (`OrderAck.order` says in which state)."""
    REJECTED = "rejected"
    """The venue refused it (`reason`); resending the same request would be refused again."""
    NOT_PLACED = "not_placed"
    """Checked: the venue has no order with this client id. Resending is safe."""
    UNKNOWN = "unknown"
    """The send failed and the look-up failed too: do not resend; reconcile by client id later."""


@dataclass(frozen=True, slots=True)
class VenueFee:
    currency: str
    cost: Decimal


@dataclass(frozen=True, slots=True)
class VenueOrder:
    """An order as the venue reports it; amounts in base units, prices in quote units."""

    venue_order_id: str
    client_order_id: str | None
    symbol: str
    side: OrderSide
    order_type: str
    status: OrderStatus
    venue_status: str
    amount: Decimal | None
    filled: Decimal
    remaining: Decimal | None
    price: Decimal | None
    average: Decimal | None
    cost: Decimal
    fees: tuple[VenueFee, ...]
    timestamp_ms: int | None
    reason: str = ""
    """Why the venue closed the order, when it says (a simulated venue does; ccxt's unified order does not)."""


@dataclass(frozen=True, slots=True)
class VenueTrade:
    """One fill of our order; the fee is charged in `fee_currency` (often the asset received)."""

    trade_id: str
    venue_order_id: str | None
    symbol: str
    side: OrderSide
    price: Decimal
    amount: Decimal
    cost: Decimal
    fee: Decimal
    fee_currency: str | None
    maker: bool | None
    timestamp_ms: int | None


@dataclass(frozen=True, slots=True)
class OrderAck:
    outcome: SubmitOutcome
    client_order_id: str
    order: VenueOrder | None = None
    reason: str = ""
    recovered: bool = False
    """True when the order was found by client id after its own answer was lost."""


def to_decimal_exact(value: Any) -> Decimal | None:
    """ccxt number → exact Decimal (shortest float repr; see module docstring)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise TypeError("a boolean is not a number")
    result = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))
    if not result.is_finite():
        raise ValueError(f"venue sent a non-finite number: {value!r}")
    return result


def to_decimal_or_zero(value: Any) -> Decimal:
    result = to_decimal_exact(value)
    return Decimal(0) if result is None else result


def venue_reason(exc: BaseException, exchange_id: str) -> str:
    """The venue's own message from a ccxt error, else a log-safe description.

    ccxt either embeds the venue's JSON answer ("binance {"code":-1013,"msg":...}") or, for messages
    it maps, only the message after the exchange id ("binance Account has insufficient balance ...").
    """
    text = str(exc)
    if text.startswith(exchange_id + " ") and "{" not in text and "?" not in text:
        return text[len(exchange_id) + 1 :].strip()
    match = _VENUE_JSON.search(text)
    if match:
        try:
            body = json.loads(match.group(0))
        except ValueError:
            body = None
        if isinstance(body, dict) and body.get("msg"):
            code = body.get("code")
            return f"{body['msg']} (code {code})" if code is not None else str(body["msg"])
    return describe(exc)


def parse_order(raw: Mapping[str, Any]) -> VenueOrder:
    """A ccxt unified order; ccxt's 'open' is split into accepted / partially filled by the filled amount."""
    venue_status = str(raw.get("status") or "")
    filled = to_decimal_or_zero(raw.get("filled"))
    if venue_status == "open":
        status = OrderStatus.PARTIALLY_FILLED if filled > 0 else OrderStatus.ACCEPTED
    else:
        status = _STATUS.get(venue_status, OrderStatus.SUBMITTED)
    fees = raw.get("fees") or ([raw["fee"]] if raw.get("fee") else [])
    return VenueOrder(
        venue_order_id=str(raw["id"]),
        client_order_id=raw.get("clientOrderId"),
        symbol=str(raw["symbol"]),
        side=OrderSide(raw["side"]),
        order_type=str(raw.get("type") or ""),
        status=status,
        venue_status=venue_status,
        amount=to_decimal_exact(raw.get("amount")),
        filled=filled,
        remaining=to_decimal_exact(raw.get("remaining")),
        price=to_decimal_exact(raw.get("price")),
        average=to_decimal_exact(raw.get("average")),
        cost=to_decimal_or_zero(raw.get("cost")),
        fees=tuple(
            VenueFee(str(f["currency"]), to_decimal_or_zero(f.get("cost")))
            for f in fees
            if f and f.get("currency") is not None
        ),
        timestamp_ms=raw.get("timestamp"),
    )


def parse_trade(raw: Mapping[str, Any]) -> VenueTrade:
    """A ccxt unified trade (`fetch_my_trades`)."""
    fee = raw.get("fee") or {}
    maker = raw.get("takerOrMaker")
    return VenueTrade(
        trade_id=str(raw["id"]),
        venue_order_id=None if raw.get("order") is None else str(raw["order"]),
        symbol=str(raw["symbol"]),
        side=OrderSide(raw["side"]),
        price=to_decimal_or_zero(raw.get("price")),
        amount=to_decimal_or_zero(raw.get("amount")),
        cost=to_decimal_or_zero(raw.get("cost")),
        fee=to_decimal_or_zero(fee.get("cost")),
        fee_currency=fee.get("currency"),
        maker=None if maker is None else maker == "maker",
        timestamp_ms=raw.get("timestamp"),
    )
