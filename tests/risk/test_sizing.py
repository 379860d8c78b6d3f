"""Sizing helpers against hand computations; lots always round DOWN; Kelly is capped and never negative."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from atb.domain.errors import InvalidValueError
from atb.risk import fixed_fraction, kelly_fraction, volatility_target


def test_fixed_fraction_by_hand() -> None:
    # 10 000 × 0.25 = 2500; at 43 210.50 per BTC a 0.001 lot costs 43.2105 → 57.856… → 57 lots
    assert fixed_fraction(Decimal(10000), Decimal("0.25"), Decimal("43210.50"), Decimal("0.001")) == 57
    assert fixed_fraction("1000", "1", "100", "0.1") == 100  # exactly 100 lots: no rounding
    assert fixed_fraction("999.99999999", "1", "100", "0.1") == 99  # a hair under rounds down
    assert fixed_fraction("-50", "0.5", "100", "1") == 0
    assert fixed_fraction("1000", "0", "100", "1") == 0


def test_exact_where_a_60_digit_division_would_round_up() -> None:
    # (3 − 1e-70) / 1 would be 3 at 60 significant digits; exact arithmetic keeps it under 3
    equity = Decimal("2." + "9" * 70)
    assert fixed_fraction(equity, 1, 1, 1) == 2


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("1000", "0.5", "0", "1"), "price must be positive"),
        (("1000", "0.5", "100", "-1"), "lot must be positive"),
        (("1000", "-0.5", "100", "1"), "fraction must not be negative"),
    ],
)
def test_fixed_fraction_refuses_bad_inputs(args: tuple[str, ...], match: str) -> None:
    with pytest.raises(InvalidValueError, match=match):
        fixed_fraction(*args)


def test_floats_are_refused() -> None:
    with pytest.raises(TypeError, match="float"):
        fixed_fraction(1000.0, "0.5", "100", "1")  # type: ignore[arg-type]


@given(
    equity=st.decimals(min_value=0, max_value=10**9, places=2),
    fraction=st.decimals(min_value=0, max_value=3, places=4),
    price=st.decimals(min_value="0.01", max_value=10**6, places=2),
    lot=st.sampled_from([Decimal("0.001"), Decimal("0.01"), Decimal(1)]),
)
def test_fixed_fraction_is_the_most_lots_within_budget(
    equity: Decimal, fraction: Decimal, price: Decimal, lot: Decimal
) -> None:
    lots = fixed_fraction(equity, fraction, price, lot)
    budget = equity * fraction
    assert lots * lot * price <= budget
    assert (lots + 1) * lot * price > budget


def test_volatility_target_by_hand() -> None:
    # leverage = 0.15 / 0.60 = 0.25 → 100 000 × 0.25 = 25 000 at 50 000 per BTC = 0.5 BTC = 500 lots
    assert volatility_target("100000", "0.15", "0.60", "50000", "0.001", "3") == 500
    # leverage = 0.20 / 0.05 = 4, capped at 2 → 200 000 / 50 = 4000 lots
    assert volatility_target("100000", "0.20", "0.05", "50000", "0.001", "2") == 4000
    # zero realised volatility takes the cap rather than dividing by zero
    assert volatility_target("100000", "0.20", "0", "50000", "0.001", "2") == 4000
    # 10 000 × 0.3 / 0.7 = 4285.714… at 101.25 per 1-unit lot = 42.33 → 42
    assert volatility_target("10000", "0.3", "0.7", "101.25", "1", "5") == 42


def test_volatility_target_refuses_a_negative_volatility() -> None:
    with pytest.raises(InvalidValueError, match="realised volatility"):
        volatility_target("1000", "0.2", "-0.1", "100", "1", "1")


def test_kelly_by_hand() -> None:
    # f* = p − (1 − p) / b
    assert kelly_fraction("0.55", "1", cap="1") == Decimal("0.10")
    assert kelly_fraction("0.6", "2", cap="1") == Decimal("0.4")  # 0.6 − 0.4 / 2
    assert kelly_fraction("0.5", "3", cap="1") == Decimal("0." + "3" * 60)  # 0.5 − 0.5/3 = 1/3, 60 digits


def test_kelly_is_capped_and_never_negative() -> None:
    assert kelly_fraction("0.6", "2") == Decimal("0.25")  # default cap
    assert kelly_fraction("0.6", "2", cap="0.1") == Decimal("0.1")
    assert kelly_fraction("0.4", "1") == 0  # no edge: 0.4 − 0.6 = −0.2
    assert kelly_fraction("0.5", "1") == 0  # breakeven


@pytest.mark.parametrize(
    ("p", "b", "cap", "match"),
    [("1.1", "1", "0.25", "win rate"), ("0.5", "0", "0.25", "win/loss"), ("0.5", "1", "2", "cap")],
)
def test_kelly_refuses_bad_inputs(p: str, b: str, cap: str, match: str) -> None:
    with pytest.raises(InvalidValueError, match=match):
        kelly_fraction(p, b, cap)
