"""A netting position in one instrument, kept in exact integers.

`lots` is signed (long > 0, short < 0). `cost_units` is the signed quote
notional of the open lots at their entry prices, so the average entry price
is `cost / lots` and unrealised PnL is `lots × mark − cost`, both exact.

When a fill reduces the position, the share of cost it removes is
`cost × closed / |lots|` truncated toward zero; whatever the truncation
leaves stays in the remaining cost, so realised + unrealised always adds up
to exactly what cash paid and received. A fill larger than the position
closes it and opens the rest on the other side at the fill price.
"""

from __future__ import annotations

from decimal import Decimal

from atb.domain.enums import PositionSide
from atb.domain.events import OrderFilled
from atb.domain.instrument import Instrument
from atb.domain.money import Money, Quantity, product, quotient, shifted


class Position:
    __slots__ = ("cost_units", "fees_units", "instrument", "lots", "opened_ts", "realised_units", "ts_last")

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument
        self.lots = 0
        self.cost_units = 0
        self.realised_units = 0
        self.fees_units = 0
        self.opened_ts = 0
        self.ts_last = 0

    @property
    def side(self) -> PositionSide:
        if self.lots > 0:
            return PositionSide.LONG
        return PositionSide.SHORT if self.lots < 0 else PositionSide.FLAT

    @property
    def is_flat(self) -> bool:
        return self.lots == 0

    def apply(self, fill: OrderFilled) -> int:
        """Book one fill; returns the realised PnL (quote units, gross of fees) it produced."""
        return self.apply_raw(fill.signed_lots, fill.ticks, fill.fee_units, fill.ts_event)

    def apply_raw(self, signed_lots: int, ticks: int, fee_units: int, ts: int) -> int:
        """`apply` without the event object: the backtest kernel's path (same arithmetic)."""
        factor = self.instrument.notional_factor
        lots = self.lots
        self.fees_units += fee_units
        self.ts_last = ts
        if lots == 0 or (lots > 0) == (signed_lots > 0):
            if lots == 0:
                self.opened_ts = ts
            self.lots = lots + signed_lots
            self.cost_units += signed_lots * ticks * factor
            return 0
        closing = min(abs(signed_lots), abs(lots))
        cost = self.cost_units
        removed = abs(cost) * closing // abs(lots)
        removed = removed if cost >= 0 else -removed
        value = closing * ticks * factor
        realised = value - removed if lots > 0 else -value - removed
        self.realised_units += realised
        self.cost_units = cost - removed
        rest = abs(signed_lots) - closing
        if lots > 0:
            self.lots = lots - closing
        else:
            self.lots = lots + closing
        if rest:
            sign = 1 if signed_lots > 0 else -1
            self.lots = sign * rest
            self.cost_units = sign * rest * ticks * factor
            self.opened_ts = ts
        return realised

    # --- exact views --------------------------------------------------------------------
    def unrealised_units(self, mark_ticks: int) -> int:
        return self.lots * mark_ticks * self.instrument.notional_factor - self.cost_units

    def value_units(self, mark_ticks: int) -> int:
        """Signed mark-to-market value of the holding (what it adds to equity)."""
        return self.lots * mark_ticks * self.instrument.notional_factor

    @property
    def quantity(self) -> Quantity:
        return Quantity.from_lots(abs(self.lots), self.instrument.lot)

    @property
    def avg_entry_price(self) -> Decimal | None:
        """Average entry as a Decimal, to 60 significant digits (may have more digits than the tick).

        Exact whenever cost / quantity terminates; otherwise correctly rounded at the 60th digit.
        """
        if self.lots == 0:
            return None
        inst = self.instrument
        cost = shifted(Decimal(self.cost_units), -inst.quote.precision)
        return quotient(cost, product(Decimal(self.lots), inst.lot))

    @property
    def realised(self) -> Money:
        return Money.from_units(self.realised_units, self.instrument.quote)

    @property
    def fees(self) -> Money:
        return Money.from_units(self.fees_units, self.instrument.quote)

    def __repr__(self) -> str:
        return f"Position({self.instrument.id} {self.side.value} {self.quantity} cost={self.cost_units})"
