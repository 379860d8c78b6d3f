"""Stop-market and stop-limit orders, and the pessimistic order of passes inside one bar."""

from __future__ import annotations

from decimal import Decimal

from .helpers import Script, fee, fill_rows, instrument, make_bars, run

INST = instrument(maker="0.0002", taker="0.001")
MAKER, TAKER = "0.0002", "0.001"
CALM = (100.0, 101.0, 99.0, 100.0)


def test_buy_stop_triggered_in_bar_fills_at_stop_price() -> None:
    data = make_bars([CALM, CALM, (100.5, 102.5, 100.0, 102.0), (102.0,) * 4])
    s = Script({0: lambda s: s.buy(quantity=2, stop=102)})
    _, bt = run(s, data, inst=INST)
    assert fill_rows(bt) == [(2, "buy", Decimal("102"), Decimal("2"), fee("204", TAKER), "taker")]
    assert s.placed[0].triggered


def test_buy_stop_gapped_over_fills_at_the_worse_open() -> None:
    data = make_bars([CALM, CALM, (103.0, 104.0, 102.5, 103.5), (103.0,) * 4])
    _, bt = run(Script({0: lambda s: s.buy(quantity=2, stop=102)}), data, inst=INST)
    assert fill_rows(bt) == [(2, "buy", Decimal("103"), Decimal("2"), fee("206", TAKER), "taker")]


def test_stop_not_reached_stays_open_and_untriggered() -> None:
    data = make_bars([CALM, (100.0, 101.99, 99.0, 101.0), (101.0, 101.99, 100.0, 101.0)])
    s = Script({0: lambda s: s.buy(quantity=1, stop=102)})
    _, bt = run(s, data, inst=INST)
    assert bt.fills == []
    (order,) = s.placed
    assert order.status.value == "accepted" and not order.triggered


def test_protective_sell_stop_fills_at_stop_and_gap_at_open() -> None:
    data = make_bars(
        [
            CALM,
            CALM,  # buys 2 at 100
            (99.5, 100.0, 97.0, 97.5),  # first stop (98) hit inside the bar
            (95.0, 96.0, 94.0, 95.0),  # second stop (96) gapped: fills at the open 95
            (95.0,) * 4,
        ]
    )
    plan = {
        0: lambda s: s.buy(quantity=2),
        1: [
            lambda s: s.sell(quantity=1, stop=98, reduce_only=True),
            lambda s: s.sell(quantity=1, stop=96.5, reduce_only=True),
        ],
    }
    _, bt = run(Script(plan), data, inst=INST)
    assert fill_rows(bt)[1:] == [
        (2, "sell", Decimal("98"), Decimal("1"), fee("98", TAKER), "taker"),
        (3, "sell", Decimal("95"), Decimal("1"), fee("95", TAKER), "taker"),
    ]


def test_stop_limit_triggered_in_bar_with_room_fills_at_stop() -> None:
    data = make_bars([CALM, CALM, (100.5, 103.0, 100.0, 102.8), (103.0,) * 4])
    s = Script({0: lambda s: s.buy(quantity=1, stop=102, limit=102.5)})
    _, bt = run(s, data, inst=INST)
    assert fill_rows(bt) == [(2, "buy", Decimal("102"), Decimal("1"), fee("102", TAKER), "taker")]


def test_stop_limit_whose_limit_forbids_the_stop_price_rests_from_next_bar() -> None:
    data = make_bars(
        [
            CALM,
            CALM,
            # triggers at 102; the bar also trades at 101.50 but the limit only rests from the next bar
            (100.5, 103.0, 100.0, 102.5),
            (102.5, 103.0, 101.6, 102.0),  # limit 101.50 not touched
            (102.0, 102.5, 101.4, 101.8),  # touched: fills at the limit as a maker
            (101.8,) * 4,
        ]
    )
    seen: list[tuple[int, str, bool]] = []

    def watch(s: Script) -> None:
        seen.append((s.bar, s.placed[0].status.value, s.placed[0].triggered))

    plan = {0: lambda s: s.buy(quantity=1, stop=102, limit=101.5), 1: watch, 2: watch, 3: watch}
    s = Script(plan)
    _, bt = run(s, data, inst=INST)
    assert seen == [(1, "accepted", False), (2, "accepted", True), (3, "accepted", True)]
    assert fill_rows(bt) == [(4, "buy", Decimal("101.50"), Decimal("1"), fee("101.50", MAKER), "maker")]


def test_triggered_stop_limit_crossed_at_a_later_open_fills_at_its_limit_as_resting_order() -> None:
    data = make_bars([CALM, CALM, (100.5, 103.0, 100.0, 102.5), (101.0, 101.2, 100.8, 101.0), (101.0,) * 4])
    _, bt = run(Script({0: lambda s: s.buy(quantity=1, stop=102, limit=101.5)}), data, inst=INST)
    assert fill_rows(bt) == [(3, "buy", Decimal("101.50"), Decimal("1"), fee("101.50", MAKER), "maker")]


def test_stop_limit_gapped_within_its_limit_fills_at_open() -> None:
    data = make_bars([CALM, CALM, (103.0, 104.0, 102.5, 103.5), (103.0,) * 4])
    _, bt = run(Script({0: lambda s: s.buy(quantity=1, stop=102, limit=104)}), data, inst=INST)
    assert fill_rows(bt) == [(2, "buy", Decimal("103"), Decimal("1"), fee("103", TAKER), "taker")]


def test_stop_limit_gapped_beyond_its_limit_rests_and_fills_if_the_bar_comes_back() -> None:
    data = make_bars([CALM, CALM, (103.0, 104.0, 102.2, 103.5), (103.0,) * 4])
    _, bt = run(Script({0: lambda s: s.buy(quantity=1, stop=102, limit=102.5)}), data, inst=INST)
    assert fill_rows(bt) == [(2, "buy", Decimal("102.50"), Decimal("1"), fee("102.50", MAKER), "maker")]


def test_stop_prices_round_so_they_never_trigger_early() -> None:
    data = make_bars([CALM] * 3)
    s = Script({0: [lambda s: s.buy(quantity=1, stop=102.001), lambda s: s.sell(quantity=1, stop=97.999)]})
    run(s, data, inst=INST)
    assert [o.stop_ticks for o in s.placed] == [10201, 9799]


def test_bar_hitting_stop_and_take_profit_executes_the_stop_and_cancels_the_take_profit() -> None:
    data = make_bars(
        [
            CALM,
            CALM,  # buys 2 at the open, 100
            (100.0, 101.0, 99.0, 100.0),  # bracket placed after this bar
            (100.0, 106.0, 94.0, 100.0),  # both 95 (stop) and 105 (take-profit) inside the range
            (100.0, 106.0, 94.0, 100.0),
        ]
    )
    plan = {
        0: lambda s: s.buy(quantity=2),
        2: [
            lambda s: s.sell(quantity=2, limit=105, reduce_only=True, tag="tp"),
            lambda s: s.sell(quantity=2, stop=95, reduce_only=True, tag="sl"),
        ],
    }
    s = Script(plan)
    result, bt = run(s, data, inst=INST)
    tp, sl = s.placed[1:]
    assert fill_rows(bt) == [
        (1, "buy", Decimal("100"), Decimal("2"), fee("200", TAKER), "taker"),
        (3, "sell", Decimal("95"), Decimal("2"), fee("190", TAKER), "taker"),
    ]
    assert sl.status.value == "filled"
    assert tp.status.value == "canceled"
    assert tp.reason == "reduce-only: no position to reduce"
    assert tp.filled_lots == 0
    assert bt.account.positions[INST.id].lots == 0
    (trade,) = result.to_dict()["trades"]
    assert Decimal(trade["pnl"]) == Decimal("-10") - fee("200", TAKER) - fee("190", TAKER)
    assert trade["open"] is False


def test_reduce_only_order_is_cut_to_the_position() -> None:
    data = make_bars([CALM, CALM, CALM, (101.0,) * 4])
    plan = {0: lambda s: s.buy(quantity=2), 1: lambda s: s.sell(quantity=5, reduce_only=True)}
    s = Script(plan)
    _, bt = run(s, data, inst=INST)
    assert fill_rows(bt)[1] == (2, "sell", Decimal("100"), Decimal("2"), fee("200", TAKER), "taker")
    order = s.placed[1]
    assert order.status.value == "canceled"
    assert order.reason == "reduce-only: position closed"
    assert order.filled_lots == 2000
    assert bt.account.positions[INST.id].lots == 0
