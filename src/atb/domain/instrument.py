"""What can be traded and by which rules: tick, lot, minimums and fees.

The instrument also fixes the integer scales the backtest kernel uses:
prices in ticks, quantities in lots, quote money in units of the quote
currency. `notional_units` turns ticks × lots into quote units exactly,
which is why the quote precision must be fine enough to hold tick × lot.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from atb.domain.errors import InvalidValueError
from atb.domain.ids import InstrumentId
from atb.domain.money import (
    Currency,
    Exact,
    Price,
    Quantity,
    Rounding,
    decimal_places,
    normalized,
    product,
    shifted,
    to_decimal,
    units_of,
)


@dataclass(frozen=True, slots=True)
class FeeRate:
    """A fee as an exact fraction of notional, e.g. 0.001 = 10 bps."""

    rate: Decimal
    _num: int = field(init=False, repr=False, compare=False)
    _den: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Checked here, not only in `of`: a float rate would carry its binary expansion into every fee.
        if not isinstance(self.rate, Decimal):
            raise TypeError(f"fee rate must be a Decimal, not {type(self.rate).__name__}; use FeeRate.of")
        if not self.rate.is_finite() or not Decimal(-1) < self.rate < Decimal(1):
            raise InvalidValueError(f"fee rate must be a fraction in (-1, 1), got {self.rate}")
        num, den = self.rate.as_integer_ratio()
        object.__setattr__(self, "_num", num)
        object.__setattr__(self, "_den", den)

    @classmethod
    def of(cls, value: Exact) -> FeeRate:
        return cls(to_decimal(value, "fee rate"))

    def fee_units(self, notional_units: int) -> int:
        """Fee on a notional (in quote units), rounded UP to a whole unit: never understated.

        A negative rate (maker rebate) rounds toward zero for the same reason.
        """
        return -((-self._num * abs(notional_units)) // self._den)  # ceiling, exact integers

    @property
    def ratio(self) -> tuple[int, int]:
        """The rate as (numerator, denominator) integers."""
        return self._num, self._den


@dataclass(frozen=True, slots=True)
class Instrument:
    """A spot or margin pair such as BTC/USDT with the venue's trading rules."""

    id: InstrumentId
    base: Currency
    quote: Currency
    tick: Decimal
    lot: Decimal
    min_quantity: Decimal
    min_notional: Decimal
    maker_fee: FeeRate
    taker_fee: FeeRate
    notional_factor: int = field(init=False, repr=False, compare=False)
    """Quote units in one tick × one lot (exact by the precision check): ticks × lots × factor = notional."""
    min_lots: int = field(init=False, repr=False, compare=False)
    """Smallest order in lots (at least one lot)."""
    min_notional_units: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("tick", "lot"):
            step = getattr(self, name)
            if not isinstance(step, Decimal) or step <= 0:
                raise InvalidValueError(f"{self.id}: {name} must be a positive Decimal, got {step!r}")
        if self.min_quantity < 0 or self.min_notional < 0:
            raise InvalidValueError(f"{self.id}: minimums must not be negative")
        step_notional = product(self.tick, self.lot)
        if decimal_places(step_notional) > self.quote.precision:
            raise InvalidValueError(
                f"{self.id}: quote precision {self.quote.precision} cannot hold tick × lot = "
                f"{step_notional}; notionals would not be exact"
            )
        if decimal_places(self.lot) > self.base.precision:
            raise InvalidValueError(f"{self.id}: base precision {self.base.precision} is finer than lot {self.lot}")
        # Derived integer scales, computed once: the kernel reads them on every fill.
        object.__setattr__(self, "notional_factor", int(shifted(step_notional, self.quote.precision)))
        object.__setattr__(self, "min_lots", max(1, units_of(self.min_quantity, self.lot, Rounding.CEILING)))
        object.__setattr__(self, "min_notional_units", units_of(self.min_notional, self.quote.unit, Rounding.CEILING))

    @classmethod
    def spot(
        cls,
        symbol: str,
        *,
        tick: Exact,
        lot: Exact,
        min_quantity: Exact = 0,
        min_notional: Exact = 0,
        maker_fee: Exact = "0.001",
        taker_fee: Exact = "0.001",
        quote_precision: int | None = None,
        base_precision: int | None = None,
    ) -> Instrument:
        """Build from plain values; precisions default to what tick and lot need (at least 8)."""
        if symbol.count("/") != 1 or not all(symbol.split("/")):
            raise InvalidValueError(f"symbol must look like BASE/QUOTE, got {symbol!r}")
        base_code, quote_code = symbol.split("/")
        tick_d = normalized(to_decimal(tick, "tick"))
        lot_d = normalized(to_decimal(lot, "lot"))
        qp = quote_precision if quote_precision is not None else max(8, decimal_places(product(tick_d, lot_d)))
        bp = base_precision if base_precision is not None else max(8, decimal_places(lot_d))
        return cls(
            id=InstrumentId(symbol),
            base=Currency(base_code, bp),
            quote=Currency(quote_code, qp),
            tick=tick_d,
            lot=lot_d,
            min_quantity=to_decimal(min_quantity, "min quantity"),
            min_notional=to_decimal(min_notional, "min notional"),
            maker_fee=FeeRate.of(maker_fee),
            taker_fee=FeeRate.of(taker_fee),
        )

    # --- integer scales used by the kernel -------------------------------------------------
    def notional_units(self, ticks: int, lots: int) -> int:
        return ticks * lots * self.notional_factor

    def price(self, value: Exact, rounding: Rounding = Rounding.STRICT) -> Price:
        return Price.of(value, tick=self.tick, rounding=rounding)

    def quantity(self, value: Exact, rounding: Rounding = Rounding.STRICT) -> Quantity:
        return Quantity.of(value, lot=self.lot, rounding=rounding)

    def __str__(self) -> str:
        return str(self.id)
