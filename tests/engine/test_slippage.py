"""Slippage: fixed bps against the trader with adverse tick rounding, and the square-root impact model."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest

from atb.engine.execution import ExecutionConfig, FixedBps, SquareRootImpact
from atb.errors import UserInputError

from .helpers import Script, fee, fill_rows, instrument, make_bars, run

INST = instrument(maker="0.0002", taker="0.001")
MAKER, TAKER = "0.0002", "0.001"
CALM = (100.01, 101.0, 99.0, 100.01)
TEN_BPS = ExecutionConfig(slippage=FixedBps(10))


def test_fixed_bps_moves_market_buys_up_and_sells_down_to_the_adverse_tick() -> None:
    # 100.01 × 1.001 = 100.11001 → up to 100.12;  100.01 × 0.999 = 99.90999 → down to 99.90
    plan = {0: lambda s: s.buy(quantity=2), 1: lambda s: s.sell(quantity=2)}
    _, bt = run(Script(plan), make_bars([CALM] * 4), inst=INST, execution=TEN_BPS)
    assert fill_rows(bt) == [
        (1, "buy", Decimal("100.12"), Decimal("2"), fee("200.24", TAKER), "taker"),
        (2, "sell", Decimal("99.90"), Decimal("2"), fee("199.80", TAKER), "taker"),
    ]


def test_exact_slipped_price_on_the_grid_is_not_rounded_further() -> None:
    # 100.00 × 1.001 = 100.10 exactly
    _, bt = run(Script({0: lambda s: s.buy(quantity=1)}), make_bars([(100.0,) * 4] * 3), inst=INST, execution=TEN_BPS)
    assert fill_rows(bt)[0][2] == Decimal("100.10")


def test_stop_fill_is_slipped_from_the_stop_price() -> None:
    data = make_bars([CALM, CALM, (100.5, 103.0, 100.0, 102.0), (102.0,) * 4])
    _, bt = run(Script({0: lambda s: s.buy(quantity=1, stop=102)}), data, inst=INST, execution=TEN_BPS)
    # 102 × 1.001 = 102.102 → 102.11
    assert fill_rows(bt) == [(2, "buy", Decimal("102.11"), Decimal("1"), fee("102.11", TAKER), "taker")]


def test_resting_limit_fill_is_not_slipped() -> None:
    data = make_bars([CALM, (100.0, 100.5, 97.0, 99.0), (99.0,) * 4])
    _, bt = run(Script({0: lambda s: s.buy(quantity=1, limit=98.37)}), data, inst=INST, execution=TEN_BPS)
    assert fill_rows(bt) == [(1, "buy", Decimal("98.37"), Decimal("1"), fee("98.37", MAKER), "maker")]


def test_marketable_limit_is_slipped_but_never_beyond_its_limit() -> None:
    data = make_bars([CALM, (100.0, 101.0, 99.0, 100.0), (100.0,) * 4])
    plan = {0: [lambda s: s.buy(quantity=1, limit=100.50), lambda s: s.buy(quantity=1, limit=100.05)]}
    _, bt = run(Script(plan), data, inst=INST, execution=TEN_BPS)
    assert fill_rows(bt) == [
        (1, "buy", Decimal("100.10"), Decimal("1"), fee("100.10", TAKER), "taker"),  # slipped, inside the limit
        (1, "buy", Decimal("100.05"), Decimal("1"), fee("100.05", TAKER), "taker"),  # slippage capped at the limit
    ]


def test_fraction_order_is_sized_at_the_slipped_price() -> None:
    s = Script({0: lambda s: s.buy(fraction=1)})
    _, bt = run(s, make_bars([(100.0,) * 4] * 3), inst=INST, cash="1000", execution=TEN_BPS)
    # price 100.10; 9.980 × 100.10 = 998.998 + fee 0.998998 = 999.996998 ≤ 1000; 9.981 would cost 1000.0971...
    assert fill_rows(bt) == [(1, "buy", Decimal("100.10"), Decimal("9.980"), fee("998.998", TAKER), "taker")]
    nxt = Decimal("9.981") * Decimal("100.10")
    assert nxt + fee(nxt) > 1000


def test_fixed_bps_rejects_nonsense() -> None:
    with pytest.raises(UserInputError):
        FixedBps(-1)
    with pytest.raises(UserInputError):
        FixedBps(10_000)


def test_participation_cap_splits_a_market_order_over_bars() -> None:
    opens = [100.0, 101.0, 102.0, 103.0, 104.0, 105.0, 106.0]
    data = make_bars([(o, o + 0.5, o - 0.5, o) for o in opens], volume=10.0)  # 10 % of 10 = 1 unit per bar
    seen: list[tuple[str, int, bool]] = []

    def watch(s: Script) -> None:
        order = s.placed[0]
        seen.append((order.status.value, order.filled_lots, order in s.open_orders()))

    plan = {0: lambda s: s.buy(quantity=3.5), 1: watch, 3: watch, 4: watch}
    s = Script(plan)
    _, bt = run(s, data, inst=INST, execution=ExecutionConfig(slippage=SquareRootImpact(coefficient=0.0)))
    assert fill_rows(bt) == [
        (1, "buy", Decimal("101"), Decimal("1"), fee("101", TAKER), "taker"),
        (2, "buy", Decimal("102"), Decimal("1"), fee("102", TAKER), "taker"),
        (3, "buy", Decimal("103"), Decimal("1"), fee("103", TAKER), "taker"),
        (4, "buy", Decimal("104"), Decimal("0.5"), fee("52", TAKER), "taker"),
    ]
    assert seen == [("partially_filled", 1000, True), ("partially_filled", 3000, True), ("filled", 3500, False)]
    assert sum(f.lots for f in bt.fills) == s.placed[0].lots == 3500


def test_zero_volume_bar_fills_nothing_and_the_order_waits() -> None:
    data = make_bars([CALM] * 4, volume=[10.0, 0.0, 10.0, 10.0])
    _, bt = run(
        Script({0: lambda s: s.buy(quantity=1)}),
        data,
        inst=INST,
        execution=ExecutionConfig(slippage=SquareRootImpact(coefficient=0.0)),
    )
    assert [row[0] for row in fill_rows(bt)] == [2]


def test_square_root_impact_price_matches_a_hand_computation() -> None:
    closes = [100.0, 101.0, 99.5, 102.0, 100.5, 101.5, 101.0]
    rows = [(c, c + 1.0, c - 1.0, c) for c in closes]
    rows[5] = (101.37, 102.0, 100.0, 101.5)
    data = make_bars(rows, volume=100.0)
    model = SquareRootImpact(coefficient=1.0, participation=1.0, window=3)
    _, bt = run(Script({4: lambda s: s.buy(quantity=4)}), data, inst=INST, execution=ExecutionConfig(slippage=model))
    # σ used on bar 5: sample std of the 3 log returns known at the close of bar 4 (bars 2, 3, 4)
    logret = np.diff(np.log(closes))
    sigma = float(np.std(logret[1:4], ddof=1))
    fraction = 1.0 * sigma * math.sqrt(4 / 100.0)
    exact = Fraction(10137) * (1 + Fraction(fraction))
    expected = Decimal(math.ceil(exact)) / 100
    assert expected > Decimal("101.37")
    (row,) = fill_rows(bt)
    assert row == (5, "buy", expected, Decimal("4"), fee(expected * 4, TAKER), "taker")


def test_square_root_impact_rejects_several_instruments_as_a_user_error() -> None:
    a = make_bars([CALM] * 3, symbol="A/USD")
    b = make_bars([CALM] * 3, symbol="B/USD")
    with pytest.raises(UserInputError, match="one instrument"):
        run(
            Script(),
            [a, b],
            inst=[instrument("A/USD"), instrument("B/USD")],
            execution=ExecutionConfig(slippage=SquareRootImpact()),
        )


def test_marketable_sell_limit_slippage_is_capped_at_its_limit() -> None:
    data = make_bars([(100.0,) * 4] * 4)
    plan = {
        0: lambda s: s.buy(quantity=2),
        1: [lambda s: s.sell(quantity=1, limit=99.95), lambda s: s.sell(quantity=1)],
    }
    _, bt = run(Script(plan), data, inst=INST, execution=TEN_BPS)
    assert [row[2] for row in fill_rows(bt)] == [Decimal("100.10"), Decimal("99.95"), Decimal("99.90")]
