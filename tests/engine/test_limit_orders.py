"""Limit orders: maker at the limit when resting, taker at the open when marketable on arrival."""

from __future__ import annotations

from decimal import Decimal

from .helpers import Script, fee, fill_rows, instrument, make_bars, run

# maker and taker fees differ so the liquidity flag is visible in the fee too
INST = instrument(maker="0.0002", taker="0.001")
MAKER, TAKER = "0.0002", "0.001"


def test_resting_buy_limit_touched_in_bar_fills_at_limit_as_maker() -> None:
    data = make_bars(
        [
            (100.0, 101.0, 99.0, 100.0),
            (100.0, 101.0, 98.5, 100.0),  # arrival: low 98.50 stays above 98.40
            (99.5, 100.0, 98.4, 99.0),  # low exactly at the limit: touched
            (99.0, 99.5, 98.0, 99.0),
        ]
    )
    s = Script({0: lambda s: s.buy(quantity=3, limit=98.40)})
    _, bt = run(s, data, inst=INST)
    assert fill_rows(bt) == [(2, "buy", Decimal("98.40"), Decimal("3"), fee("295.20", MAKER), "maker")]
    assert fee("295.20", MAKER) == Decimal("0.05904")


def test_buy_limit_touched_on_its_first_bar_fills_at_limit_as_maker() -> None:
    data = make_bars([(100.0, 101.0, 99.0, 100.0), (100.0, 100.5, 97.0, 99.0), (99.0, 99.0, 99.0, 99.0)])
    _, bt = run(Script({0: lambda s: s.buy(quantity=1, limit=98)}), data, inst=INST)
    assert fill_rows(bt) == [(1, "buy", Decimal("98"), Decimal("1"), fee("98", MAKER), "maker")]


def test_buy_limit_marketable_at_arrival_open_fills_at_open_as_taker() -> None:
    data = make_bars([(100.0, 101.0, 99.0, 100.0), (100.20, 101.0, 99.0, 100.0), (100.0, 100.0, 100.0, 100.0)])
    _, bt = run(Script({0: lambda s: s.buy(quantity=2, limit=100.50)}), data, inst=INST)
    assert fill_rows(bt) == [(1, "buy", Decimal("100.20"), Decimal("2"), fee("200.40", TAKER), "taker")]


def test_resting_buy_limit_gapped_through_fills_at_its_limit_as_maker() -> None:
    data = make_bars(
        [
            (100.0, 101.0, 99.0, 100.0),
            (100.0, 101.0, 99.0, 100.0),  # arrival, untouched
            (96.0, 97.0, 95.0, 96.5),  # gaps below 98: the resting bid is hit at 98
            (96.0, 96.0, 96.0, 96.0),
        ]
    )
    _, bt = run(Script({0: lambda s: s.buy(quantity=1, limit=98)}), data, inst=INST)
    assert fill_rows(bt) == [(2, "buy", Decimal("98"), Decimal("1"), fee("98", MAKER), "maker")]


def test_resting_sell_limit_touched_fills_at_limit_as_maker() -> None:
    data = make_bars(
        [
            (100.0, 101.0, 99.0, 100.0),
            (100.0, 101.0, 99.0, 100.0),  # market buy fills here at 100
            (100.0, 101.9, 99.0, 100.0),  # 101.90 < 102: untouched
            (101.0, 102.3, 100.5, 101.0),  # touched
            (101.0, 101.0, 101.0, 101.0),
        ]
    )
    plan = {0: lambda s: s.buy(quantity=1), 1: lambda s: s.sell(quantity=1, limit=102)}
    s = Script(plan)
    result, bt = run(s, data, inst=INST)
    assert fill_rows(bt) == [
        (1, "buy", Decimal("100"), Decimal("1"), fee("100", TAKER), "taker"),
        (3, "sell", Decimal("102"), Decimal("1"), fee("102", MAKER), "maker"),
    ]
    (trade,) = result.to_dict()["trades"]
    assert Decimal(trade["pnl"]) == Decimal("2") - fee("100", TAKER) - fee("102", MAKER)


def test_sell_limit_marketable_at_arrival_fills_at_open_as_taker() -> None:
    data = make_bars(
        [(100.0, 101.0, 99.0, 100.0), (100.0, 101.0, 99.0, 100.0), (103.0, 104.0, 102.0, 103.0), (103.0,) * 4]
    )
    plan = {0: lambda s: s.buy(quantity=1), 1: lambda s: s.sell(quantity=1, limit=101)}
    _, bt = run(Script(plan), data, inst=INST)
    assert fill_rows(bt)[1] == (2, "sell", Decimal("103"), Decimal("1"), fee("103", TAKER), "taker")


def test_resting_sell_limit_gapped_through_fills_at_its_limit() -> None:
    data = make_bars(
        [(100.0, 101.0, 99.0, 100.0), (100.0, 101.0, 99.0, 100.0), (100.0, 101.0, 99.0, 100.0), (105.0,) * 4]
    )
    plan = {0: lambda s: s.buy(quantity=1), 1: lambda s: s.sell(quantity=1, limit=102)}
    _, bt = run(Script(plan), data, inst=INST)
    assert fill_rows(bt)[1] == (3, "sell", Decimal("102"), Decimal("1"), fee("102", MAKER), "maker")


def test_untouched_limit_stays_open_and_can_be_cancelled() -> None:
    data = make_bars([(100.0, 101.0, 99.0, 100.0)] * 6)
    plan = {
        0: [lambda s: s.buy(quantity=1, limit=98.99), lambda s: s.buy(quantity=1, limit=98.5)],
        3: lambda s: s.cancel(s.placed[1]),
    }
    s = Script(plan)
    result, bt = run(s, data, inst=INST)
    assert bt.fills == []
    kept, cancelled = s.placed
    assert kept.status.value == "accepted" and kept.is_open
    assert cancelled.status.value == "canceled" and cancelled.reason == "cancelled by strategy"
    assert s.closed_seen == [cancelled]
    assert Decimal(result.stats["final_equity_exact"]) == 10000


def test_limit_price_rounds_toward_the_better_price() -> None:
    """A float limit off the tick grid: buy limits FLOOR, sell limits CEILING (never a worse price)."""
    data = make_bars([(100.0, 101.0, 99.0, 100.0)] * 3)
    s = Script({0: [lambda s: s.buy(quantity=1, limit=98.999), lambda s: s.sell(quantity=1, limit=101.001)]})
    run(s, data, inst=INST)
    assert [o.limit_ticks for o in s.placed] == [9899, 10101]
