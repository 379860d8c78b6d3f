"""The pure, exact core: value objects, instruments, orders, events, positions, the ledger.

Nothing here does I/O or imports another ATB package.
"""

from atb.domain.account import Account
from atb.domain.enums import (
    AccountMode,
    Liquidity,
    OrderSide,
    OrderStatus,
    OrderType,
    PositionSide,
    TimeInForce,
)
from atb.domain.errors import (
    DomainError,
    InsufficientFundsError,
    InvalidOrderError,
    InvalidTransitionError,
    InvalidValueError,
    Remedy,
)
from atb.domain.events import (
    Fill,
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
from atb.domain.ids import ClientOrderId, ClientOrderIdFactory, InstrumentId, TradeId, VenueOrderId
from atb.domain.instrument import FeeRate, Instrument
from atb.domain.money import Currency, Money, Price, Quantity, Rounding
from atb.domain.orders import Order
from atb.domain.position import Position

__all__ = [
    "Account",
    "AccountMode",
    "ClientOrderId",
    "ClientOrderIdFactory",
    "Currency",
    "DomainError",
    "FeeRate",
    "Fill",
    "Instrument",
    "InstrumentId",
    "InsufficientFundsError",
    "InvalidOrderError",
    "InvalidTransitionError",
    "InvalidValueError",
    "Liquidity",
    "Money",
    "Order",
    "OrderAccepted",
    "OrderCancelRequested",
    "OrderCanceled",
    "OrderDenied",
    "OrderEvent",
    "OrderExpired",
    "OrderFilled",
    "OrderRejected",
    "OrderSide",
    "OrderStatus",
    "OrderSubmitted",
    "OrderTriggered",
    "OrderType",
    "Position",
    "PositionSide",
    "Price",
    "Quantity",
    "Remedy",
    "Rounding",
    "TimeInForce",
    "TradeId",
    "VenueOrderId",
]
