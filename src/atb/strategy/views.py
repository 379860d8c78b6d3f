"""Read-only views a strategy gets of its positions and of the whole account.

Views read the live ledger through the strategy's context on every access,
so they are never stale, and they expose no way to change it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from atb.domain import Position

if TYPE_CHECKING:
    from atb.strategy.base import Strategy


class PositionView:
    """Read-only view of one instrument's position, for use inside `on_bar`."""

    __slots__ = ("_pos",)

    def __init__(self, position: Position) -> None:
        self._pos = position

    @property
    def is_flat(self) -> bool:
        return self._pos.lots == 0

    @property
    def is_long(self) -> bool:
        return self._pos.lots > 0

    @property
    def is_short(self) -> bool:
        return self._pos.lots < 0

    @property
    def size(self) -> Decimal:
        """Signed quantity in base units (negative when short)."""
        return Decimal(self._pos.lots) * self._pos.instrument.lot

    @property
    def lots(self) -> int:
        return self._pos.lots

    @property
    def avg_price(self) -> Decimal | None:
        return self._pos.avg_entry_price

    def __bool__(self) -> bool:
        """True while a position is open, so `if not self.position:` reads as it does in other frameworks."""
        return self._pos.lots != 0

    def __repr__(self) -> str:
        return f"PositionView({self._pos!r})"


class PortfolioView:
    """Read-only view of the whole account for a strategy: equity, cash, exposure, holdings.

    Amounts are exact `Decimal`s in the quote currency, positions marked at the
    latest close.
    """

    __slots__ = ("_strategy",)

    def __init__(self, strategy: Strategy) -> None:
        self._strategy = strategy

    def _units(self, units: int) -> Decimal:
        return Decimal(units).scaleb(-self._strategy.data.instrument.quote.precision)

    @property
    def equity(self) -> Decimal:
        return self._units(self._strategy.ctx.equity_units())

    @property
    def cash(self) -> Decimal:
        return self._units(self._strategy.ctx.cash_units())

    def positions(self) -> dict[str, PositionView]:
        """Open positions by symbol."""
        strategy = self._strategy
        return {s: strategy.position_of(s) for s in strategy.symbols if not strategy.position_of(s).is_flat}

    def _values(self) -> list[int]:
        ctx = self._strategy.ctx
        out = []
        for symbol in self.positions():
            inst = ctx.feed(symbol).instrument
            out.append(ctx.position(symbol).lots * ctx.mark_ticks(symbol) * inst.notional_factor)
        return out

    @property
    def gross_exposure(self) -> Decimal:
        """Σ |position value|."""
        return self._units(sum(abs(v) for v in self._values()))

    @property
    def net_exposure(self) -> Decimal:
        """Σ position value (shorts negative)."""
        return self._units(sum(self._values()))

    @property
    def leverage(self) -> Decimal:
        """Gross exposure / equity (0 when flat; infinite equity loss shows as a large number)."""
        equity = self._strategy.ctx.equity_units()
        gross = sum(abs(v) for v in self._values())
        return Decimal(0) if gross == 0 or equity <= 0 else Decimal(gross) / Decimal(equity)
