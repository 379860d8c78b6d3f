"""The fake Binance venue, driven by the real ccxt 4.5.90 client (sync and async).

These tests pin the venue to Binance's behaviour as VENUE_NOTES records it, so later node tests
can trust it: what ccxt sees (filters, fills, fees in the received asset, locked balances), the
exception each failure surfaces as, and the dropped-answer case that no-duplicate recovery rests on.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import ccxt
import numpy as np
import pytest

from atb.data.sample import load_sample
from atb.venues.errors import VenueErrorKind, classify
from fakevenue import FakeVenue, faults, make_client
from fakevenue.faults import Fault, FaultKind

BTC = "BTC/USDT"
D = Decimal


@pytest.fixture
def client(fake_venue: FakeVenue) -> Any:
    c = make_client(fake_venue)
    c.load_markets()
    return c


def run_async(venue: FakeVenue, body: Callable[[Any], Awaitable[Any]], **config: Any) -> Any:
    """Run `body(client)` with a fresh async ccxt client on the venue, closing its aiohttp session."""

    async def main() -> Any:
        client = make_client(venue, async_=True, **config)
        try:
            await client.load_markets()
            return await body(client)
        finally:
            await client.close()

    return asyncio.run(main())


def balance(client: Any, asset: str) -> tuple[float, float]:
    entry = client.fetch_balance()[asset]
    return entry["free"], entry["used"]


# -- markets, bars, balances ------------------------------------------------------------------------------
def test_load_markets_exposes_the_filters_and_calls_only_spot_endpoints(fake_venue: FakeVenue) -> None:
    client = make_client(fake_venue)
    markets = client.load_markets()
    btc, eth = markets[BTC], markets["ETH/USDT"]
    assert btc["id"] == "BTCUSDT" and btc["spot"] and btc["active"]
    assert btc["precision"]["price"] == 0.01 and btc["precision"]["amount"] == 0.00001
    assert eth["precision"]["amount"] == 0.0001 and eth["limits"]["amount"]["min"] == 0.0001
    assert btc["limits"]["cost"]["min"] == 5 and btc["limits"]["amount"]["min"] == 0.00001
    assert client.price_to_precision(BTC, 57.638000000000005) == "57.64"  # ccxt rounds prices to the tick...
    assert client.amount_to_precision(BTC, 0.123456789) == "0.12345"  # ...and truncates amounts to the step
    assert [(r.method, r.endpoint) for r in fake_venue.requests] == [("GET", "exchangeInfo")]
    assert all(url.startswith(fake_venue.base_url) for url in client.urls["api"].values())


def test_fetch_ohlcv_returns_the_sample_bars_and_paginates_with_since(client: Any) -> None:
    bars = load_sample("BTC_USDT_5m").bars
    open_ms = bars.ts // 1_000_000
    first = client.fetch_ohlcv(BTC, "5m", since=int(open_ms[0]), limit=1000)
    second = client.fetch_ohlcv(BTC, "5m", since=first[-1][0] + 1, limit=1000)
    got = np.array(first + second, dtype=np.float64)
    assert got.shape == (2000, 6)
    np.testing.assert_array_equal(got[:, 0], open_ms[:2000])
    for col, series in enumerate((bars.open, bars.high, bars.low, bars.close, bars.volume), start=1):
        np.testing.assert_allclose(got[:, col], series[:2000], rtol=0, atol=5e-9)
    latest = client.fetch_ohlcv(BTC, "5m")  # no since: Binance's latest 500 bars
    assert len(latest) == 500 and latest[-1][0] == int(open_ms[-1])


def test_klines_cap_limit_at_1000_and_start_inside_a_gap(fake_venue: FakeVenue) -> None:
    open_ms = load_sample("BTC_USDT_5m").bars.ts // 1_000_000
    gap = int(np.argmax(np.diff(open_ms) > 300_000))  # the sample keeps its real gaps
    assert open_ms[gap + 1] - open_ms[gap] > 300_000
    url = f"{fake_venue.base_url}/api/v3/klines?symbol=BTCUSDT&interval=5m&limit=1500&startTime={open_ms[gap] + 1}"
    with urllib.request.urlopen(url) as resp:
        rows = json.load(resp)
    assert len(rows) == 1000 and rows[0][0] == open_ms[gap + 1]
    assert rows[0][6] == rows[0][0] + 299_999 and isinstance(rows[0][1], str)


def test_fetch_balance_reports_free_and_locked(client: Any, fake_venue: FakeVenue) -> None:
    assert balance(client, "USDT") == (100_000, 0)
    client.create_order(BTC, "limit", "buy", 0.5, 40_000)
    assert balance(client, "USDT") == (80_000, 20_000)
    assert fake_venue.balance("USDT") == (D(80_000), D(20_000))


# -- orders and fills ------------------------------------------------------------------------------------
def test_market_buy_then_sell_charges_the_fee_in_the_asset_received(client: Any, fake_venue: FakeVenue) -> None:
    order = client.create_order(BTC, "market", "buy", 1)
    assert order["status"] == "closed" and order["filled"] == 1 and order["average"] == 50_000
    assert order["fee"] == {"currency": "BTC", "cost": 0.001}
    assert balance(client, "BTC") == (0.999, 0) and balance(client, "USDT") == (50_000, 0)
    with pytest.raises(ccxt.InsufficientFunds):  # "sell the 1 BTC I bought" fails: the fee took 0.001
        client.create_order(BTC, "market", "sell", 1)
    fake_venue.set_price("BTCUSDT", D("51000"))
    sell = client.create_order(BTC, "market", "sell", 0.999)
    assert sell["fee"]["currency"] == "USDT" and sell["fee"]["cost"] == pytest.approx(50.949)
    assert fake_venue.balance("USDT") == (D(50_000) + D("0.999") * 51_000 * D("0.999"), 0)
    assert fake_venue.balance("BTC") == (0, 0)
    trades = client.fetch_my_trades(BTC)
    assert [(t["side"], t["fee"]["currency"], t["takerOrMaker"]) for t in trades] == [
        ("buy", "BTC", "taker"),
        ("sell", "USDT", "taker"),
    ]


def test_market_buy_by_quote_amount_and_a_market_order_that_runs_out_of_liquidity(
    client: Any, fake_venue: FakeVenue
) -> None:
    order = client.create_market_buy_order_with_cost(BTC, 1000)
    assert order["filled"] == 0.02 and fake_venue.balance("BTC") == (D("0.01998"), 0)
    fake_venue.set_liquidity("BTCUSDT", "0.3")
    order = client.create_order(BTC, "market", "buy", 1)
    assert order["status"] == "expired" and order["filled"] == 0.3 and order["remaining"] == 0.7


def test_limit_order_rests_until_the_price_crosses_it(client: Any, fake_venue: FakeVenue) -> None:
    order = client.create_order(BTC, "limit", "buy", 0.1, 49_000, {"clientOrderId": "lim-1"})
    assert order["status"] == "open" and order["filled"] == 0
    assert [o["clientOrderId"] for o in client.fetch_open_orders()] == ["lim-1"]
    assert fake_venue.set_price("BTCUSDT", D("49000.01")) == []
    fills = fake_venue.set_price("BTCUSDT", D("48900"))
    assert [(f.price, f.qty, f.is_maker) for f in fills] == [(D(49_000), D("0.1"), True)]  # at the limit
    done = client.fetch_order(None, BTC, {"clientOrderId": "lim-1"})
    assert done["status"] == "closed" and done["filled"] == 0.1 and done["cost"] == 4_900
    assert client.fetch_open_orders(BTC) == []
    assert fake_venue.balance("USDT") == (D(95_100), 0) and fake_venue.balance("BTC") == (D("0.0999"), 0)


def test_partial_fill_releases_the_lock_pro_rata_and_cancel_releases_the_rest(fake_venue: FakeVenue) -> None:
    fake_venue.deposit("BTC", "2")
    client = make_client(fake_venue)
    client.create_order(BTC, "limit", "sell", 1, 51_000, {"clientOrderId": "ask-1"})
    assert fake_venue.balance("BTC") == (D(1), D(1))
    fake_venue.fill("ask-1", "0.4")
    order = client.fetch_order(None, BTC, {"clientOrderId": "ask-1"})
    assert (order["status"], order["filled"], order["remaining"]) == ("open", 0.4, 0.6)
    assert order["info"]["status"] == "PARTIALLY_FILLED"
    assert fake_venue.balance("BTC") == (D(1), D("0.6"))
    assert fake_venue.balance("USDT") == (D(100_000) + D("0.4") * 51_000 * D("0.999"), 0)
    canceled = client.cancel_order(order["id"], BTC)
    assert canceled["status"] == "canceled" and canceled["filled"] == 0.4
    assert fake_venue.balance("BTC") == (D("1.6"), 0)
    with pytest.raises(ccxt.OrderNotFound):  # a second cancel: -2011 Unknown order sent.
        client.cancel_order(order["id"], BTC)


def test_unknown_orders_are_order_not_found_on_query_and_cancel(client: Any) -> None:
    with pytest.raises(ccxt.OrderNotFound, match="-2013"):
        client.fetch_order(None, BTC, {"clientOrderId": "never-sent"})
    with pytest.raises(ccxt.OrderNotFound, match="-2011"):
        client.cancel_order("123456", BTC)


def test_duplicate_client_id_is_refused_only_while_the_first_order_is_open(client: Any, fake_venue: FakeVenue) -> None:
    client.create_order(BTC, "limit", "buy", 0.01, 49_000, {"clientOrderId": "dup-1"})
    with pytest.raises(ccxt.InvalidOrder, match="Duplicate order sent") as info:
        client.create_order(BTC, "limit", "buy", 0.01, 49_000, {"clientOrderId": "dup-1"})
    assert classify(info.value) is VenueErrorKind.REJECTED
    fake_venue.set_price("BTCUSDT", D("48000"))  # the first one fills...
    again = client.create_order(BTC, "market", "buy", 0.01, None, {"clientOrderId": "dup-1"})
    assert again["status"] == "closed"  # ...and the id is free again: a blind resend buys twice
    assert [o.status for o in fake_venue.orders_with("dup-1")] == ["FILLED", "FILLED"]


@pytest.mark.parametrize(
    ("params", "error", "message"),
    [
        ({"quantity": "0.000015"}, ccxt.InvalidOrder, "LOT_SIZE"),  # ccxt's legacy body check: InvalidOrder
        ({"price": "49000.005"}, ccxt.InvalidOrder, "PRICE_FILTER"),
        ({"quantity": "0.0001"}, ccxt.BadRequest, "NOTIONAL"),  # -1013 through the code table: BadRequest
    ],
)
def test_filter_violations_are_rejected_with_binance_messages(
    client: Any, fake_venue: FakeVenue, params: dict[str, str], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=f"Filter failure: {message}") as info:
        client.create_order(BTC, "limit", "buy", 0.01, 49_000, params)  # params override ccxt's rounding
    assert classify(info.value) is VenueErrorKind.REJECTED
    assert fake_venue.book.orders == {} and fake_venue.balance("USDT") == (D(100_000), 0)


def test_insufficient_balance_is_insufficient_funds(client: Any, fake_venue: FakeVenue) -> None:
    with pytest.raises(ccxt.InsufficientFunds) as info:
        client.create_order(BTC, "market", "buy", 2.5)
    assert classify(info.value) is VenueErrorKind.REJECTED
    client.create_order(BTC, "limit", "buy", 1.5, 49_000)  # locks 73 500 of the 100 000
    with pytest.raises(ccxt.InsufficientFunds):
        client.create_order(BTC, "limit", "buy", 1, 49_000)
    assert fake_venue.balance("USDT") == (D(26_500), D(73_500))


def test_responses_carry_the_weight_and_order_count_headers(client: Any) -> None:
    client.fetch_balance()
    weight = int(client.last_response_headers["X-MBX-USED-WEIGHT-1M"])
    client.create_order(BTC, "market", "buy", 0.01)
    assert int(client.last_response_headers["X-MBX-USED-WEIGHT-1M"]) == weight + 1
    client.create_order(BTC, "market", "buy", 0.01)
    assert client.last_response_headers["X-MBX-ORDER-COUNT-10S"] == "2"


def test_a_weight_limit_answers_429_with_retry_after(client: Any, fake_venue: FakeVenue) -> None:
    fake_venue.weight_limit = 60  # load_markets used 20; each fetch_balance costs 20
    client.fetch_balance()
    client.fetch_balance()
    with pytest.raises(ccxt.DDoSProtection, match="-1003"):
        client.fetch_balance()
    assert 1 <= int(client.last_response_headers["Retry-After"]) <= 61


def test_signed_endpoints_require_key_timestamp_and_signature(fake_venue: FakeVenue) -> None:
    def get(query: str, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(f"{fake_venue.base_url}/api/v3/account?{query}", headers=headers)
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(request)
        with info.value as error:
            return error.code, json.load(error)

    stamp = fake_venue.now_ms()
    assert get(f"timestamp={stamp}&signature=ab", {}) == (401, {"code": -2014, "msg": "API-key format invalid."})
    status, body = get(f"timestamp={stamp}", {"X-MBX-APIKEY": "k"})
    assert (status, body["code"]) == (400, -1102) and "'signature'" in body["msg"]


# -- faults ----------------------------------------------------------------------------------------------
FAULTS = [
    # (fault, sync exception, async exception, remedy for a non-idempotent call)
    (faults.status(500), ccxt.OperationFailed, ccxt.OperationFailed, VenueErrorKind.UNKNOWN_OUTCOME),
    (faults.status(502), ccxt.ExchangeNotAvailable, ccxt.ExchangeNotAvailable, VenueErrorKind.UNKNOWN_OUTCOME),
    (faults.status(503), ccxt.ExchangeNotAvailable, ccxt.ExchangeNotAvailable, VenueErrorKind.UNKNOWN_OUTCOME),
    (faults.status(504), ccxt.RequestTimeout, ccxt.RequestTimeout, VenueErrorKind.UNKNOWN_OUTCOME),
    (faults.rate_limited(3), ccxt.DDoSProtection, ccxt.DDoSProtection, VenueErrorKind.RETRY_SAFE),
    (faults.banned(120), ccxt.DDoSProtection, ccxt.DDoSProtection, VenueErrorKind.RETRY_SAFE),
    (faults.delay(1.0), ccxt.RequestTimeout, ccxt.RequestTimeout, VenueErrorKind.UNKNOWN_OUTCOME),
    (faults.reset_before(), ccxt.NetworkError, ccxt.ExchangeNotAvailable, VenueErrorKind.UNKNOWN_OUTCOME),
    (faults.drop_after(), ccxt.NetworkError, ccxt.ExchangeNotAvailable, VenueErrorKind.UNKNOWN_OUTCOME),
]
FAULT_IDS = ["500", "502", "503", "504", "429", "418", "timeout", "reset", "drop"]


@pytest.mark.parametrize(("fault", "sync_error", "async_error", "kind"), FAULTS, ids=FAULT_IDS)
def test_each_fault_surfaces_as_the_ccxt_exception_venue_notes_lists(
    fake_venue: FakeVenue, fault: Fault, sync_error: type[Exception], async_error: type[Exception], kind: VenueErrorKind
) -> None:
    client = make_client(fake_venue, timeout=300)
    client.load_markets()
    fake_venue.faults.next("account", fault)
    with pytest.raises(sync_error) as info:
        client.fetch_balance()
    assert classify(info.value) is kind
    if kind is VenueErrorKind.UNKNOWN_OUTCOME:
        assert classify(info.value, idempotent=True) is VenueErrorKind.RETRY_SAFE
        assert not isinstance(info.value, ccxt.DDoSProtection)
    if fault.status in (418, 429):
        assert client.last_response_headers["Retry-After"] == f"{fault.seconds:g}"
        assert "-1003" in str(info.value)
    assert client.fetch_balance()["USDT"]["free"] == 100_000  # one fault, then the venue answers again

    # aiohttp resends an idempotent request once when a reused keep-alive connection fails without
    # an answer, so a single reset/drop on a GET is invisible to async ccxt: it takes two in a row.
    resent = fault.kind in (FaultKind.RESET_BEFORE, FaultKind.DROP_AFTER)
    fake_venue.faults.next("account", fault, times=2 if resent else 1)
    before = len(fake_venue.calls("account"))

    async def body(aclient: Any) -> None:
        await aclient.fetch_time()  # warm the keep-alive connection, as in a running node
        with pytest.raises(async_error) as ainfo:
            await aclient.fetch_balance()
        assert classify(ainfo.value) is kind

    run_async(fake_venue, body, timeout=300)
    assert fake_venue.faults.pending() == 0
    assert len(fake_venue.calls("account")) - before == (2 if resent else 1)


def test_clock_skew_beyond_recv_window_is_invalid_nonce(client: Any, fake_venue: FakeVenue) -> None:
    fake_venue.clock_offset_ms = 60_000  # the venue is a minute ahead: our timestamp is too old
    with pytest.raises(ccxt.InvalidNonce, match="-1021") as info:
        client.fetch_balance()
    assert classify(info.value) is VenueErrorKind.CLOCK
    fake_venue.clock_offset_ms = -5_000  # behind: our timestamp is "ahead of the server's time"
    with pytest.raises(ccxt.InvalidNonce, match="ahead of the server"):
        client.fetch_balance()


# -- the unknown-outcome order: the basis of no-duplicate recovery ---------------------------------------
def test_dropped_answer_after_accept_raises_yet_the_order_exists(client: Any, fake_venue: FakeVenue) -> None:
    fake_venue.faults.next("order", faults.drop_after(), method="POST")
    with pytest.raises(ccxt.NetworkError) as info:
        client.create_order(BTC, "market", "buy", 0.5, None, {"clientOrderId": "node-1"})
    assert classify(info.value) is VenueErrorKind.UNKNOWN_OUTCOME
    found = client.fetch_order(None, BTC, {"clientOrderId": "node-1"})  # look it up before resending
    assert (found["status"], found["filled"], found["clientOrderId"]) == ("closed", 0.5, "node-1")
    assert len(fake_venue.orders_with("node-1")) == 1 and fake_venue.balance("BTC") == (D("0.4995"), 0)


def test_reset_before_processing_leaves_no_order(client: Any, fake_venue: FakeVenue) -> None:
    fake_venue.faults.next("order", faults.reset_before(), method="POST")
    with pytest.raises(ccxt.NetworkError):
        client.create_order(BTC, "market", "buy", 0.5, None, {"clientOrderId": "node-2"})
    with pytest.raises(ccxt.OrderNotFound):  # -2013: it was never placed, so sending it is safe
        client.fetch_order(None, BTC, {"clientOrderId": "node-2"})
    assert fake_venue.orders_with("node-2") == [] and fake_venue.balance("USDT") == (D(100_000), 0)


def test_async_dropped_answer_after_accept_and_lookup_by_client_id(fake_venue: FakeVenue) -> None:
    fake_venue.faults.next("order", faults.drop_after(), method="POST")

    async def body(client: Any) -> dict[str, Any]:
        await client.fetch_balance()  # a warm keep-alive connection, as in a running node
        with pytest.raises(ccxt.ExchangeNotAvailable) as info:
            await client.create_order(BTC, "market", "buy", 0.5, None, {"clientOrderId": "node-3"})
        assert classify(info.value) is VenueErrorKind.UNKNOWN_OUTCOME
        return await client.fetch_order(None, BTC, {"clientOrderId": "node-3"})

    found = run_async(fake_venue, body)
    assert (found["status"], found["filled"]) == ("closed", 0.5)
    assert len(fake_venue.calls("order", "POST")) == 1  # aiohttp does not resend a POST
    assert len(fake_venue.orders_with("node-3")) == 1


def test_async_cancel_whose_answer_is_lost_comes_back_order_not_found(fake_venue: FakeVenue) -> None:
    """VENUE_NOTES: aiohttp resends an idempotent DELETE once on a dropped keep-alive connection."""

    async def body(client: Any) -> None:
        order = await client.create_order(BTC, "limit", "buy", 0.1, 45_000, {"clientOrderId": "c-1"})
        fake_venue.faults.next("order", faults.drop_after(), method="DELETE")
        with pytest.raises(ccxt.OrderNotFound) as info:
            await client.cancel_order(order["id"], BTC)
        assert classify(info.value, idempotent=True) is VenueErrorKind.NOT_FOUND
        status = await client.fetch_order(order["id"], BTC)
        assert status["status"] == "canceled"  # the cancel worked although ccxt said "not found"

    run_async(fake_venue, body)
    assert len(fake_venue.calls("order", "DELETE")) == 2
    assert fake_venue.balance("USDT") == (D(100_000), 0)


def test_async_client_places_fills_and_cancels(fake_venue: FakeVenue) -> None:
    async def body(client: Any) -> tuple[dict[str, Any], dict[str, Any], list[Any]]:
        market = await client.create_order(BTC, "market", "buy", 1)
        resting = await client.create_order(BTC, "limit", "sell", 0.5, 52_000, {"clientOrderId": "a-1"})
        fake_venue.fill("a-1", "0.2")
        partial = await client.fetch_order(None, BTC, {"clientOrderId": "a-1"})
        await client.cancel_order(resting["id"], BTC)
        ohlcv = await client.fetch_ohlcv(BTC, "5m", since=1615852800000, limit=3)
        return market, partial, ohlcv

    market, partial, ohlcv = run_async(fake_venue, body)
    assert market["fee"] == {"currency": "BTC", "cost": 0.001} and market["filled"] == 1
    assert (partial["status"], partial["filled"]) == ("open", 0.2)
    assert [row[0] for row in ohlcv] == [1615852800000, 1615853100000, 1615853400000]
    assert fake_venue.balance("BTC") == (D("0.799"), 0)


def test_a_request_to_an_unserved_path_is_recorded_as_unexpected() -> None:
    with FakeVenue() as venue:
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(f"{venue.base_url}/fapi/v1/exchangeInfo")
        info.value.close()
        assert info.value.code == 404
        assert venue.unexpected == ["GET /fapi/v1/exchangeInfo"]
