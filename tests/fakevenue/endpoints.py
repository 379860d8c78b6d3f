"""The REST endpoints of the fake venue: Binance's JSON shapes, parameters and weights per route.

Handlers run with the venue's lock held and raise `VenueReject` for Binance's error answers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from . import klines as _klines
from .state import MSG_NO_ORDER, Order, VenueReject, fmt

if TYPE_CHECKING:
    from .server import FakeVenue

Answer = tuple[int, Any]
WEIGHT_LIMIT_1M = 6000


@dataclass(frozen=True, slots=True)
class Route:
    handler: Callable[[FakeVenue, dict[str, str]], Answer]
    signed: bool
    weight: int


# -- endpoints --------------------------------------------------------------------------------------------
def _ping(v: FakeVenue, p: dict[str, str]) -> Answer:
    return 200, {}


def _time(v: FakeVenue, p: dict[str, str]) -> Answer:
    return 200, {"serverTime": v.now_ms()}


def _exchange_info(v: FakeVenue, p: dict[str, str]) -> Answer:
    limits = [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": WEIGHT_LIMIT_1M},
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
        {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
        {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
    ]
    symbols = [s.info() for s in v.book.specs.values()]
    if "symbol" in p:
        symbols = [v.book.spec(p["symbol"]).info()]
    return 200, {
        "timezone": "UTC",
        "serverTime": v.now_ms(),
        "rateLimits": limits,
        "exchangeFilters": [],
        "symbols": symbols,
    }


def _klines_route(v: FakeVenue, p: dict[str, str]) -> Answer:
    return 200, _klines.klines(p)


def _ticker_price(v: FakeVenue, p: dict[str, str]) -> Answer:
    rows = [{"symbol": s, "price": fmt(price)} for s, price in sorted(v.book.prices.items())]
    if "symbol" in p:
        v.book.spec(p["symbol"])
        return 200, next(r for r in rows if r["symbol"] == p["symbol"])
    return 200, rows


def _ticker_24hr(v: FakeVenue, p: dict[str, str]) -> Answer:
    now = v.now_ms()
    rows = []
    for s, price in sorted(v.book.prices.items()):
        px = fmt(price)
        rows.append({"symbol": s, "priceChange": fmt(None), "priceChangePercent": "0.000", "weightedAvgPrice": px,
                     "prevClosePrice": px, "lastPrice": px, "lastQty": fmt(None), "bidPrice": px, "bidQty": fmt(None),
                     "askPrice": px, "askQty": fmt(None), "openPrice": px, "highPrice": px, "lowPrice": px,
                     "volume": fmt(None), "quoteVolume": fmt(None), "openTime": now - 86_400_000, "closeTime": now,
                     "firstId": -1, "lastId": -1, "count": 0})  # fmt: skip
    if "symbol" in p:
        v.book.spec(p["symbol"])
        return 200, next(r for r in rows if r["symbol"] == p["symbol"])
    return 200, rows


def _account(v: FakeVenue, p: dict[str, str]) -> Answer:
    balances = v.book.balances_json()
    if p.get("omitZeroBalances") == "true":
        balances = [b for b in balances if Decimal(b["free"]) or Decimal(b["locked"])]
    rates = {"maker": "0.00100000", "taker": "0.00100000", "buyer": "0.00000000", "seller": "0.00000000"}
    return 200, {
        "makerCommission": 10, "takerCommission": 10, "buyerCommission": 0, "sellerCommission": 0,
        "commissionRates": rates, "canTrade": True, "canWithdraw": True, "canDeposit": True, "brokered": False,
        "requireSelfTradePrevention": False, "preventSor": False, "updateTime": v.now_ms(), "accountType": "SPOT",
        "balances": balances, "permissions": ["SPOT"], "uid": 354937868,
    }  # fmt: skip


def _new_order(v: FakeVenue, p: dict[str, str]) -> Answer:
    resp_type = p.get("newOrderRespType", "FULL")
    if resp_type not in ("ACK", "RESULT", "FULL"):
        raise VenueReject(-1100, "Illegal characters found in parameter 'newOrderRespType'.")
    order = v.book.new_order(p, v.now_ms())
    return 200, order.as_json(resp_type=resp_type)


def _get_order(v: FakeVenue, p: dict[str, str]) -> Answer:
    order = v.book.find(v.book.spec(p.get("symbol")).symbol, p.get("orderId"), p.get("origClientOrderId"))
    if order is None:
        raise VenueReject(-2013, MSG_NO_ORDER)
    return 200, order.as_json()


def _cancel_order(v: FakeVenue, p: dict[str, str]) -> Answer:
    symbol = v.book.spec(p.get("symbol")).symbol
    order, cancel_id = v.book.cancel(symbol, p.get("orderId"), p.get("origClientOrderId"), v.now_ms())
    return 200, order.as_json(resp_type="CANCEL", cancel_id=p.get("newClientOrderId") or cancel_id)


def _orders(v: FakeVenue, p: dict[str, str], *, only_open: bool) -> list[Order]:
    symbol = v.book.spec(p["symbol"]).symbol if "symbol" in p or not only_open else None
    return [
        o
        for o in v.book.orders.values()
        if (symbol is None or o.spec.symbol == symbol) and (o.is_open or not only_open)
    ]


def _open_orders(v: FakeVenue, p: dict[str, str]) -> Answer:
    return 200, [o.as_json() for o in _orders(v, p, only_open=True)]


def _all_orders(v: FakeVenue, p: dict[str, str]) -> Answer:
    limit = min(int(p.get("limit", 500)), 1000)
    return 200, [o.as_json() for o in _orders(v, p, only_open=False)][-limit:]


def _my_trades(v: FakeVenue, p: dict[str, str]) -> Answer:
    symbol = v.book.spec(p.get("symbol")).symbol
    trades = [t for t in v.book.trades if t.symbol == symbol]
    if "orderId" in p:
        trades = [t for t in trades if t.order_id == int(p["orderId"])]
    if "fromId" in p:
        trades = [t for t in trades if t.id >= int(p["fromId"])]
    if "startTime" in p:
        trades = [t for t in trades if t.time >= int(p["startTime"])]
    if "endTime" in p:
        trades = [t for t in trades if t.time <= int(p["endTime"])]
    limit = min(int(p.get("limit", 500)), 1000)
    return 200, [t.as_json() for t in trades[:limit]]


ROUTES: dict[tuple[str, str], Route] = {
    ("GET", "ping"): Route(_ping, False, 1),
    ("GET", "time"): Route(_time, False, 1),
    ("GET", "exchangeInfo"): Route(_exchange_info, False, 20),
    ("GET", "klines"): Route(_klines_route, False, 2),
    ("GET", "ticker/price"): Route(_ticker_price, False, 2),
    ("GET", "ticker/24hr"): Route(_ticker_24hr, False, 2),
    ("GET", "account"): Route(_account, True, 20),
    ("POST", "order"): Route(_new_order, True, 1),
    ("GET", "order"): Route(_get_order, True, 4),
    ("DELETE", "order"): Route(_cancel_order, True, 1),
    ("GET", "openOrders"): Route(_open_orders, True, 6),
    ("GET", "allOrders"): Route(_all_orders, True, 20),
    ("GET", "myTrades"): Route(_my_trades, True, 20),
}
