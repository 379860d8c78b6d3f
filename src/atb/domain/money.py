"""Exact value objects: `Price`, `Quantity`, `Money`, and the rounding rules that make them.

Every constructor takes `str`, `int` or `Decimal` and refuses `float`: a float
such as 57.638000000000005 is not a price any venue accepts, and silently
rounding it would hide the bug that produced it. Code that genuinely starts
from a float (an indicator value used as a limit price) must say how to round
it, with `Price.from_float`.

Nothing here reads or changes the global `decimal` context (a caller may have
lowered its precision): rounding takes the mode as an argument, shifts and
products run in an exact local context (`shifted`, `product`), and division in
a local context with enough digits for any realistic amount (`quotient`).

Inside the backtest kernel the same values travel as integers scaled to the
instrument's tick (prices), lot (quantities) and currency unit (money); the
helpers here convert between the two forms exactly.
"""

from __future__ import annotations

import decimal
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from atb.domain.errors import CurrencyMismatchError, InvalidValueError

Exact = str | int | Decimal
"""What a value object may be built from. Not `float`, on purpose."""

_WIDE = decimal.Context(prec=60, rounding=decimal.ROUND_HALF_EVEN, traps=[decimal.InvalidOperation])
_EXACT = decimal.Context(
    prec=decimal.MAX_PREC,
    Emax=decimal.MAX_EMAX,
    Emin=decimal.MIN_EMIN,
    traps=[decimal.InvalidOperation, decimal.Inexact],
)
"""For operations exact by construction (power-of-ten shifts, products): never rounds, and would
raise rather than lose a digit. Never divide in it: an unbounded precision has no end for 1/3."""


def shifted(value: Decimal, places: int) -> Decimal:
    """`value` × 10**places, exactly, whatever the global context says (unlike `Decimal.scaleb`)."""
    return value.scaleb(places, _EXACT)


def product(a: Decimal, b: Decimal) -> Decimal:
    """`a` × `b`, exactly, whatever the global context says (unlike `*`)."""
    return _EXACT.multiply(a, b)


def normalized(value: Decimal) -> Decimal:
    """`value` without trailing zeros (0.0100 → 0.01), never rounded by the global context."""
    return value.normalize(_EXACT)


def quotient(a: Decimal, b: Decimal) -> Decimal:
    """`a` / `b` to 60 significant digits, independent of the global context."""
    return _WIDE.divide(a, b)


class Rounding(StrEnum):
    """Named rounding modes; pick the one that is conservative for the use.

    DOWN/UP are toward/away from zero; FLOOR/CEILING toward -inf/+inf.
    Quantities sent to a venue round DOWN (never more than asked), a buy
    limit rounds FLOOR and a sell limit CEILING (never a worse price), fees
    round UP (never understated).
    """

    DOWN = decimal.ROUND_DOWN
    UP = decimal.ROUND_UP
    FLOOR = decimal.ROUND_FLOOR
    CEILING = decimal.ROUND_CEILING
    HALF_EVEN = decimal.ROUND_HALF_EVEN
    HALF_UP = decimal.ROUND_HALF_UP
    STRICT = "strict"
    """Refuse any value that is not already on the grid."""


def to_decimal(value: Exact, what: str = "value") -> Decimal:
    """Convert an exact input to a finite Decimal; floats and NaN are refused."""
    if isinstance(value, bool):
        raise TypeError(f"{what} must be str, int or Decimal, not bool")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        try:
            result = _EXACT.create_decimal(value.strip())  # Decimal(str) would flag the global context
        except decimal.InvalidOperation:
            raise InvalidValueError(f"{what} {value!r} is not a number") from None
    else:
        raise TypeError(
            f"{what} must be str, int or Decimal, not {type(value).__name__}; "
            "floats are refused because they are not exact (use Price.from_float to round one)"
        )
    if not result.is_finite():
        raise InvalidValueError(f"{what} must be finite, got {value!r}")
    return result


def decimal_places(step: Decimal) -> int:
    """Digits after the point needed to write `step` exactly (0.01 → 2, 5 → 0)."""
    exponent = normalized(step).as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


def units_of(value: Decimal, step: Decimal, rounding: Rounding, what: str = "value") -> int:
    """How many `step`s make `value`, rounded by `rounding` (exact integer)."""
    ratio = _WIDE.divide(value, step)
    if rounding is Rounding.STRICT:
        integral = ratio.to_integral_value(rounding=decimal.ROUND_DOWN, context=_WIDE)
        if integral != ratio:
            raise InvalidValueError(f"{what} {value} is not a multiple of {step}")
        return int(integral)
    return int(ratio.to_integral_value(rounding=rounding.value, context=_WIDE))


def quantize_to_step(value: Decimal, step: Decimal, rounding: Rounding, what: str = "value") -> Decimal:
    """`value` snapped onto the grid of `step` by `rounding`, written with the step's exponent."""
    return _WIDE.multiply(Decimal(units_of(value, step, rounding, what)), step)


@dataclass(frozen=True, slots=True)
class Currency:
    """A currency or asset with the number of decimals its balances carry."""

    code: str
    precision: int

    def __post_init__(self) -> None:
        if not self.code or not self.code.replace("-", "").isalnum():
            raise InvalidValueError(f"currency code {self.code!r} is not valid")
        if not 0 <= self.precision <= 18:
            raise InvalidValueError(f"currency precision must be 0..18, got {self.precision}")

    @property
    def unit(self) -> Decimal:
        return shifted(Decimal(1), -self.precision)

    def __str__(self) -> str:
        return self.code


@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount of one currency, always on the currency's precision."""

    amount: Decimal
    currency: Currency

    @classmethod
    def of(cls, value: Exact, currency: Currency, rounding: Rounding = Rounding.STRICT) -> Money:
        amount = to_decimal(value, "amount")
        return cls(quantize_to_step(amount, currency.unit, rounding, "amount"), currency)

    @classmethod
    def from_units(cls, units: int, currency: Currency) -> Money:
        return cls(shifted(Decimal(units), -currency.precision), currency)

    @property
    def units(self) -> int:
        """The amount as an integer count of the currency's smallest unit."""
        return int(shifted(self.amount, self.currency.precision))

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatchError(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money.from_units(self.units + other.units, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money.from_units(self.units - other.units, self.currency)

    def __neg__(self) -> Money:
        return Money.from_units(-self.units, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount <= other.amount

    def __str__(self) -> str:
        return f"{self.amount} {self.currency.code}"


@dataclass(frozen=True, slots=True)
class Price:
    """A price on an instrument's tick grid."""

    value: Decimal

    @classmethod
    def of(cls, value: Exact, *, tick: Decimal, rounding: Rounding = Rounding.STRICT) -> Price:
        price = to_decimal(value, "price")
        if price <= 0:
            raise InvalidValueError(f"price must be positive, got {price}")
        snapped = quantize_to_step(price, tick, rounding, "price")
        if snapped <= 0:
            raise InvalidValueError(f"price {price} rounds to zero on tick {tick}")
        return cls(snapped)

    @classmethod
    def from_float(cls, value: float, *, tick: Decimal, rounding: Rounding) -> Price:
        """Round a float (e.g. an indicator value) onto the tick grid by an explicit rule.

        The float's shortest repr is taken as its decimal value, so 0.1 means
        0.1 and not 0.1000000000000000055511151231257827.
        """
        if not isinstance(value, float):
            raise TypeError(f"from_float takes a float, got {type(value).__name__}")
        if value != value or value in (float("inf"), float("-inf")):
            raise InvalidValueError(f"price must be finite, got {value}")
        return cls.of(Decimal(repr(value)), tick=tick, rounding=rounding)

    @classmethod
    def from_ticks(cls, ticks: int, tick: Decimal) -> Price:
        return cls(product(Decimal(ticks), tick))

    def ticks(self, tick: Decimal) -> int:
        return units_of(self.value, tick, Rounding.STRICT, "price")

    def __str__(self) -> str:
        return str(self.value)


@dataclass(frozen=True, slots=True)
class Quantity:
    """A non-negative amount of an instrument's base asset, on its lot grid."""

    value: Decimal

    @classmethod
    def of(cls, value: Exact, *, lot: Decimal, rounding: Rounding = Rounding.STRICT) -> Quantity:
        qty = to_decimal(value, "quantity")
        if qty < 0:
            raise InvalidValueError(f"quantity must not be negative, got {qty}")
        return cls(quantize_to_step(qty, lot, rounding, "quantity"))

    @classmethod
    def from_lots(cls, lots: int, lot: Decimal) -> Quantity:
        return cls(product(Decimal(lots), lot))

    def lots(self, lot: Decimal) -> int:
        return units_of(self.value, lot, Rounding.STRICT, "quantity")

    def __str__(self) -> str:
        return str(self.value)
