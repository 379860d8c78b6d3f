"""Instrument rules and fee arithmetic: the integer scales the kernel trusts, checked against Fractions."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atb.domain import Currency, FeeRate, Instrument, InstrumentId, Rounding
from atb.domain.errors import InvalidValueError


def btc(**kw: object) -> Instrument:
    args: dict[str, object] = {"tick": "0.01", "lot": "0.00001", "quote_precision": 8}
    args.update(kw)
    return Instrument.spot("BTC/USDT", **args)  # type: ignore[arg-type]


def test_btc_usdt_scales() -> None:
    inst = btc(min_quantity="0.00001", min_notional="5")
    assert inst.quote == Currency("USDT", 8)
    assert inst.base == Currency("BTC", 8)
    assert inst.notional_factor == 10  # 0.01 × 0.00001 = 1e-7 USDT = 10 units of 1e-8
    assert inst.min_lots == 1
    assert inst.min_notional_units == 500_000_000
    # 0.5 BTC at 64250.55 = 32125.275 USDT
    assert inst.notional_units(6_425_055, 50_000) == 3_212_527_500_000
    assert Fraction("64250.55") * Fraction("0.5") * 10**8 == 3_212_527_500_000
    assert inst.maker_fee == FeeRate.of("0.001") and inst.taker_fee == FeeRate.of("0.001")
    assert str(inst) == "BTC/USDT" and inst.id == InstrumentId("BTC/USDT")


def test_default_precisions() -> None:
    inst = Instrument.spot("BTC/USDT", tick="0.01", lot="0.00001")
    assert (inst.quote.precision, inst.base.precision, inst.notional_factor) == (8, 8, 10)
    fine = Instrument.spot("SHIB/USDT", tick="0.00001", lot="0.00000001")
    assert fine.quote.precision == 13  # tick × lot = 1e-13 needs 13 decimals, more than the default 8
    assert fine.notional_factor == 1
    assert Instrument.spot("A/B", tick="0.010", lot="1.000").tick == Decimal("0.01")
    assert str(Instrument.spot("A/B", tick="0.010", lot="1").tick) == "0.01"


@pytest.mark.parametrize(
    ("min_quantity", "min_lots"),
    [("0", 1), ("0.00001", 1), ("0.000015", 2), ("0.00002", 2), ("0.001", 100), ("0.0010000001", 101)],
)
def test_min_lots_round_up(min_quantity: str, min_lots: int) -> None:
    assert btc(min_quantity=min_quantity).min_lots == min_lots


@pytest.mark.parametrize(
    ("min_notional", "units"), [("0", 0), ("5", 500_000_000), ("5.000000001", 500_000_001), ("0.00000001", 1)]
)
def test_min_notional_units_round_up(min_notional: str, units: int) -> None:
    assert btc(min_notional=min_notional).min_notional_units == units


@pytest.mark.parametrize(
    ("tick", "lot", "qp", "factor"),
    [
        ("0.05", "0.001", 8, 5_000),  # 0.00005
        ("0.5", "0.01", 8, 500_000),  # 0.005
        ("5", "0.003", 8, 1_500_000),  # 0.015
        ("5", "1", 0, 5),
        ("0.25", "0.04", 8, 1_000_000),  # 0.01
        ("0.05", "0.001", 5, 5),  # exactly the precision tick × lot needs
        ("0.01", "0.00001", 7, 1),
    ],
)
def test_odd_ticks_notional_factor(tick: str, lot: str, qp: int, factor: int) -> None:
    inst = Instrument.spot("X/Q", tick=tick, lot=lot, quote_precision=qp)
    assert inst.notional_factor == factor
    assert Fraction(tick) * Fraction(lot) * 10**qp == factor
    assert inst.notional_units(7, 3) == 21 * factor


@settings(max_examples=200, deadline=None)
@given(
    spec=st.sampled_from([("0.01", "0.00001"), ("0.05", "0.001"), ("5", "0.003"), ("0.5", "3"), ("0.0001", "0.1")]),
    ticks=st.integers(1, 10**9),
    lots=st.integers(1, 10**9),
)
def test_notional_units_match_fraction(spec: tuple[str, str], ticks: int, lots: int) -> None:
    tick, lot = spec
    inst = Instrument.spot("X/Q", tick=tick, lot=lot, quote_precision=8)
    exact = ticks * Fraction(tick) * lots * Fraction(lot) * 10**8
    assert exact.denominator == 1
    assert inst.notional_units(ticks, lots) == exact


def test_precision_check_refuses_a_quote_that_cannot_hold_tick_times_lot() -> None:
    with pytest.raises(InvalidValueError, match="cannot hold"):
        btc(quote_precision=6)  # 1e-7 needs 7
    with pytest.raises(InvalidValueError, match="cannot hold"):
        Instrument.spot("X/Q", tick="0.05", lot="0.001", quote_precision=4)  # 0.00005 needs 5
    with pytest.raises(InvalidValueError, match="finer than lot"):
        btc(base_precision=4)
    assert btc(base_precision=5).base.precision == 5


@pytest.mark.parametrize("symbol", ["BTCUSDT", "/USDT", "BTC/", "A/B/C", ""])
def test_symbol_must_be_base_slash_quote(symbol: str) -> None:
    with pytest.raises(InvalidValueError, match="BASE/QUOTE"):
        Instrument.spot(symbol, tick="0.01", lot="1")


def test_bad_steps_and_minimums() -> None:
    for tick in ("0", "-0.01"):
        with pytest.raises(InvalidValueError, match="positive"):
            Instrument.spot("X/Q", tick=tick, lot="1")
    with pytest.raises(TypeError):
        Instrument.spot("X/Q", tick=0.01, lot="1")  # type: ignore[arg-type]
    with pytest.raises(InvalidValueError, match="negative"):
        Instrument.spot("X/Q", tick="0.01", lot="1", min_quantity="-1")
    with pytest.raises(InvalidValueError, match="negative"):
        Instrument.spot("X/Q", tick="0.01", lot="1", min_notional="-1")
    usd = Currency("USD", 2)
    with pytest.raises(InvalidValueError, match="positive Decimal"):
        Instrument(
            InstrumentId("X/USD"),
            Currency("X", 8),
            usd,
            0.01,  # type: ignore[arg-type]
            Decimal(1),
            Decimal(0),
            Decimal(0),
            FeeRate.of(0),
            FeeRate.of(0),
        )


def test_price_and_quantity_helpers_use_the_grid() -> None:
    inst = btc()
    assert inst.price("64250.551", Rounding.FLOOR).ticks(inst.tick) == 6_425_055
    assert inst.price("64250.551", Rounding.CEILING).ticks(inst.tick) == 6_425_056
    with pytest.raises(InvalidValueError):
        inst.price("64250.551")
    assert inst.quantity("0.123456", Rounding.DOWN).lots(inst.lot) == 12_345


# --- fees ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "notional", "fee"),
    [
        ("0.001", 3_212_527_500_000, 3_212_527_500),  # exact: 32.125275 USDT on 32125.275
        ("0.001", 0, 0),
        ("0.001", 1, 1),  # 0.001 of a unit still costs a unit
        ("0.001", 999, 1),
        ("0.001", 1000, 1),  # exact multiple: no rounding
        ("0.001", 1001, 2),
        ("0.001", 2000, 2),
        ("0.001", -1001, 2),  # the sign of the notional does not matter
        ("0.00075", 12_345, 10),  # 9.25875
        ("0.00075", 4000, 3),  # exact
        ("0.00075", 4001, 4),  # 3.00075
        ("-0.0001", 12_345, -1),  # rebate -1.2345: toward zero, never overstated
        ("-0.0001", 20_000, -2),  # exact rebate
        ("-0.0001", 9_999, 0),  # -0.9999
        ("-0.0001", 10_001, -1),
        ("0", 10**12, 0),
    ],
)
def test_fee_units_round_up(rate: str, notional: int, fee: int) -> None:
    assert FeeRate.of(rate).fee_units(notional) == fee


@settings(max_examples=300, deadline=None)
@given(
    rate=st.sampled_from(["0.001", "0.00075", "0.0002", "-0.0001", "-0.00025", "0.0333", "0"]),
    notional=st.integers(-(10**18), 10**18),
)
def test_fee_units_is_the_ceiling_of_the_exact_fee(rate: str, notional: int) -> None:
    exact = Fraction(rate) * abs(notional)
    fee = FeeRate.of(rate).fee_units(notional)
    assert fee == math.ceil(exact)
    assert exact <= fee < exact + 1


def test_fee_rate_ratio_and_equality() -> None:
    assert FeeRate.of("0.00075").ratio == (3, 4000)
    assert FeeRate.of("-0.0001").ratio == (-1, 10_000)
    assert FeeRate.of("0.0010") == FeeRate.of("0.001")
    assert FeeRate.of(0).ratio == (0, 1)


@pytest.mark.parametrize("rate", ["1", "-1", "1.5", "-2", "NaN", "Infinity", "abc"])
def test_fee_rate_refuses_bad_rates(rate: str) -> None:
    with pytest.raises(InvalidValueError):
        FeeRate.of(rate)


def test_fee_rate_refuses_floats_even_when_built_directly() -> None:
    with pytest.raises(TypeError):
        FeeRate.of(0.001)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        FeeRate(0.001)  # type: ignore[arg-type]
    with pytest.raises(InvalidValueError):
        FeeRate(Decimal("1"))
    with pytest.raises(InvalidValueError):
        FeeRate(Decimal("NaN"))
