"""The kill switch: once tripped, no new risk until a person resets it.

It trips automatically (the risk engine trips it when drawdown from peak
equity exceeds `max_drawdown_pct`) or by hand (`trip(reason)`). It stays
tripped — a recovering equity curve does not reset it — until
`reset(confirm=True)`: halting is cheap, resuming is a decision.

While it is tripped the risk engine refuses every order except those that
can only reduce a position (reduce-only, or sized in lots and no larger
than the position they oppose), so the runtime can still go flat with
`flatten_orders`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from atb.domain import InstrumentId, OrderSide, Position


class FlattenOrder(NamedTuple):
    """One reduce-only market order a runtime must send to close a position."""

    symbol: InstrumentId
    side: OrderSide
    lots: int


def flatten_orders(positions: Mapping[InstrumentId, int | Position]) -> list[FlattenOrder]:
    """The reduce-only market orders that take every position to flat, in symbol order.

    `positions` maps a symbol to its signed lots (long > 0) or to its `Position`
    (so `account.positions` can be passed as is). Flat positions need no order.
    """
    out: list[FlattenOrder] = []
    for symbol in sorted(positions):
        held = positions[symbol]
        lots = held.lots if isinstance(held, Position) else held
        if lots > 0:
            out.append(FlattenOrder(symbol, OrderSide.SELL, lots))
        elif lots < 0:
            out.append(FlattenOrder(symbol, OrderSide.BUY, -lots))
    return out


class KillSwitch:
    __slots__ = ("_reason", "_ts_tripped")

    def __init__(self) -> None:
        self._reason: str | None = None
        self._ts_tripped: int | None = None

    @property
    def tripped(self) -> bool:
        return self._reason is not None

    @property
    def reason(self) -> str | None:
        """Why it tripped (the first cause; later trips do not overwrite it), or None."""
        return self._reason

    @property
    def ts_tripped(self) -> int | None:
        return self._ts_tripped

    def trip(self, reason: str, ts: int | None = None) -> bool:
        """Halt. Returns True if this call tripped it, False if it was already tripped."""
        if not reason:
            raise ValueError("a kill switch trip needs a reason")
        if self._reason is not None:
            return False
        self._reason = reason
        self._ts_tripped = ts
        return True

    def reset(self, *, confirm: bool = False) -> None:
        """Resume trading; `confirm=True` is required so a reset is never an accident."""
        if confirm is not True:
            raise ValueError("resetting the kill switch resumes trading: call reset(confirm=True)")
        self._reason = None
        self._ts_tripped = None

    @staticmethod
    def flatten_orders(positions: Mapping[InstrumentId, int | Position]) -> list[FlattenOrder]:
        """See the module-level `flatten_orders`."""
        return flatten_orders(positions)

    def __repr__(self) -> str:
        return f"KillSwitch(tripped: {self._reason})" if self.tripped else "KillSwitch(armed)"
