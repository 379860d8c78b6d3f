"""The fake venue's book-keeping: symbols, balances, orders and fills, all in Decimal.

Everything here runs under one lock held by the caller (`FakeVenue`), so the
HTTP threads and the test thread see one consistent account. Errors are raised
as `VenueReject` carrying Binance's real code, message and HTTP status so the
server can answer exactly as Binance does and ccxt maps them through its own
error table.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import Any

FEE_RATE = Decimal("0.001")  # Binance's default 0.1 % maker and taker, charged in the asset received
_E8 = Decimal("0.00000001")

_LEGAL = r"^([0-9]{1,20})(\.[0-9]{1,20})?$"
OPEN_STATUSES = frozenset({"NEW", "PARTIALLY_FILLED"})

MSG_DUPLICATE = "Duplicate order sent."
MSG_INSUFFICIENT = "Account has insufficient balance for requested action."
MSG_NO_ORDER = "Order does not exist."
MSG_UNKNOWN_ORDER = "Unknown order sent."


class VenueReject(Exception):  # noqa: N818 — named after what the venue does, not an "Error" of ours
    """A request the venue refuses, with the code/message/status Binance sends for it."""

    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(f"{code} {msg}")
        self.code = code
        self.msg = msg
        self.status = status


def fmt(value: Decimal | None) -> str:
    """Binance renders every decimal with eight places ("0.00100000")."""
    return f"{(value or Decimal(0)):.8f}"


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    symbol: str
    base: str
    quote: str
    tick: Decimal
    step: Decimal
    min_qty: Decimal
    max_qty: Decimal = Decimal("9000")
    min_price: Decimal = Decimal("0.01")
    max_price: Decimal = Decimal("1000000")
    min_notional: Decimal = Decimal("5")
    max_notional: Decimal = Decimal("9000000")

    def info(self) -> dict[str, Any]:
        """The symbol's entry in /api/v3/exchangeInfo, shaped like the live answer."""
        return {
            "symbol": self.symbol,
            "status": "TRADING",
            "baseAsset": self.base,
            "baseAssetPrecision": 8,
            "quoteAsset": self.quote,
            "quotePrecision": 8,
            "quoteAssetPrecision": 8,
            "baseCommissionPrecision": 8,
            "quoteCommissionPrecision": 8,
            "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
            "icebergAllowed": True,
            "ocoAllowed": True,
            "otoAllowed": True,
            "quoteOrderQtyMarketAllowed": True,
            "allowTrailingStop": True,
            "cancelReplaceAllowed": True,
            "isSpotTradingAllowed": True,
            "isMarginTradingAllowed": False,
            "filters": [
                {
                    "filterType": "PRICE_FILTER",
                    "minPrice": fmt(self.min_price),
                    "maxPrice": fmt(self.max_price),
                    "tickSize": fmt(self.tick),
                },
                {
                    "filterType": "LOT_SIZE",
                    "minQty": fmt(self.min_qty),
                    "maxQty": fmt(self.max_qty),
                    "stepSize": fmt(self.step),
                },
                {
                    "filterType": "MARKET_LOT_SIZE",
                    "minQty": "0.00000000",
                    "maxQty": fmt(self.max_qty),
                    "stepSize": "0.00000000",
                },
                {
                    "filterType": "NOTIONAL",
                    "minNotional": fmt(self.min_notional),
                    "applyMinToMarket": True,
                    "maxNotional": fmt(self.max_notional),
                    "applyMaxToMarket": False,
                    "avgPriceMins": 5,
                },
            ],
            "permissions": [],
            "permissionSets": [["SPOT"]],
            "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
            "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
        }


DEFAULT_SYMBOLS = (
    SymbolSpec("BTCUSDT", "BTC", "USDT", tick=Decimal("0.01"), step=Decimal("0.00001"), min_qty=Decimal("0.00001")),
    SymbolSpec("ETHUSDT", "ETH", "USDT", tick=Decimal("0.01"), step=Decimal("0.0001"), min_qty=Decimal("0.0001")),
)


@dataclass(slots=True)
class Trade:
    id: int
    order_id: int
    symbol: str
    price: Decimal
    qty: Decimal
    commission: Decimal
    commission_asset: str
    time: int
    is_buyer: bool
    is_maker: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "id": self.id,
            "orderId": self.order_id,
            "orderListId": -1,
            "price": fmt(self.price),
            "qty": fmt(self.qty),
            "quoteQty": fmt(self.price * self.qty),
            "commission": fmt(self.commission),
            "commissionAsset": self.commission_asset,
            "time": self.time,
            "isBuyer": self.is_buyer,
            "isMaker": self.is_maker,
            "isBestMatch": True,
        }


@dataclass(slots=True)
class Order:
    order_id: int
    client_id: str
    spec: SymbolSpec
    side: str  # BUY / SELL
    type: str  # MARKET / LIMIT
    tif: str
    price: Decimal  # limit price; 0 for market orders (as Binance shows it)
    orig_qty: Decimal
    time: int
    orig_quote_qty: Decimal = Decimal(0)
    executed_qty: Decimal = Decimal(0)
    cum_quote: Decimal = Decimal(0)
    status: str = "NEW"
    update_time: int = 0
    locked: Decimal = Decimal(0)  # what is still locked for it, in quote (buy) or base (sell)
    trades: list[Trade] = field(default_factory=list)

    @property
    def remaining(self) -> Decimal:
        return self.orig_qty - self.executed_qty

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def as_json(self, *, resp_type: str = "QUERY", cancel_id: str | None = None) -> dict[str, Any]:
        """The order as GET /order (QUERY), POST /order (ACK/RESULT/FULL) or DELETE /order (CANCEL) show it."""
        head: dict[str, Any] = {"symbol": self.spec.symbol}
        if resp_type == "CANCEL":
            head |= {"origClientOrderId": self.client_id, "orderId": self.order_id, "orderListId": -1}
            head |= {"clientOrderId": cancel_id, "transactTime": self.update_time}
        else:
            head |= {"orderId": self.order_id, "orderListId": -1, "clientOrderId": self.client_id}
            if resp_type != "QUERY":
                head["transactTime"] = self.time
        if resp_type == "ACK":
            return head
        body = head | {
            "price": fmt(self.price),
            "origQty": fmt(self.orig_qty),
            "executedQty": fmt(self.executed_qty),
            "cummulativeQuoteQty": fmt(self.cum_quote),  # sic: Binance's spelling
            "status": self.status,
            "timeInForce": self.tif,
            "type": self.type,
            "side": self.side,
        }
        if resp_type == "QUERY":
            body |= {"stopPrice": fmt(None), "icebergQty": fmt(None), "time": self.time, "updateTime": self.update_time}
            body["isWorking"] = True
        if resp_type != "CANCEL":
            body |= {"workingTime": self.time, "origQuoteOrderQty": fmt(self.orig_quote_qty)}
        body["selfTradePreventionMode"] = "EXPIRE_MAKER"
        if resp_type == "FULL":
            body["fills"] = [
                {
                    "price": fmt(t.price),
                    "qty": fmt(t.qty),
                    "commission": fmt(t.commission),
                    "commissionAsset": t.commission_asset,
                    "tradeId": t.id,
                }
                for t in self.trades
            ]
        return body


class Book:
    """Balances, orders and fills of the single account the fake venue serves."""

    def __init__(self, symbols: tuple[SymbolSpec, ...] = DEFAULT_SYMBOLS) -> None:
        self.specs = {s.symbol: s for s in symbols}
        self.prices: dict[str, Decimal] = {}
        self.liquidity: dict[str, Decimal] = {}  # max base quantity a market order can take; absent = unlimited
        self.free: dict[str, Decimal] = {}
        self.locked: dict[str, Decimal] = {}
        self.orders: dict[int, Order] = {}
        self.by_client_id: dict[str, Order] = {}  # the latest order sent with each client id
        self.trades: list[Trade] = []
        self._order_ids = itertools.count(1000)
        self._trade_ids = itertools.count(5000)
        self._cancel_ids = itertools.count(1)

    # -- lookups -------------------------------------------------------------------------------------------
    def spec(self, symbol: str | None) -> SymbolSpec:
        if not symbol:
            raise VenueReject(-1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
        if symbol not in self.specs:
            raise VenueReject(-1121, "Invalid symbol.")
        return self.specs[symbol]

    def find(self, symbol: str, order_id: str | None, client_id: str | None) -> Order | None:
        if order_id is None and client_id is None:
            raise VenueReject(-1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!")
        order = self.orders.get(int(order_id)) if order_id is not None else self.by_client_id.get(client_id or "")
        if order is None or order.spec.symbol != symbol:
            return None
        if client_id is not None and order.client_id != client_id:
            return None
        return order

    # -- balances ------------------------------------------------------------------------------------------
    def deposit(self, asset: str, amount: Decimal) -> None:
        self.free[asset] = self.free.get(asset, Decimal(0)) + amount

    def _lock(self, asset: str, amount: Decimal) -> None:
        if self.free.get(asset, Decimal(0)) < amount:
            raise VenueReject(-2010, MSG_INSUFFICIENT)
        self.free[asset] -= amount
        self.locked[asset] = self.locked.get(asset, Decimal(0)) + amount

    def _unlock(self, asset: str, amount: Decimal) -> None:
        self.locked[asset] -= amount
        self.free[asset] = self.free.get(asset, Decimal(0)) + amount

    # -- orders --------------------------------------------------------------------------------------------
    def new_order(self, p: dict[str, str], now: int) -> Order:
        """Validate and place an order the way Binance does (filters, balance, duplicate id), then match it."""
        spec = self.spec(p.get("symbol"))
        side, otype = p.get("side", ""), p.get("type", "")
        if side not in ("BUY", "SELL"):
            raise VenueReject(-1102, "Mandatory parameter 'side' was not sent, was empty/null, or malformed.")
        if otype not in ("MARKET", "LIMIT"):
            raise VenueReject(-1116, "Invalid orderType.")
        client_id = p.get("newClientOrderId") or f"fake{next(self._cancel_ids)}"
        previous = self.by_client_id.get(client_id)
        if previous is not None and previous.is_open:
            raise VenueReject(-2010, MSG_DUPLICATE)
        price = self._decimal(p, "price") if otype == "LIMIT" else None
        if otype == "MARKET" and "price" in p:
            raise VenueReject(-1106, "Parameter 'price' sent when not required.")
        tif = p.get("timeInForce", "GTC")
        if otype == "LIMIT" and "timeInForce" not in p:
            raise VenueReject(-1102, "Mandatory parameter 'timeInForce' was not sent, was empty/null, or malformed.")
        market = self.prices.get(spec.symbol)
        if market is None:
            raise VenueReject(-1013, "Market is closed.")
        quote_qty = Decimal(0)
        if otype == "MARKET" and "quoteOrderQty" in p and "quantity" not in p:
            quote_qty = self._decimal(p, "quoteOrderQty")
            qty = (quote_qty / market).quantize(spec.step, rounding=ROUND_DOWN)
        else:
            qty = self._decimal(p, "quantity")
        self._check_filters(spec, qty, price, price if price is not None else market)
        order = Order(
            next(self._order_ids), client_id, spec, side, otype, tif, price or Decimal(0), qty, now, quote_qty
        )
        order.update_time = now
        if otype == "LIMIT":
            assert price is not None
            if side == "BUY":
                self._lock(spec.quote, price * qty)
                order.locked = price * qty
            else:
                self._lock(spec.base, qty)
                order.locked = qty
        else:
            cost = qty * market if side == "BUY" else qty
            if self.free.get(spec.quote if side == "BUY" else spec.base, Decimal(0)) < cost:
                raise VenueReject(-2010, MSG_INSUFFICIENT)
        self.orders[order.order_id] = order
        self.by_client_id[client_id] = order
        self._match_new(order, market, now)
        return order

    def _decimal(self, p: dict[str, str], name: str) -> Decimal:
        raw = p.get(name)
        if raw is None or raw == "":
            raise VenueReject(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")
        try:
            value = Decimal(raw)
        except ArithmeticError:
            value = Decimal("NaN")
        if not value.is_finite() or value <= 0:
            raise VenueReject(-1100, f"Illegal characters found in parameter '{name}'; legal range is '{_LEGAL}'.")
        if value != value.quantize(_E8, rounding=ROUND_DOWN):
            raise VenueReject(-1111, f"Parameter '{name}' has too much precision.")
        return value

    @staticmethod
    def _check_filters(spec: SymbolSpec, qty: Decimal, price: Decimal | None, ref_price: Decimal) -> None:
        if price is not None and (price < spec.min_price or price > spec.max_price or price % spec.tick != 0):
            raise VenueReject(-1013, "Filter failure: PRICE_FILTER")
        if qty < spec.min_qty or qty > spec.max_qty or (qty - spec.min_qty) % spec.step != 0:
            raise VenueReject(-1013, "Filter failure: LOT_SIZE")
        notional = qty * ref_price
        if notional < spec.min_notional or (price is not None and notional > spec.max_notional):
            raise VenueReject(-1013, "Filter failure: NOTIONAL")

    def _match_new(self, order: Order, market: Decimal, now: int) -> None:
        if order.type == "MARKET":
            cap = self.liquidity.get(order.spec.symbol)
            qty = order.orig_qty if cap is None else min(order.orig_qty, cap)
            if qty > 0:
                self._fill(order, qty, market, now, maker=False)
            if order.is_open:  # ran out of liquidity: the rest of a market order expires
                order.status = "EXPIRED"
            return
        crosses = market <= order.price if order.side == "BUY" else market >= order.price
        if crosses:  # a marketable limit order takes at the market price
            self._fill(order, order.remaining, market, now, maker=False)
        elif order.tif in ("IOC", "FOK"):
            self._release(order)
            order.status = "EXPIRED"

    def _fill(self, order: Order, qty: Decimal, price: Decimal, now: int, *, maker: bool) -> Trade:
        """Execute `qty` of `order` at `price`: move balances, charge the fee in the asset received."""
        spec = order.spec
        quote = qty * price
        if order.side == "BUY":
            if order.type == "LIMIT":
                # pro rata to the quantity; the last fill releases whatever is left
                release = order.price * qty if qty < order.remaining else order.locked
                order.locked -= release
                self._unlock(spec.quote, release)
            self.free[spec.quote] -= quote
            fee, fee_asset = (qty * FEE_RATE).quantize(_E8), spec.base
            self.deposit(spec.base, qty - fee)
        else:
            if order.type == "LIMIT":
                order.locked -= qty
                self._unlock(spec.base, qty)
            self.free[spec.base] -= qty
            fee, fee_asset = (quote * FEE_RATE).quantize(_E8), spec.quote
            self.deposit(spec.quote, quote - fee)
        trade = Trade(next(self._trade_ids), order.order_id, spec.symbol, price, qty, fee, fee_asset, now,
                      order.side == "BUY", maker)  # fmt: skip
        order.trades.append(trade)
        self.trades.append(trade)
        order.executed_qty += qty
        order.cum_quote += quote
        order.status = "FILLED" if order.remaining == 0 else "PARTIALLY_FILLED"
        order.update_time = now
        return trade

    def _release(self, order: Order) -> None:
        if order.locked:
            self._unlock(order.spec.quote if order.side == "BUY" else order.spec.base, order.locked)
            order.locked = Decimal(0)

    def cancel(self, symbol: str, order_id: str | None, client_id: str | None, now: int) -> tuple[Order, str]:
        order = self.find(symbol, order_id, client_id)
        if order is None or not order.is_open:
            raise VenueReject(-2011, MSG_UNKNOWN_ORDER)
        self._release(order)
        order.status = "CANCELED"
        order.update_time = now
        return order, f"cancel{next(self._cancel_ids)}"

    def expire(self, order: Order, now: int) -> None:
        self._release(order)
        order.status = "EXPIRED"
        order.update_time = now

    def set_price(self, symbol: str, price: Decimal, now: int) -> list[Trade]:
        """Move the market; resting limit orders it reaches fill in full at their limit price (maker)."""
        self.spec(symbol)
        self.prices[symbol] = price
        trades = []
        for order in list(self.orders.values()):
            if order.spec.symbol != symbol or order.type != "LIMIT" or not order.is_open:
                continue
            if (order.side == "BUY" and price <= order.price) or (order.side == "SELL" and price >= order.price):
                trades.append(self._fill(order, order.remaining, order.price, now, maker=True))
        return trades

    def partial_fill(self, order: Order, qty: Decimal, now: int) -> Trade:
        if not order.is_open or order.type != "LIMIT":
            raise ValueError(f"order {order.client_id} is {order.status} {order.type}: only open limit orders fill")
        if qty <= 0 or qty > order.remaining or qty % order.spec.step != 0:
            raise ValueError(f"fill quantity {qty} must be a positive multiple of the step up to {order.remaining}")
        return self._fill(order, qty, order.price, now, maker=True)

    def balances_json(self) -> list[dict[str, str]]:
        assets = sorted(set(self.free) | set(self.locked))
        return [{"asset": a, "free": fmt(self.free.get(a)), "locked": fmt(self.locked.get(a))} for a in assets]
