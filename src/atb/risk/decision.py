"""The answer of a pre-trade check: approved, or denied with a stable reason code and a message.

Reason codes are the `RiskConfig` field names of the limits they enforce (so
an alert rule or a dashboard can link a denial to its setting), plus three
for the conditions that make a check impossible: `kill_switch`,
`unknown_instrument` and `no_last_price`. They never change once released.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from atb.domain import Order, OrderDenied


class RiskReason(StrEnum):
    APPROVED = "approved"
    KILL_SWITCH = "kill_switch"
    UNKNOWN_INSTRUMENT = "unknown_instrument"
    NO_LAST_PRICE = "no_last_price"
    PRICE_BAND = "price_band_pct"
    DAILY_LOSS = "daily_loss_limit"
    MAX_OPEN_ORDERS = "max_open_orders"
    ORDER_RATE = "max_orders_per_minute"
    ORDER_NOTIONAL = "max_order_notional"
    POSITION_NOTIONAL = "max_position_notional"
    GROSS_EXPOSURE = "max_gross_exposure"
    GROSS_LEVERAGE = "max_gross_leverage"
    VAR = "max_var_95_pct"


@dataclass(frozen=True, slots=True)
class RiskDecision:
    approved: bool
    reason: RiskReason
    message: str

    @classmethod
    def approve(cls, message: str = "all risk checks passed") -> RiskDecision:
        return cls(True, RiskReason.APPROVED, message)

    @classmethod
    def deny(cls, reason: RiskReason, message: str) -> RiskDecision:
        return cls(False, reason, message)

    def denied_event(self, order: Order, ts: int) -> OrderDenied:
        """The event that moves a refused order to DENIED; its reason is `"<code>: <message>"`.

        The code leads so a reader of the stored order can recover it with `reason.split(":")[0]`.
        """
        if self.approved:
            raise ValueError(f"order {order.client_order_id} was approved; there is nothing to deny")
        return OrderDenied(order.client_order_id, ts, ts, f"{self.reason.value}: {self.message}")
