"""Orders and fills of a run as parallel lists: what the results and the result JSON are built from.

Both engines end in these columns. The bar loop converts its domain objects
(`Order`, `OrderFilled`) once; the signal kernel writes the columns directly
and never builds the objects unless a caller asks for them. Building the
statistics, trades and JSON rows from one representation means the two paths
cannot format or count differently.

Every amount is an exact integer on the instrument's grids: prices in ticks,
quantities in lots, money in quote units.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from atb.domain import Instrument, Order, OrderFilled, OrderSide


@dataclass(slots=True)
class FillColumns:
    """Executions in booking order."""

    bar: list[int]
    ts: list[int]
    signed: list[int]
    """Lots, negative for sells."""
    ticks: list[int]
    fee: list[int]
    owner: list[int] | None
    """Index into `instruments` of each fill; None when the run has one instrument."""
    instruments: list[Instrument]
    cash: list[int] | None = None
    """Account cash after each fill, when the producer tracked it (else rebuilt from the others)."""

    def __len__(self) -> int:
        return len(self.bar)

    @classmethod
    def from_fills(
        cls, fills: Sequence[OrderFilled], bars: list[int], instruments: Sequence[Instrument]
    ) -> FillColumns:
        """One pass over the bar loop's `OrderFilled` events."""
        insts = list(instruments)
        owner = None
        if len(insts) > 1:
            index = {inst.id: k for k, inst in enumerate(insts)}
            owner = [index[f.instrument.id] for f in fills]
        return cls(
            bar=list(bars),
            ts=[f.ts_event for f in fills],
            signed=[f.lots if f.side is OrderSide.BUY else -f.lots for f in fills],
            ticks=[f.ticks for f in fills],
            fee=[f.fee_units for f in fills],
            owner=owner,
            instruments=insts,
        )

    def factors(self) -> list[int]:
        """Each fill's notional factor (quote units per tick × lot)."""
        if self.owner is None:
            return [self.instruments[0].notional_factor] * len(self.bar)
        by_owner = [inst.notional_factor for inst in self.instruments]
        return [by_owner[k] for k in self.owner]


@dataclass(slots=True)
class OrderColumns:
    """Orders in submission order, with what the result JSON reports of each."""

    ids: list[str]
    ts: list[int]
    """`ts_init`: the close of the bar that decided the order."""
    symbol: list[str]
    side: list[str]
    type: list[str]
    lots: list[int | None]
    filled_lots: list[int]
    filled_notional: list[int]
    """Σ lots × ticks of the order's fills (the average price is this / `filled_lots`)."""
    limit_ticks: list[int | None]
    stop_ticks: list[int | None]
    status: list[str]
    reason: list[str]
    tag: list[str]

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def from_orders(cls, orders: Sequence[Order]) -> OrderColumns:
        return cls(
            ids=[o.client_order_id for o in orders],
            ts=[o.ts_init for o in orders],
            symbol=[o.instrument_id for o in orders],
            side=[o.side.value for o in orders],
            type=[o.order_type.value for o in orders],
            lots=[o.lots for o in orders],
            filled_lots=[o.filled_lots for o in orders],
            filled_notional=[o.filled_notional_ticks_lots for o in orders],
            limit_ticks=[o.limit_ticks for o in orders],
            stop_ticks=[o.stop_ticks for o in orders],
            status=[o.status.value for o in orders],
            reason=[o.reason for o in orders],
            tag=[o.tag for o in orders],
        )
