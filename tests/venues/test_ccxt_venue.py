"""CcxtVenue against the fake Binance venue: exact instruments, orders, fills, and recovery from faults.

pytest-asyncio is not installed, so each test runs its coroutine with `asyncio.run`.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, TypeVar

import ccxt
import pytest

from atb.domain.enums import OrderSide, OrderStatus, OrderType
from atb.domain.ids import ClientOrderId, InstrumentId
from atb.domain.instrument import Instrument
from atb.domain.orders import Order
from atb.venues.breaker import BreakerState, CircuitBreaker
from atb.venues.ccxt_venue import (
    CcxtVenue,
    OrderUnknownError,
    SubmitOutcome,
    UnsupportedOrderError,
    VenueOrder,
)
from atb.venues.errors import CircuitOpenError
from fakevenue import FakeVenue, assert_local, faults
from fakevenue.client import local_urls

BTC = "BTC/USDT"
D = Decimal
T = TypeVar("T")


def make_venue(fake: FakeVenue, breaker: CircuitBreaker | None = None) -> CcxtVenue:
    venue = CcxtVenue(
        "binance",
        api_key="fake-api-key",
        secret="fake-secret",
        urls=local_urls(fake, ccxt.binance().urls["api"]),
        breaker=breaker,
        config={"rateLimit": 1, "timeout": 2_000},
        retry_base=0.01,
        retry_max_delay=0.05,
    )
    assert_local(venue.exchange)
    return venue


def run(fake: FakeVenue, body: Callable[[CcxtVenue, Instrument], Awaitable[T]], **kwargs: Any) -> T:
    """Run `body(venue, BTC/USDT instrument)` on a fresh adapter with instruments loaded, then close it."""

    async def main() -> T:
        venue = make_venue(fake, **kwargs)
        try:
            instruments = await venue.load_instruments()
            return await body(venue, instruments[BTC])
        finally:
            await venue.close()

    return asyncio.run(main())


def order(cid: str, side: OrderSide, qty: str, *, limit: str | None = None, **kwargs: Any) -> Order:
    lots = int(D(qty) / D("0.00001"))
    limit_ticks = None if limit is None else int(D(limit) / D("0.01"))
    otype = kwargs.pop("order_type", OrderType.MARKET if limit is None else OrderType.LIMIT)
    return Order(ClientOrderId(cid), InstrumentId(BTC), side, otype, lots=lots, limit_ticks=limit_ticks, **kwargs)


def test_instruments_are_exact_decimals_from_the_venue_filters(fake_venue: FakeVenue) -> None:
    async def body(venue: CcxtVenue, btc: Instrument) -> dict[str, Instrument]:
        return venue.instruments

    instruments = run(fake_venue, body)
    btc, eth = instruments[BTC], instruments["ETH/USDT"]
    assert (btc.tick, btc.lot, btc.min_quantity, btc.min_notional) == (D("0.01"), D("0.00001"), D("0.00001"), D(5))
    assert all(isinstance(v, Decimal) for v in (btc.tick, btc.lot, btc.min_quantity, btc.min_notional))
    assert (btc.maker_fee.rate, btc.taker_fee.rate) == (D("0.001"), D("0.001"))
    assert (eth.lot, eth.min_quantity) == (D("0.0001"), D("0.0001"))
    assert set(instruments) == {BTC, "ETH/USDT"}


def test_balances_are_free_and_locked_decimals(fake_venue: FakeVenue) -> None:
    async def body(venue: CcxtVenue, btc: Instrument) -> dict[str, tuple[Decimal, Decimal]]:
        await venue.submit(order("rest-1", OrderSide.BUY, "0.1", limit="45000.01"), btc)
        return await venue.balances()

    balances = run(fake_venue, body)
    assert balances["USDT"] == (D("95499.999"), D("4500.001"))  # 0.1 × 45 000.01 locked
    assert balances["BTC"] == (D(0), D(0))


def test_market_buy_fills_with_the_fee_in_the_asset_received(fake_venue: FakeVenue) -> None:
    async def body(venue: CcxtVenue, btc: Instrument) -> Any:
        ack = await venue.submit(order("mkt-1", OrderSide.BUY, "0.12345"), btc)
        return ack, await venue.my_trades(BTC)

    ack, trades = run(fake_venue, body)
    assert ack.outcome is SubmitOutcome.ACCEPTED and not ack.recovered
    assert ack.order is not None and ack.order.status is OrderStatus.FILLED
    assert (ack.order.filled, ack.order.average, ack.order.client_order_id) == (D("0.12345"), D(50_000), "mkt-1")
    assert [(f.currency, f.cost) for f in ack.order.fees] == [("BTC", D("0.00012345"))]
    [posted] = fake_venue.calls("order", "POST")
    assert (posted.params["quantity"], posted.params["newClientOrderId"]) == ("0.12345", "mkt-1")
    [trade] = trades
    assert (trade.amount, trade.price, trade.fee, trade.fee_currency, trade.maker) == (
        D("0.12345"),
        D(50_000),
        D("0.00012345"),
        "BTC",
        False,
    )
    assert fake_venue.balance("BTC") == (D("0.12332655"), D(0))


def test_limit_order_rests_then_fills_when_the_price_reaches_it(fake_venue: FakeVenue) -> None:
    async def body(venue: CcxtVenue, btc: Instrument) -> tuple[Any, list[VenueOrder], VenueOrder, Any]:
        ack = await venue.submit(order("lim-1", OrderSide.BUY, "0.2", limit="49000.07"), btc)
        resting = await venue.open_orders(BTC)
        fake_venue.set_price("BTCUSDT", D("48999"))
        return ack, resting, await venue.fetch_order("lim-1", BTC), await venue.my_trades(BTC)

    ack, resting, filled, trades = run(fake_venue, body)
    [posted] = fake_venue.calls("order", "POST")
    assert (posted.params["price"], posted.params["quantity"], posted.params["timeInForce"]) == (
        "49000.07",
        "0.2",
        "GTC",
    )
    assert ack.order.status is OrderStatus.ACCEPTED and ack.order.price == D("49000.07")
    assert [o.client_order_id for o in resting] == ["lim-1"]
    assert (filled.status, filled.filled, filled.remaining) == (OrderStatus.FILLED, D("0.2"), D(0))
    assert filled.fees == ()  # a query answer carries no fills: the fees come with the trades
    [trade] = trades
    assert (trade.price, trade.amount, trade.fee, trade.fee_currency, trade.maker) == (
        D("49000.07"),
        D("0.2"),
        D("0.0002"),
        "BTC",
        True,
    )
    assert trade.venue_order_id == filled.venue_order_id


def test_cancel_and_cancel_of_an_already_cancelled_order(fake_venue: FakeVenue) -> None:
    async def body(venue: CcxtVenue, btc: Instrument) -> tuple[VenueOrder, VenueOrder]:
        await venue.submit(order("can-1", OrderSide.BUY, "0.1", limit="40000"), btc)
        first = await venue.cancel("can-1", BTC)
        again = await venue.cancel("can-1", BTC)  # -2011 unknown order: answered with the status instead
        return first, again

    first, again = run(fake_venue, body)
    assert first.status is OrderStatus.CANCELED and again.status is OrderStatus.CANCELED
    assert again.client_order_id == "can-1" and len(fake_venue.calls("order", "DELETE")) == 2
    assert fake_venue.balance("USDT") == (D(100_000), D(0))


def test_cancel_whose_answer_is_lost_and_resent_returns_the_cancelled_order(fake_venue: FakeVenue) -> None:
    async def body(venue: CcxtVenue, btc: Instrument) -> VenueOrder:
        await venue.submit(order("can-2", OrderSide.BUY, "0.1", limit="40000"), btc)
        fake_venue.faults.next("order", faults.drop_after(), method="DELETE")
        return await venue.cancel("can-2", BTC)  # aiohttp resends the DELETE, which answers -2011

    cancelled = run(fake_venue, body)
    assert cancelled.status is OrderStatus.CANCELED and len(fake_venue.calls("order", "DELETE")) == 2
    assert fake_venue.balance("USDT") == (D(100_000), D(0))


def test_cancel_of_an_order_the_venue_never_had_raises_order_unknown(fake_venue: FakeVenue) -> None:
    async def body(venue: CcxtVenue, btc: Instrument) -> None:
        with pytest.raises(OrderUnknownError):
            await venue.cancel("never-sent", BTC)

    run(fake_venue, body)


def test_dropped_answer_after_accept_returns_the_order_found_by_client_id(fake_venue: FakeVenue) -> None:
    async def body(venue: CcxtVenue, btc: Instrument) -> Any:
        fake_venue.faults.next("order", faults.drop_after(), method="POST")
        return await venue.submit(order("drop-1", OrderSide.BUY, "0.5"), btc)

    ack = run(fake_venue, body)
    assert ack.outcome is SubmitOutcome.ACCEPTED and ack.recovered
    assert ack.order.status is OrderStatus.FILLED and ack.order.filled == D("0.5")
    assert len(fake_venue.calls("order", "POST")) == 1
    assert len(fake_venue.orders_with("drop-1")) == 1
    assert fake_venue.balance("BTC") == (D("0.4995"), D(0))


@pytest.mark.parametrize("processed", [False, True], ids=["not-processed", "processed"])
def test_503_on_submit_is_looked_up_and_a_resend_never_duplicates(fake_venue: FakeVenue, processed: bool) -> None:
    async def body(venue: CcxtVenue, btc: Instrument) -> Any:
        fake_venue.faults.next("order", faults.status(503, process=processed), method="POST")
        first = await venue.submit(order("s503", OrderSide.BUY, "0.5"), btc)
        # the caller's rule: resend only what the venue confirmed it does not have
        second = await venue.submit(order("s503", OrderSide.BUY, "0.5"), btc) if first.outcome == "not_placed" else None
        return first, second

    first, second = run(fake_venue, body)
    if processed:
        assert first.outcome is SubmitOutcome.ACCEPTED and first.recovered and second is None
    else:
        assert first.outcome is SubmitOutcome.NOT_PLACED and first.order is None
        assert second.outcome is SubmitOutcome.ACCEPTED and not second.recovered
    assert len(fake_venue.orders_with("s503")) == 1
    assert fake_venue.balance("BTC") == (D("0.4995"), D(0))


def test_a_resend_of_an_open_order_reports_that_order_instead_of_a_duplicate_rejection(fake_venue: FakeVenue) -> None:
    async def body(venue: CcxtVenue, btc: Instrument) -> tuple[Any, Any]:
        first = await venue.submit(order("dup-1", OrderSide.BUY, "0.1", limit="40000"), btc)
        return first, await venue.submit(order("dup-1", OrderSide.BUY, "0.1", limit="40000"), btc)  # -2010

    first, again = run(fake_venue, body)
    assert again.outcome is SubmitOutcome.ACCEPTED and again.recovered and "Duplicate order" in again.reason
    assert again.order.venue_order_id == first.order.venue_order_id
    assert len(fake_venue.orders_with("dup-1")) == 1


def test_when_the_look_up_fails_too_the_outcome_stays_unknown(fake_venue: FakeVenue) -> None:
    async def body(venue: CcxtVenue, btc: Instrument) -> Any:
        fake_venue.faults.next("order", faults.drop_after(), method="POST")
        fake_venue.faults.next("order", faults.status(502), method="GET", times=5)  # every look-up attempt
        return await venue.submit(order("lost-1", OrderSide.BUY, "0.5"), btc)

    ack = run(fake_venue, body)
    assert ack.outcome is SubmitOutcome.UNKNOWN and ack.order is None and "look-up failed" in ack.reason
    assert len(fake_venue.calls("order", "GET")) == 5 and len(fake_venue.orders_with("lost-1")) == 1


def test_rate_limit_on_a_read_waits_for_retry_after(fake_venue: FakeVenue) -> None:
    async def body(venue: CcxtVenue, btc: Instrument) -> tuple[dict[str, Any], float]:
        fake_venue.faults.next("account", faults.rate_limited(0.2))
        started = time.monotonic()
        balances = await venue.balances()
        return balances, time.monotonic() - started

    balances, elapsed = run(fake_venue, body)
    assert balances["USDT"] == (D(100_000), D(0))
    assert len(fake_venue.calls("account")) == 2 and fake_venue.faults.pending() == 0
    assert elapsed >= 0.2  # not sooner than the venue asked (the jittered backoff alone is at most 0.01 s)


def test_breaker_opens_after_repeated_5xx_on_reads_and_then_fails_fast(fake_venue: FakeVenue) -> None:
    breaker = CircuitBreaker("fake", window=4, minimum_calls=4, open_seconds=60)

    async def body(venue: CcxtVenue, btc: Instrument) -> None:
        breaker.reset()  # forget the successful load_markets: the window holds only what follows
        fake_venue.faults.next("account", faults.status(503), times=10)
        with pytest.raises(CircuitOpenError):
            await venue.balances()  # 4 failed attempts open the breaker; the retry stops at once
        assert breaker.state is BreakerState.OPEN
        assert len(fake_venue.calls("account")) == 4
        with pytest.raises(CircuitOpenError):
            await venue.balances()
        with pytest.raises(CircuitOpenError):
            await venue.submit(order("blocked", OrderSide.BUY, "0.1"), btc)

    run(fake_venue, body, breaker=breaker)
    assert len(fake_venue.calls("account")) == 4 and fake_venue.calls("order", "POST") == []
    fake_venue.faults.clear()


def test_insufficient_funds_is_a_rejection_with_the_venue_reason(fake_venue: FakeVenue) -> None:
    async def body(venue: CcxtVenue, btc: Instrument) -> Any:
        return await venue.submit(order("poor-1", OrderSide.SELL, "1"), btc)

    ack = run(fake_venue, body)
    assert ack.outcome is SubmitOutcome.REJECTED and ack.order is None
    assert ack.reason == "Account has insufficient balance for requested action."
    assert fake_venue.orders_with("poor-1") == []


def test_a_filter_failure_is_a_rejection_with_the_venue_message_and_code(fake_venue: FakeVenue) -> None:
    async def body(venue: CcxtVenue, btc: Instrument) -> Any:
        return await venue.submit(order("tiny-1", OrderSide.BUY, "0.00005"), btc)  # 2.5 USDT < min notional 5

    ack = run(fake_venue, body)
    assert (ack.outcome, ack.reason) == (SubmitOutcome.REJECTED, "Filter failure: NOTIONAL (code -1013)")


def test_market_buy_sized_in_quote_sends_the_exact_notional(fake_venue: FakeVenue) -> None:
    async def body(venue: CcxtVenue, btc: Instrument) -> Any:
        spend = Order(
            ClientOrderId("quote-1"), InstrumentId(BTC), OrderSide.BUY, OrderType.MARKET, notional_units=100_050_000_000
        )
        return await venue.submit(spend, btc)  # 1000.5 USDT at 8 quote decimals

    ack = run(fake_venue, body)
    [posted] = fake_venue.calls("order", "POST")
    assert posted.params["quoteOrderQty"] == "1000.5" and "quantity" not in posted.params
    assert ack.order.status is OrderStatus.FILLED and ack.order.filled == D("0.02001")  # 1000.5 / 50 000, down to lot


def test_stop_orders_are_refused_before_anything_is_sent(fake_venue: FakeVenue) -> None:
    async def body(venue: CcxtVenue, btc: Instrument) -> None:
        stop = Order(
            ClientOrderId("stop-1"), InstrumentId(BTC), OrderSide.SELL, OrderType.STOP_MARKET, lots=10, stop_ticks=1
        )
        with pytest.raises(UnsupportedOrderError, match="stop_market"):
            await venue.submit(stop, btc)

    run(fake_venue, body)
    assert fake_venue.calls("order", "POST") == []


def test_ohlcv_returns_float_bars(fake_venue: FakeVenue) -> None:
    async def body(venue: CcxtVenue, btc: Instrument) -> list[tuple[int, float, float, float, float, float]]:
        return await venue.ohlcv(BTC, "5m", since=1615852800000, limit=3)

    bars = run(fake_venue, body)
    assert [b[0] for b in bars] == [1615852800000, 1615853100000, 1615853400000]
    assert all(b[3] <= min(b[1], b[4]) <= max(b[1], b[4]) <= b[2] for b in bars)


def test_module_imports_without_ccxt_and_the_adapter_names_the_extra() -> None:
    code = textwrap.dedent(
        """
        import sys
        sys.modules["ccxt"] = None  # `import ccxt` now fails like a missing package
        from atb.errors import MissingExtraError
        from atb.venues.ccxt_venue import CcxtVenue
        try:
            CcxtVenue("binance")
        except MissingExtraError as e:
            print(e)
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "live trading needs the optional package 'ccxt': pip install 'atb[live]'"
