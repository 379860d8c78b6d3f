"""IOC / FOK judged at the arrival open, and post-only limits that would take."""

from __future__ import annotations

from decimal import Decimal

from atb.engine.execution import ExecutionConfig, FillTiming, SquareRootImpact

from .helpers import Script, fee, fill_rows, instrument, make_bars, run

INST = instrument(maker="0.0002", taker="0.001")
MAKER, TAKER = "0.0002", "0.001"
CALM = (100.0, 101.0, 99.0, 100.0)
# the arrival bar trades down to 98 after opening at 100: a resting bid at 99 would fill
DIP = (100.0, 100.5, 98.0, 99.0)


def test_ioc_limit_not_marketable_at_the_open_is_cancelled_even_if_the_bar_reaches_it() -> None:
    s = Script({0: lambda s: s.buy(quantity=1, limit=99, tif="ioc")})
    _, bt = run(s, make_bars([CALM, DIP, DIP]), inst=INST)
    assert bt.fills == []
    (order,) = s.placed
    assert order.status.value == "canceled"
    assert order.reason == "time in force: not filled on arrival"
    assert s.closed_seen == [order]


def test_ioc_limit_marketable_at_the_open_fills_there_as_taker() -> None:
    s = Script({0: lambda s: s.buy(quantity=1, limit=100.5, tif="ioc")})
    _, bt = run(s, make_bars([CALM, DIP, DIP]), inst=INST)
    assert fill_rows(bt) == [(1, "buy", Decimal("100"), Decimal("1"), fee("100", TAKER), "taker")]
    assert s.placed[0].status.value == "filled"


def test_fok_limit_not_marketable_is_cancelled() -> None:
    s = Script({0: lambda s: s.sell(quantity=1, limit=100.01, tif="fok")})
    _, bt = run(s, make_bars([CALM, CALM, CALM]), inst=INST)
    assert bt.fills == []
    assert s.placed[0].status.value == "canceled"
    assert s.placed[0].reason == "time in force: not filled on arrival"


def test_ioc_and_fok_market_orders_fill_at_the_open() -> None:
    s = Script({0: [lambda s: s.buy(quantity=1, tif="ioc"), lambda s: s.buy(quantity=2, tif="fok")]})
    _, bt = run(s, make_bars([CALM, DIP, DIP]), inst=INST)
    assert fill_rows(bt) == [
        (1, "buy", Decimal("100"), Decimal("1"), fee("100", TAKER), "taker"),
        (1, "buy", Decimal("100"), Decimal("2"), fee("200", TAKER), "taker"),
    ]


def capped() -> ExecutionConfig:
    # no price impact, at most 10 % of a bar's volume (10 units → 1 unit per bar)
    return ExecutionConfig(slippage=SquareRootImpact(coefficient=0.0, participation=0.1))


def test_fok_larger_than_the_volume_cap_is_killed_without_any_fill() -> None:
    s = Script({0: lambda s: s.buy(quantity=2, tif="fok")})
    _, bt = run(s, make_bars([CALM] * 4, volume=10.0), inst=INST, execution=capped())
    assert bt.fills == []
    assert s.placed[0].status.value == "canceled"
    assert s.placed[0].reason == "fill-or-kill: not enough volume"


def test_ioc_larger_than_the_volume_cap_fills_the_cap_and_cancels_the_rest() -> None:
    s = Script({0: lambda s: s.buy(quantity=2.5, tif="ioc")})
    _, bt = run(s, make_bars([CALM] * 4, volume=10.0), inst=INST, execution=capped())
    assert fill_rows(bt) == [(1, "buy", Decimal("100"), Decimal("1"), fee("100", TAKER), "taker")]
    order = s.placed[0]
    assert order.status.value == "canceled"
    assert order.reason == "time in force: rest cancelled"
    assert order.filled_lots == 1000


def test_post_only_limit_that_would_take_at_arrival_is_rejected() -> None:
    s = Script({0: lambda s: s.buy(quantity=1, limit=100, post_only=True)})
    result, bt = run(s, make_bars([CALM, DIP, DIP]), inst=INST)
    assert bt.fills == []
    (order,) = s.placed
    assert order.status.value == "rejected"
    assert order.reason == "post-only order would take liquidity"
    assert result.to_dict()["orders"][0]["status"] == "rejected"


def test_post_only_limit_that_rests_fills_as_maker() -> None:
    s = Script({0: lambda s: s.buy(quantity=1, limit=99, post_only=True)})
    _, bt = run(s, make_bars([CALM, DIP, DIP]), inst=INST)
    assert fill_rows(bt) == [(1, "buy", Decimal("99"), Decimal("1"), fee("99", MAKER), "maker")]


def test_post_only_is_judged_only_on_arrival() -> None:
    """After resting a bar, a post-only bid the market gaps through is already in the book: maker fill."""
    s = Script({0: lambda s: s.buy(quantity=1, limit=99, post_only=True)})
    _, bt = run(s, make_bars([CALM, (100.0, 100.5, 99.5, 100.0), (97.0, 98.0, 96.0, 97.0)]), inst=INST)
    assert fill_rows(bt) == [(2, "buy", Decimal("99"), Decimal("1"), fee("99", MAKER), "maker")]


def test_ioc_market_order_at_the_close_does_not_carry_its_capped_rest_to_later_bars() -> None:
    execution = ExecutionConfig(fill=FillTiming.CLOSE, slippage=SquareRootImpact(coefficient=0.0, participation=0.1))
    s = Script({0: lambda s: s.buy(quantity=2.5, tif="ioc"), 1: lambda s: s.buy(quantity=2.5)})
    _, bt = run(s, make_bars([CALM] * 5, volume=10.0), inst=INST, execution=execution)
    ioc, gtc = s.placed
    assert ioc.status.value == "canceled" and ioc.filled_lots == 1000
    assert ioc.reason == "time in force: rest cancelled"
    # the GTC one carries on at later closes until done
    assert gtc.status.value == "filled"
    assert [(row[0], row[3]) for row in fill_rows(bt)] == [
        (0, Decimal("1")),
        (1, Decimal("1")),
        (2, Decimal("1")),
        (3, Decimal("0.5")),
    ]
