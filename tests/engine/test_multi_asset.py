"""Several instruments in one run: shared clock, per-instrument fills, and refused misaligned data."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from atb.data.loader import bars_from_arrays
from atb.domain import AccountMode
from atb.errors import UserInputError

from .helpers import T0, H, Script, fee, fill_rows, instrument, make_bars, run

A_ROWS = [(10.0, 11.0, 9.0, 10.5), (10.5, 11.0, 10.0, 10.8), (10.8, 11.5, 10.5, 11.2), (11.2, 11.4, 11.0, 11.3)]
B_ROWS = [(200.0, 201.0, 199.0, 200.5), (201.0, 202.0, 200.0, 201.5), (199.0, 200.0, 198.0, 199.5), (199.5,) * 4]


def two() -> tuple[list[object], list[object]]:
    a = make_bars(A_ROWS, symbol="A/USD")
    b = make_bars(B_ROWS, symbol="B/USD")
    return [a, b], [instrument("A/USD"), instrument("B/USD")]


def test_orders_in_two_instruments_fill_at_each_instruments_own_open() -> None:
    seen: list[tuple[float, float]] = []

    def look(s: Script) -> None:
        seen.append((s.data.close.now, s.feed("B/USD").close.now))

    plan = {
        0: [look, lambda s: s.buy(quantity=10, symbol="A/USD"), lambda s: s.buy(quantity=0.5, symbol="B/USD")],
        1: [look, lambda s: s.close("B/USD")],
        2: look,
    }
    s = Script(plan)
    data, insts = two()
    result, bt = run(s, data, inst=insts, cash="1000", mode=AccountMode.SPOT)
    assert seen == [(10.5, 200.5), (10.8, 201.5), (11.2, 199.5)]
    assert s.symbols == ["A/USD", "B/USD"]
    assert [(f.instrument_id, *row) for f, row in zip(bt.fills, fill_rows(bt), strict=True)] == [
        ("A/USD", 1, "buy", Decimal("10.5"), Decimal("10"), fee("105"), "taker"),
        ("B/USD", 1, "buy", Decimal("201"), Decimal("0.5"), fee("100.5"), "taker"),
        ("B/USD", 2, "sell", Decimal("199"), Decimal("0.5"), fee("99.5"), "taker"),
    ]
    trades = result.to_dict()["trades"]
    # same entry time: ordered by exit, the closed B trade first
    assert [(t["symbol"], t["open"]) for t in trades] == [("B/USD", False), ("A/USD", True)]
    # A is marked at its last close 11.3, B is closed: equity is exact
    cash = Decimal(1000) - Decimal(105) - fee("105") - Decimal("100.5") - fee("100.5") + Decimal("99.5") - fee("99.5")
    expected = cash + 10 * Decimal("11.3")
    assert Decimal(result.stats["final_equity_exact"]) == expected
    assert result.meta["symbols"] == ["A/USD", "B/USD"]


def test_unknown_symbol_is_a_user_error() -> None:
    data, insts = two()
    with pytest.raises(UserInputError, match="no data for 'C/USD'"):
        run(Script({0: lambda s: s.buy(quantity=1, symbol="C/USD")}), data, inst=insts)


def test_misaligned_timestamps_are_refused() -> None:
    a = make_bars(A_ROWS, symbol="A/USD")
    b = make_bars(B_ROWS, symbol="B/USD", start=T0 + H)
    with pytest.raises(UserInputError, match="do not share timestamps"):
        run(Script(), [a, b], inst=[instrument("A/USD"), instrument("B/USD")])


def test_one_shifted_timestamp_is_refused() -> None:
    ts = T0 + np.arange(4, dtype=np.int64) * H
    shifted = ts.copy()
    shifted[2] += H // 2
    cols = np.array(B_ROWS).T
    a = make_bars(A_ROWS, symbol="A/USD")
    b = bars_from_arrays(shifted, *cols, symbol="B/USD", timeframe_ns=H)
    with pytest.raises(UserInputError, match="do not share timestamps"):
        run(Script(), [a, b], inst=[instrument("A/USD"), instrument("B/USD")])


def test_different_lengths_are_refused() -> None:
    a = make_bars(A_ROWS, symbol="A/USD")
    b = make_bars(B_ROWS[:3], symbol="B/USD")
    with pytest.raises(UserInputError, match="do not share timestamps"):
        run(Script(), [a, b], inst=[instrument("A/USD"), instrument("B/USD")])


def test_different_quote_currencies_are_refused() -> None:
    a = make_bars(A_ROWS, symbol="A/USD")
    b = make_bars(B_ROWS, symbol="B/EUR")
    with pytest.raises(UserInputError, match="share a quote currency"):
        run(Script(), [a, b], inst=[instrument("A/USD"), instrument("B/EUR")])


def test_same_symbol_twice_is_refused() -> None:
    a = make_bars(A_ROWS, symbol="A/USD")
    with pytest.raises(UserInputError, match="appears twice"):
        run(Script(), [a, a], inst=[instrument("A/USD")])
