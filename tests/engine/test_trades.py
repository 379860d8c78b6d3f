"""Round-trip trades rebuilt from fills: flips, open trades at the end, MAE/MFE."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from .helpers import Script, fee, instrument, make_bars, run

# 0.075 % makes fees that do not split evenly between the two halves of a flip
INST = instrument(fee="0.00075")
CALM = (100.0, 101.0, 99.0, 100.0)


def nums(row: dict[str, Any], *keys: str) -> tuple[Decimal, ...]:
    """Decimal strings of a result row as Decimals (compared by value, not by their formatting)."""
    return tuple(Decimal(row[k]) for k in keys)


def test_flip_through_one_fill_splits_into_two_trades_and_splits_the_fee_exactly() -> None:
    data = make_bars(
        [
            CALM,
            (100.0, 101.0, 99.0, 100.0),  # buy 2.001 at 100.00
            (105.0, 111.0, 104.0, 110.0),
            (110.01, 111.0, 109.0, 110.0),  # sell 3.002 at 110.01: closes 2.001, opens a 1.001 short
            (108.0, 109.0, 104.0, 106.0),
            (106.0, 107.0, 104.5, 105.0),  # last close 105: the short is marked here
        ]
    )
    plan = {0: lambda s: s.buy(quantity=2.001), 2: lambda s: s.sell(quantity=3.002)}
    result, bt = run(Script(plan), data, inst=INST)
    buy_fee = fee("200.1", "0.00075")  # 0.150075
    flip_fee = fee(Decimal("3.002") * Decimal("110.01"), "0.00075")  # 330.25002 × 0.00075 = 0.247687515 → 0.24768752
    assert (buy_fee, flip_fee) == (Decimal("0.150075"), Decimal("0.24768752"))
    # the closing 2001 of 3002 lots take the fee share rounded down, the new trade the rest
    closing_units = 24_768_752 * 2001 // 3002
    assert closing_units == 16_509_751
    closing_fee, opening_fee = Decimal("0.16509751"), Decimal("0.08259001")
    assert closing_fee + opening_fee == flip_fee

    first, second = result.to_dict()["trades"]
    assert first["side"] == "long" and second["side"] == "short"
    assert nums(first, "quantity", "entry_price", "exit_price") == (Decimal("2.001"), 100, Decimal("110.01"))
    assert nums(second, "quantity", "entry_price", "exit_price") == (Decimal("1.001"), Decimal("110.01"), 105)
    assert Decimal(first["fees"]) == buy_fee + closing_fee
    assert Decimal(second["fees"]) == opening_fee
    assert Decimal(first["pnl"]) == Decimal("2.001") * Decimal("10.01") - buy_fee - closing_fee
    assert Decimal(first["pnl"]) == Decimal("19.71483749")
    assert Decimal(second["pnl"]) == Decimal("1.001") * Decimal("5.01") - opening_fee == Decimal("4.93241999")
    assert first["open"] is False and second["open"] is True
    assert first["exit_time"] == second["entry_time"] == "2023-11-15T01:00:00Z"  # bar 3
    assert second["exit_time"] == "2023-11-15T03:00:00Z"  # the last bar's time
    total_fees = sum((Decimal(t["fees"]) for t in (first, second)), Decimal(0))
    assert total_fees == buy_fee + flip_fee == Decimal(bt.account.fees_units).scaleb(-8)
    final = Decimal(result.stats["final_equity_exact"])
    assert final == Decimal(10000) + Decimal(first["pnl"]) + Decimal(second["pnl"])


def test_open_trade_is_marked_at_the_last_close() -> None:
    data = make_bars([CALM, CALM, (101.0, 103.0, 100.5, 102.0), (102.0, 104.0, 101.0, 103.37)])
    result, _ = run(Script({0: lambda s: s.buy(quantity=1.5)}), data, inst=INST)
    (trade,) = result.to_dict()["trades"]
    assert trade["open"] is True
    assert Decimal(trade["exit_price"]) == Decimal("103.37")
    entry_fee = fee("150", "0.00075")
    assert Decimal(trade["fees"]) == entry_fee  # no exit fee is invented for the mark
    assert Decimal(trade["pnl"]) == Decimal("1.5") * Decimal("3.37") - entry_fee
    assert trade["duration_s"] == 2 * 3600.0
    assert Decimal(result.stats["final_equity_exact"]) == Decimal(10000) + Decimal(trade["pnl"])


def test_trades_list_is_in_entry_order_and_skips_flat_periods() -> None:
    data = make_bars([CALM] * 8)
    plan = {
        0: lambda s: s.buy(quantity=1),
        2: lambda s: s.close(),
        4: lambda s: s.sell(quantity=2),
        5: lambda s: s.close(),
    }
    result, _ = run(Script(plan), data, inst=INST)
    rows = result.to_dict()["trades"]
    assert [(t["side"], Decimal(t["quantity"]), t["open"]) for t in rows] == [("long", 1, False), ("short", 2, False)]
    assert [t["entry_time"][11:16] for t in rows] == ["23:00", "03:00"]


# entry at the open of bar 1 (100); the position is closed at the open of bar 4 (101)
EXCURSION_BARS = [
    CALM,
    (100.0, 103.0, 96.0, 101.0),  # the entry bar's own range counts: low 96
    (101.0, 108.0, 100.0, 106.0),  # high 108
    (106.0, 107.0, 99.0, 101.0),
    (101.0, 102.0, 100.5, 101.5),
    (101.5, 120.0, 80.0, 101.0),  # after the exit: must not count
]


@pytest.mark.parametrize(("side", "mae", "mfe"), [("buy", -4.0, 8.0), ("sell", -8.0, 4.0)])
def test_mae_and_mfe_of_a_hand_made_trade(side: str, mae: float, mfe: float) -> None:
    open_trade = (lambda s: s.buy(quantity=1)) if side == "buy" else (lambda s: s.sell(quantity=1))
    result, _ = run(Script({0: open_trade, 3: lambda s: s.close()}), make_bars(EXCURSION_BARS), inst=INST)
    (trade,) = result.to_dict()["trades"]
    assert trade["open"] is False and Decimal(trade["exit_price"]) == 101
    assert trade["mae_pct"] == pytest.approx(mae, rel=1e-12)
    assert trade["mfe_pct"] == pytest.approx(mfe, rel=1e-12)


def test_mae_and_mfe_of_several_trades_use_each_trades_own_bars() -> None:
    rows = [
        CALM,
        (100.0, 102.0, 99.0, 100.0),  # trade A (long) from here ...
        (100.0, 101.0, 98.0, 100.0),  # ... to the open of this bar
        (100.0, 100.0, 100.0, 100.0),
        (100.0, 110.0, 95.0, 100.0),  # trade B (long) entry bar
        (100.0, 100.0, 100.0, 100.0),  # trade B still open at the end
    ]
    plan = {0: lambda s: s.buy(quantity=1), 1: lambda s: s.close(), 3: lambda s: s.buy(quantity=1)}
    result, _ = run(Script(plan), make_bars(rows), inst=INST)
    a, b = result.to_dict()["trades"]
    assert (a["mae_pct"], a["mfe_pct"]) == (pytest.approx(-2.0), pytest.approx(2.0))
    assert (b["mae_pct"], b["mfe_pct"]) == (pytest.approx(-5.0), pytest.approx(10.0))
