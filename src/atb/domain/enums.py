"""Small closed vocabularies shared by orders, fills and positions.

Names are direction-neutral (entry/exit, long/short) so shorting never needs
a rename; string values are what the result JSON and the database store.
"""

from __future__ import annotations

from enum import StrEnum


class OrderSide(StrEnum):
    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        return 1 if self is OrderSide.BUY else -1

    @property
    def opposite(self) -> OrderSide:
        return OrderSide.SELL if self is OrderSide.BUY else OrderSide.BUY


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    STOP_MARKET = "stop_market"
    STOP_LIMIT = "stop_limit"


class TimeInForce(StrEnum):
    GTC = "gtc"
    """Good till cancelled: rests until filled or cancelled."""
    IOC = "ioc"
    """Immediate or cancel: fill what can be filled on arrival, cancel the rest."""
    FOK = "fok"
    """Fill or kill: fill completely on arrival or not at all."""


class OrderStatus(StrEnum):
    INITIALIZED = "initialized"
    """Created by the strategy, not yet past the risk checks."""
    DENIED = "denied"
    """Refused by our own pre-trade checks; never reached a venue."""
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    """Refused by the venue (or the simulated venue)."""
    PENDING_CANCEL = "pending_cancel"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    EXPIRED = "expired"

    @property
    def is_open(self) -> bool:
        return self in _OPEN

    @property
    def is_closed(self) -> bool:
        return self in _CLOSED


OPEN_STATUSES = _OPEN = frozenset(
    {OrderStatus.SUBMITTED, OrderStatus.ACCEPTED, OrderStatus.PENDING_CANCEL, OrderStatus.PARTIALLY_FILLED}
)
CLOSED_STATUSES = _CLOSED = frozenset(
    {OrderStatus.DENIED, OrderStatus.REJECTED, OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.EXPIRED}
)


class Liquidity(StrEnum):
    MAKER = "maker"
    TAKER = "taker"


class PositionSide(StrEnum):
    FLAT = "flat"
    LONG = "long"
    SHORT = "short"


class AccountMode(StrEnum):
    SPOT = "spot"
    """Cash only: buys need the cash, sells need the holding; no shorting."""
    MARGIN = "margin"
    """Shorting allowed; gross exposure limited to leverage × equity."""
