"""Netting position: open, add, reduce, close and flip, with average price and realised PnL worked by
hand and checked against exact Fractions."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

from atb.domain import (
    ClientOrderId,
    Instrument,
    Liquidity,
    Money,
    OrderFilled,
    OrderSide,
    Position,
    PositionSide,
    TradeId,
)

BTC = Instrument.spot("BTC/USDT", tick="0.01", lot="0.00001", quote_precision=8)  # factor 10
UNIT = Instrument.spot("X/USD", tick="1", lot="1", quote_precision=0, base_precision=0)  # factor 1
E8 = 10**8


def px(ticks: int) -> Fraction:
    return ticks * Fraction(BTC.tick)


def qty(lots: int) -> Fraction:
    return lots * Fraction(BTC.lot)


def test_long_open_add_reduce_close_against_hand_numbers() -> None:
    pos = Position(BTC)
    assert (pos.side, pos.is_flat, pos.avg_entry_price) == (PositionSide.FLAT, True, None)

    # buy 0.5 BTC at 64250.55
    assert pos.apply_raw(50_000, 6_425_055, 3_212_527_500, ts=1) == 0
    assert (pos.lots, pos.cost_units, pos.side, pos.opened_ts) == (50_000, 3_212_527_500_000, PositionSide.LONG, 1)
    assert pos.avg_entry_price == Decimal("64250.55")
    assert pos.quantity.value == Decimal("0.5")

    # add 0.25 BTC at 64000.00
    assert pos.apply_raw(25_000, 6_400_000, 1_600_000_000, ts=2) == 0
    assert (pos.lots, pos.cost_units, pos.opened_ts) == (75_000, 4_812_527_500_000, 1)
    avg = Fraction(pos.avg_entry_price)  # type: ignore[arg-type]
    assert abs(avg - Fraction("48125.275") / Fraction("0.75")) < Fraction(1, 10**50)  # 64167.0333...

    # sell 0.3 BTC at 65000: realised = 0.3 × (65000 − 64167.0333...) = 249.89 USDT
    realised = pos.apply_raw(-30_000, 6_500_000, 0, ts=3)
    exact = qty(30_000) * (px(6_500_000) - Fraction("48125.275") / Fraction("0.75"))
    assert exact == Fraction("249.89")
    assert realised == 24_989_000_000 == exact * E8
    assert (pos.lots, pos.cost_units, pos.side) == (45_000, 2_887_516_500_000, PositionSide.LONG)

    # sell the remaining 0.45 at 63000: realised = 0.45 × (63000 − 64167.0333...) = −525.165
    realised = pos.apply_raw(-45_000, 6_300_000, 0, ts=4)
    assert realised == -52_516_500_000 == qty(45_000) * (px(6_300_000) - Fraction("48125.275") / Fraction("0.75")) * E8
    assert (pos.lots, pos.cost_units, pos.side, pos.avg_entry_price) == (0, 0, PositionSide.FLAT, None)
    assert pos.realised_units == 24_989_000_000 - 52_516_500_000
    assert pos.realised == Money.from_units(-27_527_500_000, BTC.quote)
    assert pos.realised.amount == Decimal("-275.275")
    assert pos.fees_units == 3_212_527_500 + 1_600_000_000
    assert pos.fees.amount == Decimal("48.125275")
    assert pos.ts_last == 4


def test_short_open_add_reduce_close() -> None:
    pos = Position(UNIT)
    pos.apply_raw(-2, 100, 1, ts=10)
    assert (pos.lots, pos.cost_units, pos.side, pos.avg_entry_price) == (-2, -200, PositionSide.SHORT, Decimal(100))
    assert pos.quantity.value == Decimal(2)
    pos.apply_raw(-1, 103, 1, ts=11)  # add: avg (200 + 103) / 3 = 101
    assert (pos.lots, pos.cost_units, pos.avg_entry_price) == (-3, -303, Decimal(101))
    assert pos.apply_raw(1, 90, 1, ts=12) == 11  # short gains as price falls: 101 − 90
    assert (pos.lots, pos.cost_units) == (-2, -202)
    assert pos.unrealised_units(95) == 12  # 2 × (101 − 95)
    assert pos.value_units(95) == -190
    assert pos.apply_raw(2, 110, 1, ts=13) == -18  # 2 × (101 − 110)
    assert (pos.lots, pos.cost_units, pos.realised_units, pos.fees_units) == (0, 0, -7, 4)


def test_truncated_cost_stays_in_the_position_long() -> None:
    pos = Position(UNIT)
    pos.apply_raw(1, 10, 0, ts=1)
    pos.apply_raw(2, 11, 0, ts=2)  # 3 lots cost 32: avg 10.666...
    assert pos.apply_raw(-1, 12, 0, ts=3) == 2  # removes floor(32/3) = 10; exact would be 1.333...
    assert pos.cost_units == 22  # the 0.666... truncated stays in cost
    assert pos.unrealised_units(12) == 2
    assert pos.apply_raw(-2, 12, 0, ts=4) == 2
    # once flat, realised is exactly what the Fraction average-cost reference says: 36 − 32
    assert (pos.lots, pos.cost_units, pos.realised_units) == (0, 0, 4)
    assert Fraction(12 * 3) - Fraction(32) == 4


def test_truncated_cost_stays_in_the_position_short() -> None:
    pos = Position(UNIT)
    pos.apply_raw(-1, 10, 0, ts=1)
    pos.apply_raw(-2, 11, 0, ts=2)  # cost −32
    assert pos.apply_raw(1, 9, 0, ts=3) == 1  # removes −10 (toward zero); exact 1.666...
    assert pos.cost_units == -22
    assert pos.apply_raw(2, 9, 0, ts=4) == 4
    assert pos.realised_units == 5 == 32 - 27


def test_flip_through_zero() -> None:
    pos = Position(UNIT)
    pos.apply_raw(2, 100, 0, ts=1)
    assert pos.apply_raw(-5, 110, 3, ts=7) == 20  # closes 2 (+20), opens 3 short at 110
    assert (pos.lots, pos.cost_units, pos.side, pos.opened_ts) == (-3, -330, PositionSide.SHORT, 7)
    assert pos.avg_entry_price == Decimal(110)
    assert pos.apply_raw(4, 100, 0, ts=9) == 30  # closes 3 short (+30), opens 1 long at 100
    assert (pos.lots, pos.cost_units, pos.side, pos.opened_ts) == (1, 100, PositionSide.LONG, 9)
    assert (pos.realised_units, pos.fees_units) == (50, 3)


def test_flip_clears_the_truncation_remainder() -> None:
    pos = Position(UNIT)
    pos.apply_raw(1, 10, 0, ts=1)
    pos.apply_raw(2, 11, 0, ts=2)  # cost 32 over 3 lots
    assert pos.apply_raw(-4, 12, 0, ts=3) == 4  # the whole 32 leaves with the 3 closed lots
    assert (pos.lots, pos.cost_units) == (-1, -12)


def test_opened_ts_only_moves_on_open_or_flip() -> None:
    pos = Position(UNIT)
    pos.apply_raw(2, 10, 0, ts=5)
    pos.apply_raw(1, 10, 0, ts=6)
    pos.apply_raw(-1, 10, 0, ts=7)
    assert (pos.opened_ts, pos.ts_last) == (5, 7)
    pos.apply_raw(-2, 10, 0, ts=8)
    pos.apply_raw(1, 10, 0, ts=9)
    assert (pos.opened_ts, pos.ts_last) == (9, 9)


def test_apply_event_equals_apply_raw() -> None:
    a, b = Position(BTC), Position(BTC)
    steps = [
        (OrderSide.BUY, 12_345, 6_425_055, 7),
        (OrderSide.SELL, 20_000, 6_500_001, 3),
        (OrderSide.BUY, 3, 6_000_000, 0),
    ]
    for i, (side, lots, ticks, fee) in enumerate(steps):
        fill = OrderFilled(ClientOrderId("c"), i, i, TradeId(str(i)), BTC, side, lots, ticks, fee, Liquidity.MAKER)
        assert a.apply(fill) == b.apply_raw(fill.signed_lots, ticks, fee, i)
    assert (a.lots, a.cost_units, a.realised_units, a.fees_units) == (
        b.lots,
        b.cost_units,
        b.realised_units,
        b.fees_units,
    )
    assert a.lots == 12_345 - 20_000 + 3


@pytest.mark.parametrize(
    "fills",
    [
        [(5, 100), (3, 101), (-7, 99), (4, 98), (-5, 120)],
        [(-3, 50), (-4, 51), (2, 49), (9, 40), (-1, 45), (-3, 44)],
        [(7, 13), (-2, 17), (-2, 11), (-2, 19), (-1, 23)],
    ],
)
def test_realised_against_fraction_reference(fills: list[tuple[int, int]]) -> None:
    """Average-cost accounting in Fractions; the integer ledger differs by < 1 unit per reducing fill
    and by nothing once flat, and cost − realised always equals what was paid."""
    pos = Position(UNIT)
    lots, cost, realised = 0, Fraction(0), Fraction(0)
    reductions = 0
    paid = 0
    for signed, price in fills:
        pos.apply_raw(signed, price, 0, ts=0)
        paid += signed * price
        if lots == 0 or (lots > 0) == (signed > 0):
            lots, cost = lots + signed, cost + signed * price
        else:
            reductions += 1
            closing = min(abs(signed), abs(lots))
            avg = cost / lots
            direction = 1 if lots > 0 else -1
            realised += closing * (price - avg) * direction
            cost -= avg * closing * direction
            lots += closing if lots < 0 else -closing
            rest = abs(signed) - closing
            if rest:
                lots, cost = (rest if signed > 0 else -rest), (rest if signed > 0 else -rest) * price
        assert pos.lots == lots
        assert pos.cost_units - pos.realised_units == paid
        assert abs(pos.realised_units - realised) < max(reductions, 1)
        assert pos.realised_units - realised == pos.cost_units - cost
        if lots == 0:
            assert pos.realised_units == realised
    assert pos.is_flat
