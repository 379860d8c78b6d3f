"""Order sizes: fraction of equity and notional (fee included), quantity rounding, minimums, spot vs margin."""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal

import pytest

from atb.domain import AccountMode
from atb.engine.backtest import StrategyError

from .helpers import Script, fee, fill_rows, instrument, make_bars, run

INST = instrument(fee="0.001")
LOT = Decimal("0.001")
CALM = (100.0, 101.0, 99.0, 100.0)
ARRIVAL = (103.27, 104.0, 102.0, 103.5)


def affordable(budget: Decimal, price: Decimal) -> Decimal:
    """Most whole lots whose notional plus the rounded-up fee fit in `budget` (hand rule)."""
    q = (budget / (price * Decimal("1.001")) / LOT).to_integral_value(ROUND_FLOOR) * LOT
    while q * price + fee(q * price) > budget:
        q -= LOT
    return q


def test_fraction_one_buys_the_most_whole_lots_affordable_with_the_fee() -> None:
    s = Script({0: lambda s: s.buy(fraction=1)})
    _, bt = run(s, make_bars([CALM, ARRIVAL, ARRIVAL]), inst=INST, cash="1000", mode=AccountMode.SPOT)
    price = Decimal("103.27")
    q = affordable(Decimal(1000), price)
    assert q == Decimal("9.673")  # 9.673 × 103.27 = 998.93071, fee 0.99893071 → 999.92964071
    assert fill_rows(bt) == [(1, "buy", price, q, fee(q * price), "taker")]
    nxt = q + LOT  # one more lot would overdraw: 999.03398 + 0.99903398 = 1000.03301398
    assert nxt * price + fee(nxt * price) > Decimal(1000)
    assert bt.account.cash_units == (Decimal(1000) - q * price - fee(q * price)).scaleb(8)
    assert bt.account.cash_units >= 0


def test_fraction_is_of_equity_at_the_fill_price() -> None:
    s = Script({0: lambda s: s.buy(fraction=0.5)})
    _, bt = run(s, make_bars([CALM, ARRIVAL, ARRIVAL]), inst=INST, cash="1000")
    q = affordable(Decimal(500), Decimal("103.27"))
    assert fill_rows(bt) == [(1, "buy", Decimal("103.27"), q, fee(q * Decimal("103.27")), "taker")]
    assert q == Decimal("4.836")


def test_notional_budget_includes_the_fee() -> None:
    s = Script({0: lambda s: s.buy(notional=250)})
    _, bt = run(s, make_bars([CALM, ARRIVAL, ARRIVAL]), inst=INST, cash="1000")
    q = affordable(Decimal(250), Decimal("103.27"))
    assert q == Decimal("2.418")
    (row,) = fill_rows(bt)
    assert row == (1, "buy", Decimal("103.27"), q, fee(q * Decimal("103.27")), "taker")
    assert row[2] * row[3] + row[4] <= 250


def test_quantity_rounds_down_to_the_lot() -> None:
    s = Script({0: lambda s: s.buy(quantity=1.23456)})
    _, bt = run(s, make_bars([CALM, CALM, CALM]), inst=INST)
    assert fill_rows(bt)[0][3] == Decimal("1.234")
    assert s.placed[0].lots == 1234


def test_quantity_below_one_lot_is_refused_in_the_strategy() -> None:
    s = Script({0: lambda s: s.buy(quantity=0.0009)})
    with pytest.raises(StrategyError, match=r"quantity 0.0009 is below one lot \(0.001\) of X/USD"):
        run(s, make_bars([CALM, CALM, CALM]), inst=INST)


def test_quantity_below_the_minimum_is_rejected_with_a_reason() -> None:
    inst = instrument(min_quantity="0.01")
    s = Script({0: lambda s: s.buy(quantity=0.009)})
    result, bt = run(s, make_bars([CALM, CALM, CALM]), inst=inst)
    assert bt.fills == []
    (order,) = s.placed
    assert order.status.value == "rejected"
    assert order.reason == "quantity below minimum 0.01 X"
    assert s.closed_seen == [order]
    assert result.to_dict()["orders"][0]["reason"] == "quantity below minimum 0.01 X"


def test_limit_below_the_minimum_notional_is_rejected_at_submission() -> None:
    inst = instrument(min_notional="5")
    s = Script({0: [lambda s: s.buy(quantity=0.049, limit=100), lambda s: s.buy(quantity=0.05, limit=100)]})
    run(s, make_bars([CALM, CALM, CALM]), inst=inst)
    small, ok = s.placed
    assert small.status.value == "rejected" and small.reason == "notional below minimum 5 USD"
    assert ok.status.value == "filled"


def test_market_order_below_the_minimum_notional_is_rejected() -> None:
    inst = instrument(min_notional="5")
    s = Script({0: [lambda s: s.buy(quantity=0.049), lambda s: s.buy(quantity=0.05)]})
    _, bt = run(s, make_bars([CALM, CALM, CALM]), inst=inst)
    small, ok = s.placed
    assert small.status.value == "rejected" and small.reason == "notional below minimum 5 USD"
    assert ok.status.value == "filled"
    assert [r[3] for r in fill_rows(bt)] == [Decimal("0.05")]


def test_fraction_too_small_for_the_minimum_is_rejected() -> None:
    inst = instrument(min_notional="5")
    s = Script({0: lambda s: s.buy(fraction=0.001)})  # 1 USD of 1000
    _, bt = run(s, make_bars([CALM, CALM, CALM]), inst=inst, cash="1000")
    assert bt.fills == []
    assert s.placed[0].status.value == "rejected"
    assert s.placed[0].reason == "equity too small for the minimum order size"


def test_spot_account_refuses_to_sell_what_it_does_not_hold() -> None:
    s = Script({0: lambda s: s.sell(quantity=1)})
    result, bt = run(s, make_bars([CALM, CALM, CALM]), inst=INST, mode=AccountMode.SPOT)
    assert bt.fills == []
    (order,) = s.placed
    assert order.status.value == "rejected"
    assert "spot account cannot sell" in order.reason and "holds 0" in order.reason
    assert Decimal(result.stats["final_equity_exact"]) == 10000


def test_spot_account_rejects_a_buy_it_cannot_pay_for() -> None:
    s = Script({0: lambda s: s.buy(quantity=10)})  # 1000 + fee 1 > 1000
    _, bt = run(s, make_bars([CALM, CALM, CALM]), inst=INST, cash="1000", mode=AccountMode.SPOT)
    assert bt.fills == []
    assert s.placed[0].status.value == "rejected"
    assert s.placed[0].reason.startswith("insufficient USD")


def test_margin_account_allows_a_short() -> None:
    data = make_bars([CALM, CALM, (98.0, 99.0, 97.0, 98.0), (97.0, 97.0, 97.0, 97.0)])
    s = Script({0: lambda s: s.sell(quantity=1)})
    result, bt = run(s, data, inst=INST, mode=AccountMode.MARGIN)
    assert fill_rows(bt) == [(1, "sell", Decimal("100"), Decimal("1"), fee("100"), "taker")]
    assert bt.account.positions[INST.id].lots == -1000
    (trade,) = result.to_dict()["trades"]
    assert trade["side"] == "short" and trade["open"] is True
    assert Decimal(trade["pnl"]) == Decimal("3") - fee("100")  # marked at the last close, 97


def test_margin_account_refuses_exposure_beyond_leverage() -> None:
    s = Script({0: lambda s: s.sell(quantity=10)})  # 1000 notional on 1000 equity minus the 1 fee
    _, bt = run(s, make_bars([CALM, CALM, CALM]), inst=INST, cash="1000")
    assert bt.fills == []
    assert s.placed[0].status.value == "rejected"
    assert s.placed[0].reason.startswith("margin: gross exposure 1000")
