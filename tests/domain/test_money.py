"""Value objects: exact construction, every rounding mode on both signs and odd grids, no float, and no
trace left on (or taken from) the global decimal context."""

from __future__ import annotations

import decimal
import math
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atb.domain import Currency, Money, Price, Quantity, Rounding
from atb.domain.errors import CurrencyMismatchError, InvalidValueError
from atb.domain.money import decimal_places, quantize_to_step, to_decimal, units_of

TICK = Decimal("0.01")
LOT = Decimal("0.00001")
USD = Currency("USD", 2)
USDT = Currency("USDT", 8)
WIDE = decimal.Context(prec=100)  # the test's own exact arithmetic for numbers up to 10**40
MODES = [Rounding.DOWN, Rounding.UP, Rounding.FLOOR, Rounding.CEILING, Rounding.HALF_EVEN, Rounding.HALF_UP]


def ref_round(ratio: Fraction, mode: Rounding) -> int:
    """Independent rounding of an exact ratio, straight from each mode's definition."""
    lo, hi = math.floor(ratio), math.ceil(ratio)
    if lo == hi:
        return lo
    away = hi if ratio > 0 else lo
    toward = lo if ratio > 0 else hi
    if mode is Rounding.FLOOR:
        return lo
    if mode is Rounding.CEILING:
        return hi
    if mode is Rounding.DOWN:
        return toward
    if mode is Rounding.UP:
        return away
    diff = ratio - lo
    if diff != Fraction(1, 2):
        return lo if diff < Fraction(1, 2) else hi
    if mode is Rounding.HALF_UP:
        return away
    assert mode is Rounding.HALF_EVEN
    return lo if lo % 2 == 0 else hi


# --- construction -----------------------------------------------------------------------------


def test_price_from_string_is_exact() -> None:
    p = Price.of("64250.55", tick=TICK)
    assert p.value == Decimal("64250.55")
    assert type(p.value) is Decimal
    assert str(p) == "64250.55"
    assert p.ticks(TICK) == 6_425_055
    assert Price.of(" 64250.50 ", tick=TICK).ticks(TICK) == 6_425_050
    assert Price.of(64250, tick=TICK).value == Decimal(64250)
    assert Price.of(Decimal("1.10"), tick=Decimal("0.05")).ticks(Decimal("0.05")) == 22


@pytest.mark.parametrize("bad", [64250.55, 1.0, np.float64(64250.55), np.int64(5), True])
def test_price_refuses_float_and_non_exact_types(bad: object) -> None:
    with pytest.raises(TypeError):
        Price.of(bad, tick=TICK)  # type: ignore[arg-type]


def test_every_constructor_refuses_float() -> None:
    with pytest.raises(TypeError, match="float"):
        Quantity.of(0.5, lot=LOT)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="float"):
        Money.of(1.5, USD)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="float"):
        to_decimal(0.1)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["abc", "", "1,5", "NaN", "sNaN", "Infinity", "-inf"])
def test_non_numbers_and_non_finite_are_refused(text: str) -> None:
    with pytest.raises(InvalidValueError):
        to_decimal(text)
    with pytest.raises(InvalidValueError):
        Money.of(text, USD)


@pytest.mark.parametrize("value", ["0", "-0.01", "-64250.55"])
def test_price_must_be_positive(value: str) -> None:
    with pytest.raises(InvalidValueError, match="positive"):
        Price.of(value, tick=TICK)


def test_price_that_rounds_to_zero_is_refused() -> None:
    with pytest.raises(InvalidValueError, match="rounds to zero"):
        Price.of("0.004", tick=TICK, rounding=Rounding.DOWN)
    assert Price.of("0.004", tick=TICK, rounding=Rounding.UP).value == Decimal("0.01")


@pytest.mark.parametrize(
    ("value", "tick"),
    [("64250.555", "0.01"), ("1.02", "0.05"), ("1.3", "0.5"), ("7", "5"), ("0.000001", "0.01")],
)
def test_strict_refuses_off_grid(value: str, tick: str) -> None:
    with pytest.raises(InvalidValueError, match="not a multiple"):
        Price.of(value, tick=Decimal(tick))
    with pytest.raises(InvalidValueError, match="not a multiple"):
        units_of(Decimal(value), Decimal(tick), Rounding.STRICT)


@pytest.mark.parametrize(
    ("value", "tick", "ticks"),
    [("64250.550", "0.01", 6425055), ("1.05", "0.05", 21), ("1.5", "0.5", 3), ("10", "5", 2), ("15.0", "5", 3)],
)
def test_strict_accepts_on_grid(value: str, tick: str, ticks: int) -> None:
    assert Price.of(value, tick=Decimal(tick)).ticks(Decimal(tick)) == ticks
    assert units_of(-Decimal(value), Decimal(tick), Rounding.STRICT) == -ticks


# --- rounding modes ---------------------------------------------------------------------------

# value, step, expected units for DOWN, UP, FLOOR, CEILING, HALF_EVEN, HALF_UP (worked by hand)
ROUNDING_TABLE = [
    ("1.03", "0.05", (20, 21, 20, 21, 21, 21)),  # 20.6
    ("-1.03", "0.05", (-20, -21, -21, -20, -21, -21)),
    ("1.025", "0.05", (20, 21, 20, 21, 20, 21)),  # 20.5: the tie
    ("-1.025", "0.05", (-20, -21, -21, -20, -20, -21)),
    ("1.075", "0.05", (21, 22, 21, 22, 22, 22)),  # 21.5: tie to the even 22
    ("1.01", "0.05", (20, 21, 20, 21, 20, 20)),  # 20.2
    ("7.3", "0.5", (14, 15, 14, 15, 15, 15)),  # 14.6
    ("-7.3", "0.5", (-14, -15, -15, -14, -15, -15)),
    ("7.25", "0.5", (14, 15, 14, 15, 14, 15)),  # 14.5
    ("-7.75", "0.5", (-15, -16, -16, -15, -16, -16)),  # -15.5
    ("12", "5", (2, 3, 2, 3, 2, 2)),  # 2.4
    ("-12", "5", (-2, -3, -3, -2, -2, -2)),
    ("12.5", "5", (2, 3, 2, 3, 2, 3)),  # 2.5
    ("17.5", "5", (3, 4, 3, 4, 4, 4)),  # 3.5
    ("-17.5", "5", (-3, -4, -4, -3, -4, -4)),
    ("64250.555", "0.01", (6425055, 6425056, 6425055, 6425056, 6425056, 6425056)),  # ...55.5
    ("64250.545", "0.01", (6425054, 6425055, 6425054, 6425055, 6425054, 6425055)),  # ...54.5
    ("-0.015", "0.01", (-1, -2, -2, -1, -2, -2)),
    ("0.1", "0.03", (3, 4, 3, 4, 3, 3)),  # 3.333..., a non-terminating ratio
    ("-0.1", "0.03", (-3, -4, -4, -3, -3, -3)),
]


@pytest.mark.parametrize(("value", "step", "expected"), ROUNDING_TABLE)
def test_each_rounding_mode_by_hand(value: str, step: str, expected: tuple[int, ...]) -> None:
    v, s = Decimal(value), Decimal(step)
    for mode, units in zip(MODES, expected, strict=True):
        assert units_of(v, s, mode) == units, mode
        assert ref_round(Fraction(v) / Fraction(s), mode) == units, mode  # the reference agrees
        snapped = quantize_to_step(v, s, mode)
        assert snapped == units * s
        if units > 0:
            assert Price.of(value, tick=s, rounding=mode).value == units * s
            assert Quantity.of(value, lot=s, rounding=mode).value == units * s


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        (Rounding.DOWN, "-1.00"),
        (Rounding.UP, "-1.01"),
        (Rounding.FLOOR, "-1.01"),
        (Rounding.CEILING, "-1.00"),
        (Rounding.HALF_EVEN, "-1.00"),
        (Rounding.HALF_UP, "-1.01"),
    ],
)
def test_money_rounds_negative_amounts(mode: Rounding, expected: str) -> None:
    m = Money.of("-1.005", USD, mode)
    assert m.amount == Decimal(expected)
    assert m.units == int(Decimal(expected) * 100)


STEPS = [Decimal(s) for s in ("0.01", "0.05", "0.5", "5", "0.00001", "0.25", "2.5", "0.03", "7")]
decimals = st.builds(lambda n, e: Decimal(f"{n}E{e}"), st.integers(-(10**15), 10**15), st.integers(-10, 3))


@settings(max_examples=300, deadline=None)
@given(value=decimals, step=st.sampled_from(STEPS), mode=st.sampled_from(MODES))
def test_rounding_matches_fraction_reference(value: Decimal, step: Decimal, mode: Rounding) -> None:
    ratio = Fraction(value) / Fraction(step)
    expected = ref_round(ratio, mode)
    assert units_of(value, step, mode) == expected
    if ratio.denominator == 1:
        assert units_of(value, step, Rounding.STRICT) == expected
    else:
        with pytest.raises(InvalidValueError):
            units_of(value, step, Rounding.STRICT)
    # never more than one step away, and on the conservative side the mode promises
    snapped = Fraction(quantize_to_step(value, step, mode))
    assert abs(snapped - Fraction(value)) < Fraction(step)
    if mode is Rounding.FLOOR:
        assert snapped <= Fraction(value)
    if mode is Rounding.CEILING:
        assert snapped >= Fraction(value)


# --- from_float ---------------------------------------------------------------------------------


def test_from_float_uses_the_shortest_repr() -> None:
    assert Decimal(float("0.1")) != Decimal("0.1")  # the trap from_float avoids
    assert Price.from_float(0.1, tick=Decimal("0.1"), rounding=Rounding.STRICT).value == Decimal("0.1")
    assert Price.from_float(64250.55, tick=TICK, rounding=Rounding.STRICT).ticks(TICK) == 6_425_055
    third = 0.1 + 0.2  # 0.30000000000000004
    with pytest.raises(InvalidValueError):
        Price.from_float(third, tick=TICK, rounding=Rounding.STRICT)
    assert Price.from_float(third, tick=TICK, rounding=Rounding.HALF_EVEN).value == Decimal("0.30")
    assert Price.from_float(third, tick=TICK, rounding=Rounding.CEILING).value == Decimal("0.31")
    odd = 57.638000000000005
    milli = Decimal("0.001")
    assert Price.from_float(odd, tick=milli, rounding=Rounding.FLOOR).value == Decimal("57.638")
    assert Price.from_float(odd, tick=milli, rounding=Rounding.CEILING).value == Decimal("57.639")
    assert Price.from_float(odd, tick=Decimal("0.05"), rounding=Rounding.HALF_UP).value == Decimal("57.65")


def test_from_float_refuses_non_floats_and_non_finite() -> None:
    for bad in (1, Decimal("1.5"), "1.5"):
        with pytest.raises(TypeError):
            Price.from_float(bad, tick=TICK, rounding=Rounding.HALF_EVEN)  # type: ignore[arg-type]
    for bad_float in (math.nan, math.inf, -math.inf):
        with pytest.raises(InvalidValueError):
            Price.from_float(bad_float, tick=TICK, rounding=Rounding.HALF_EVEN)
    with pytest.raises(InvalidValueError):
        Price.from_float(-1.0, tick=TICK, rounding=Rounding.HALF_EVEN)


@settings(max_examples=200, deadline=None)
@given(
    x=st.floats(min_value=0.01, max_value=1e9, allow_nan=False, allow_infinity=False),
    tick=st.sampled_from([Decimal("0.01"), Decimal("0.05"), Decimal("0.5"), Decimal("5")]),
    mode=st.sampled_from([Rounding.FLOOR, Rounding.CEILING, Rounding.HALF_EVEN]),
)
def test_from_float_rounds_the_repr_exactly(x: float, tick: Decimal, mode: Rounding) -> None:
    expected = ref_round(Fraction(repr(x)) / Fraction(tick), mode)
    if expected <= 0:
        with pytest.raises(InvalidValueError):
            Price.from_float(x, tick=tick, rounding=mode)
        return
    price = Price.from_float(x, tick=tick, rounding=mode)
    assert price.ticks(tick) == expected
    assert type(price.value) is Decimal


# --- quantity -----------------------------------------------------------------------------------


def test_quantity_rounding_and_lots() -> None:
    assert Quantity.of("0.123456", lot=LOT, rounding=Rounding.DOWN).value == Decimal("0.12345")
    assert Quantity.of("0.123456", lot=LOT, rounding=Rounding.UP).value == Decimal("0.12346")
    assert Quantity.of("0.123455", lot=LOT, rounding=Rounding.HALF_EVEN).value == Decimal("0.12346")
    assert Quantity.of("0.123445", lot=LOT, rounding=Rounding.HALF_EVEN).value == Decimal("0.12344")
    with pytest.raises(InvalidValueError):
        Quantity.of("0.123456", lot=LOT)
    with pytest.raises(InvalidValueError, match="negative"):
        Quantity.of("-0.1", lot=LOT)
    zero = Quantity.of("0", lot=LOT)
    assert zero.lots(LOT) == 0
    assert Quantity.of("0.000004", lot=LOT, rounding=Rounding.DOWN).lots(LOT) == 0
    assert Quantity.from_lots(12_345, LOT).value == Decimal("0.12345")
    assert Quantity.of("1.3", lot=Decimal("0.5"), rounding=Rounding.DOWN).value == Decimal("1.0")
    assert str(Quantity.of("0.50000", lot=LOT)) == "0.50000"


# --- money --------------------------------------------------------------------------------------


def test_money_arithmetic_is_exact() -> None:
    a, b = Money.of("0.1", USD), Money.of("0.2", USD)
    assert 0.1 + 0.2 != 0.3  # what binary floats would have done
    total = a + b
    assert total == Money.of("0.3", USD)
    assert total.units == 30
    assert str(total) == "0.30 USD"
    assert (b - a).units == 10
    assert (a - b).amount == Decimal("-0.10")
    assert (-a).units == -10
    cents = Money.of("0.01", USD)
    acc = Money.from_units(0, USD)
    for _ in range(1000):
        acc = acc + cents
    assert acc == Money.of("10", USD)
    assert a < b and a <= a and not b < a and not b <= a
    assert Money.of("1234.56789012", USDT).units == 123_456_789_012
    assert Money.from_units(-5, USDT).amount == Decimal("-0.00000005")
    with pytest.raises(InvalidValueError):
        Money.of("0.005", USD)
    assert Money.of("0.005", USD, Rounding.UP).units == 1


def test_money_refuses_currency_mismatch() -> None:
    eur = Currency("EUR", 2)
    usd8 = Currency("USD", 8)  # same code, different precision: a different currency
    one = Money.of(1, USD)
    for other in (Money.of(1, eur), Money.of(1, usd8)):
        with pytest.raises(CurrencyMismatchError):
            one + other
        with pytest.raises(CurrencyMismatchError):
            one - other
        with pytest.raises(CurrencyMismatchError):
            one < other  # noqa: B015
        with pytest.raises(CurrencyMismatchError):
            one <= other  # noqa: B015
    assert issubclass(CurrencyMismatchError, TypeError)


@pytest.mark.parametrize(("code", "precision"), [("", 2), ("US D", 2), ("USD", -1), ("USD", 19)])
def test_currency_validation(code: str, precision: int) -> None:
    with pytest.raises(InvalidValueError):
        Currency(code, precision)


def test_decimal_places() -> None:
    assert [decimal_places(Decimal(s)) for s in ("0.01", "0.0100", "5", "5E+1", "0.00001", "1E-13")] == [
        2,
        2,
        0,
        0,
        5,
        13,
    ]


# --- units round trips --------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(-(10**40), 10**40),
    precision=st.integers(0, 18),
    step=st.sampled_from(STEPS),
)
def test_units_round_trip(n: int, precision: int, step: Decimal) -> None:
    cur = Currency("XYZ", precision)
    money = Money.from_units(n, cur)
    assert money.units == n
    assert Fraction(money.amount) == Fraction(n, 10**precision)
    assert Money.of(money.amount, cur) == money
    assert units_of(WIDE.multiply(Decimal(n), step), step, Rounding.STRICT) == n
    if n > 0:
        assert Price.from_ticks(n, step).ticks(step) == n
        assert Price.of(Price.from_ticks(n, step).value, tick=step) == Price.from_ticks(n, step)
    if n >= 0:
        assert Quantity.from_lots(n, step).lots(step) == n
        assert Fraction(Quantity.from_lots(n, step).value) == n * Fraction(step)


def test_large_amounts_stay_exact() -> None:
    wei = Currency("ETH", 18)
    n = 10**30 + 1  # 31 digits: more than the default context's 28
    m = Money.from_units(n, wei)
    assert m.units == n
    assert m.amount == Decimal("1000000000000.000000000000000001")
    assert Price.from_ticks(n, TICK).ticks(TICK) == n
    assert Quantity.from_lots(n, LOT).value == Decimal("10000000000000000000000000.00001")


# --- the global decimal context ---------------------------------------------------------------


def _context_state() -> tuple[object, ...]:
    ctx = decimal.getcontext()
    return (ctx.prec, ctx.rounding, ctx.Emax, ctx.Emin, ctx.capitals, ctx.clamp, dict(ctx.traps), dict(ctx.flags))


def _exercise() -> None:
    for value, step, _ in ROUNDING_TABLE:
        for mode in MODES:
            units_of(Decimal(value), Decimal(step), mode)
            quantize_to_step(Decimal(value), Decimal(step), mode)
            Money.of(value, Currency("X", 3), mode)
    Price.of("64250.555", tick=TICK, rounding=Rounding.HALF_EVEN)
    Price.from_float(0.1 + 0.2, tick=TICK, rounding=Rounding.CEILING)
    Price.from_ticks(6_425_055, TICK).ticks(TICK)
    Quantity.of("0.123456", lot=LOT, rounding=Rounding.DOWN).lots(LOT)
    Quantity.from_lots(10**30 + 7, LOT)
    total = Money.of("0.1", USD) + Money.of("0.2", USD) - Money.of("0.05", USD)
    _ = (-total).units, str(total), total < Money.of(1, USD)
    assert Money.from_units(10**35 + 3, Currency("ETH", 18)).units == 10**35 + 3
    for bad in ("x", "NaN"):
        with pytest.raises(InvalidValueError):
            Price.of(bad, tick=TICK)
    with pytest.raises(InvalidValueError):
        Price.of("1.001", tick=TICK)


def test_global_context_is_left_alone() -> None:
    decimal.getcontext().clear_flags()
    before = _context_state()
    _exercise()
    assert _context_state() == before  # same precision, rounding, traps, and no flag raised


def test_results_do_not_depend_on_the_global_context() -> None:
    """A caller that lowered the precision (or traps rounding) must not change a single unit."""
    with decimal.localcontext() as ctx:
        ctx.prec = 4
        ctx.rounding = decimal.ROUND_UP
        ctx.traps[decimal.Inexact] = True
        ctx.traps[decimal.Rounded] = True
        _exercise()
        assert Money.from_units(123_456_789_012, USDT).amount == Decimal("1234.56789012")
        assert Money.of("1234.56789012", USDT).units == 123_456_789_012
        assert Price.from_ticks(6_425_055, TICK).value == Decimal("64250.55")
        assert Quantity.from_lots(1_234_567, LOT).value == Decimal("12.34567")
        assert units_of(Decimal("64250.555"), TICK, Rounding.HALF_EVEN) == 6_425_056
        assert decimal_places(Decimal("0.00000012345670")) == 13
        assert decimal_places(Decimal("0.1234567890123456789012345678901")) == 31
        assert ctx.prec == 4
