"""When a market order fills: next open, same close, and latency in bars."""

from __future__ import annotations

from decimal import Decimal

import pytest

from atb.engine.execution import ExecutionConfig, FillTiming

from .helpers import Script, fee, fill_rows, make_bars, run

# open, high, low, close: every bar's open and close differ, so a wrong bar or field shows.
BARS = make_bars(
    [
        (100.00, 101.00, 99.00, 100.50),
        (101.00, 102.00, 100.00, 101.50),
        (102.00, 103.00, 101.00, 102.50),
        (103.00, 104.00, 102.00, 103.50),
        (104.00, 105.00, 103.00, 104.50),
        (105.00, 106.00, 104.00, 105.50),
        (106.00, 107.00, 105.00, 106.50),
    ]
)


def buy_two_on_bar(i: int) -> Script:
    return Script({i: lambda s: s.buy(quantity=2)})


def test_market_order_fills_at_next_open() -> None:
    s = buy_two_on_bar(1)
    result, bt = run(s, BARS)
    assert fill_rows(bt) == [(2, "buy", Decimal("102.00"), Decimal("2"), fee("204.00"), "taker")]
    assert fee("204.00") == Decimal("0.204")
    (order,) = s.placed
    assert order.status.value == "filled"
    assert Decimal(result.to_dict()["orders"][0]["price"]) == Decimal("102")
    # the strategy is told of the fill before it sees bar 2 (its bar counter still reads 1)
    assert [bar for bar, _ in s.fills_seen] == [1]


def test_market_order_with_fill_close_fills_at_the_same_bars_close() -> None:
    s = buy_two_on_bar(1)
    _, bt = run(s, BARS, execution=ExecutionConfig(fill=FillTiming.CLOSE))
    assert fill_rows(bt) == [(1, "buy", Decimal("101.50"), Decimal("2"), fee("203.00"), "taker")]
    assert [bar for bar, _ in s.fills_seen] == [1]


@pytest.mark.parametrize("latency", [1, 2, 3])
def test_latency_delays_next_open_fills(latency: int) -> None:
    _, bt = run(buy_two_on_bar(1), BARS, execution=ExecutionConfig(latency_bars=latency))
    bar = 2 + latency
    price = Decimal(100 + bar)  # open of bar k is 100 + k
    assert fill_rows(bt) == [(bar, "buy", price, Decimal("2"), fee(price * 2), "taker")]


@pytest.mark.parametrize("latency", [1, 2])
def test_latency_delays_close_fills(latency: int) -> None:
    _, bt = run(buy_two_on_bar(1), BARS, execution=ExecutionConfig(fill=FillTiming.CLOSE, latency_bars=latency))
    bar = 1 + latency
    price = Decimal(100 + bar) + Decimal("0.5")  # close of bar k is 100.5 + k
    assert fill_rows(bt) == [(bar, "buy", price, Decimal("2"), fee(price * 2), "taker")]


def test_order_on_last_bar_never_fills_and_stays_open() -> None:
    s = buy_two_on_bar(6)
    result, bt = run(s, BARS)
    assert bt.fills == []
    assert s.placed[0].status.value == "accepted"
    assert Decimal(result.to_dict()["orders"][0]["filled_quantity"]) == 0


def test_position_is_visible_to_the_strategy_on_the_fill_bar() -> None:
    seen: list[Decimal] = []

    def look(s: Script) -> None:
        seen.append(s.position.size)

    run(Script({1: [lambda s: s.buy(quantity=2), look], 2: look}), BARS)
    assert seen == [Decimal(0), Decimal(2)]
