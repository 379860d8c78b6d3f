"""A live spot venue through `ccxt.async_support`: instruments, balances, orders, trades and bars.

Every call goes through the venue's circuit breaker. Reads and cancels are also retried
(`aretry_idempotent`, honouring the venue's Retry-After); `submit` never is, because a lost answer
to `create_order` may hide a placed order (VENUE_NOTES, "Order identity"). After an unknown outcome
`submit` looks the order up by our client order id and reports either the order it found or
NOT_PLACED, which is the only answer that makes resending safe.

Exactness: incoming numbers become Decimals as `ccxt_models` explains (shortest float repr). Outgoing
amounts and prices are passed to `create_order` as decimal strings already on the tick/lot grid;
ccxt's precision helpers (`amount_to_precision`, `price_to_precision`) work on decimal strings, so an
on-grid string reaches the venue unchanged (the tests check the wire values).

ccxt is imported when a `CcxtVenue` is built, never at module import.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from typing import Any

from atb.domain.enums import OrderSide, OrderType, TimeInForce
from atb.domain.instrument import Instrument
from atb.domain.money import Price, Quantity
from atb.domain.orders import Order
from atb.errors import MissingExtraError, UserInputError
from atb.venues.breaker import CircuitBreaker
from atb.venues.ccxt_client import SPOT_OPTIONS
from atb.venues.ccxt_models import (
    OrderAck,
    OrderUnknownError,
    SubmitOutcome,
    UnsupportedOrderError,
    VenueFee,
    VenueOrder,
    VenueTrade,
    parse_order,
    parse_trade,
    to_decimal_exact,
    to_decimal_or_zero,
    venue_reason,
)
from atb.venues.errors import (
    CircuitOpenError,
    VenueErrorKind,
    classify,
    describe,
    parse_retry_after,
    retry_after_seconds,
)
from atb.venues.retry import aretry_idempotent

__all__ = [
    "DEFAULT_OPTIONS",
    "CcxtVenue",
    "OrderAck",
    "OrderUnknownError",
    "SubmitOutcome",
    "UnsupportedOrderError",
    "VenueFee",
    "VenueOrder",
    "VenueTrade",
]

DEFAULT_OPTIONS: dict[str, Any] = dict(SPOT_OPTIONS)
"""ccxt options that keep a Binance-style client on spot endpoints only (VENUE_NOTES); `options` extends them."""

CLIENT_ID_PARAM = "newClientOrderId"
"""The venue parameter that carries our client order id on a new order (Binance's name; ccxt passes it on)."""
LOOKUP_ID_PARAM = "origClientOrderId"
"""The parameter that names an existing order by client order id in queries and cancels."""

_TIF = {TimeInForce.GTC: "GTC", TimeInForce.IOC: "IOC", TimeInForce.FOK: "FOK"}


def _import_ccxt() -> Any:
    try:
        return importlib.import_module("ccxt.async_support")
    except ImportError as err:
        raise MissingExtraError("live trading", "live", "ccxt") from err


class CcxtVenue:
    """One exchange account through ccxt's async client; build one per event loop, `await close()` at the end."""

    def __init__(
        self,
        exchange_id: str = "binance",
        *,
        api_key: str | None = None,
        secret: str | None = None,
        urls: Mapping[str, str] | None = None,
        options: Mapping[str, Any] | None = None,
        breaker: CircuitBreaker | None = None,
        logger: logging.Logger | None = None,
        config: Mapping[str, Any] | None = None,
        retry_attempts: int = 5,
        retry_base: float = 0.2,
        retry_max_delay: float = 10.0,
        max_retry_after: float = 60.0,
    ) -> None:
        """`urls` replaces entries of ccxt's `urls["api"]` (e.g. public/private/sapi); `config` extends the
        ccxt constructor settings (timeout, rateLimit ...)."""
        self._ccxt = _import_ccxt()
        factory = getattr(self._ccxt, exchange_id, None)
        if exchange_id not in getattr(self._ccxt, "exchanges", ()) or factory is None:
            raise UserInputError(f"unknown ccxt exchange id {exchange_id!r}")
        settings: dict[str, Any] = {
            "enableRateLimit": True,
            "options": DEFAULT_OPTIONS | dict(options or {}),
        }
        if api_key is not None:
            settings["apiKey"] = api_key
        if secret is not None:
            settings["secret"] = secret
        settings |= dict(config or {})
        self.exchange: Any = factory(settings)
        if urls:
            self.exchange.urls["api"] = dict(self.exchange.urls["api"]) | dict(urls)
        self.breaker = breaker if breaker is not None else CircuitBreaker(exchange_id)
        self.log = logger if logger is not None else logging.getLogger(__name__)
        self._retry_attempts = retry_attempts
        self._retry_base = retry_base
        self._retry_max_delay = retry_max_delay
        self._max_retry_after = max_retry_after
        self.instruments: dict[str, Instrument] = {}

    # ------------------------------------------------------------------ plumbing

    async def _read(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """An idempotent ccxt call (read or cancel): breaker around each attempt, retried on venue trouble."""
        method: Callable[..., Awaitable[Any]] = getattr(self.exchange, name)

        async def attempt() -> Any:
            return await self.breaker.acall(method, *args, **kwargs)

        attempt.__name__ = attempt.__qualname__ = name  # the retry helper checks and logs the ccxt name
        return await aretry_idempotent(
            attempt,
            attempts=self._retry_attempts,
            base=self._retry_base,
            max_delay=self._retry_max_delay,
            max_retry_after=self._max_retry_after,
            retry_after=self._retry_after,
        )

    def _retry_after(self, exc: BaseException) -> float | None:
        """Retry-After from the error, else (rate limits only) from the headers ccxt kept of the last answer.

        The headers belong to the last response of this client, so concurrent calls may race; only a
        rate-limit error reads them, and a wrong value only shifts one wait.
        """
        explicit = retry_after_seconds(exc)
        if explicit is not None or not isinstance(exc, self._ccxt.DDoSProtection | self._ccxt.RateLimitExceeded):
            return explicit
        headers = getattr(self.exchange, "last_response_headers", None) or {}
        for key, value in headers.items():
            if str(key).lower() == "retry-after":
                return parse_retry_after(value)
        return None

    async def close(self) -> None:
        await self.exchange.close()

    # ------------------------------------------------------------------ reference data and account

    async def load_instruments(self) -> dict[str, Instrument]:
        """Spot markets as Instruments keyed by unified symbol ("BTC/USDT"); inactive markets are skipped."""
        markets: dict[str, Any] = await self._read("load_markets")
        mode = self.exchange.precisionMode
        instruments: dict[str, Instrument] = {}
        for symbol, market in markets.items():
            if not market.get("spot") or market.get("active") is False:
                continue
            tick = self._step(market["precision"].get("price"), mode, symbol, "price")
            lot = self._step(market["precision"].get("amount"), mode, symbol, "amount")
            limits = market.get("limits") or {}
            instruments[symbol] = Instrument.spot(
                symbol,
                tick=tick,
                lot=lot,
                min_quantity=to_decimal_or_zero((limits.get("amount") or {}).get("min")),
                min_notional=to_decimal_or_zero((limits.get("cost") or {}).get("min")),
                maker_fee=to_decimal_or_zero(market.get("maker")),
                taker_fee=to_decimal_or_zero(market.get("taker")),
            )
        self.instruments = instruments
        return instruments

    def _step(self, precision: Any, mode: int, symbol: str, what: str) -> Decimal:
        """The grid step from ccxt's precision: a tick size, or a number of decimal places."""
        value = to_decimal_exact(precision)
        if value is None:
            raise UserInputError(f"{symbol}: the venue gives no {what} precision")
        if mode == self._ccxt.TICK_SIZE:
            return value
        if mode == self._ccxt.DECIMAL_PLACES:
            return Decimal(1).scaleb(-int(value))
        raise UserInputError(f"{symbol}: ccxt precision mode {mode} (significant digits) is not supported")

    async def balances(self) -> dict[str, tuple[Decimal, Decimal]]:
        """(free, locked) per asset the venue reports."""
        raw = await self._read("fetch_balance")
        free, used = raw.get("free") or {}, raw.get("used") or {}
        return {
            asset: (to_decimal_or_zero(free.get(asset)), to_decimal_or_zero(used.get(asset)))
            for asset in sorted(set(free) | set(used))
        }

    # ------------------------------------------------------------------ orders

    def _request(self, order: Order, instrument: Instrument) -> tuple[str, str, str | None, str | None, dict[str, Any]]:
        """(type, side, amount, price, params) for `create_order`, amounts as exact on-grid decimal strings."""
        cid = str(order.client_order_id)
        if order.order_type in (OrderType.STOP_MARKET, OrderType.STOP_LIMIT):
            raise UnsupportedOrderError(
                f"order {cid}: {order.order_type.value} orders are not supported by the ccxt venue yet"
            )
        if order.reduce_only and order.side is OrderSide.BUY:
            raise UnsupportedOrderError(f"order {cid}: a reduce-only buy has no short to reduce on spot")
        # A reduce-only sell goes out as a plain sell: spot has no shorts, and the venue refuses to sell
        # more than the account holds, so it can only reduce (Binance spot has no reduce-only flag).
        if order.equity_fraction is not None and order.lots is None:
            raise UnsupportedOrderError(f"order {cid}: resolve the equity fraction to a quantity before sending")
        params: dict[str, Any] = {CLIENT_ID_PARAM: cid}
        amount: str | None = None
        if order.lots is not None:
            amount = str(Quantity.from_lots(order.lots, instrument.lot))
        elif order.notional_units is not None:  # market order sized in quote: ccxt's unified `cost`
            params["cost"] = str(Decimal(order.notional_units) * instrument.quote.unit)
        price: str | None = None
        if order.order_type is OrderType.LIMIT:
            assert order.limit_ticks is not None  # the Order constructor guarantees it
            price = str(Price.from_ticks(order.limit_ticks, instrument.tick))
            params["timeInForce"] = _TIF[order.tif]
            if order.post_only:
                params["postOnly"] = True
        elif order.tif is not TimeInForce.GTC:
            raise UnsupportedOrderError(f"order {cid}: time in force applies to limit orders only")
        return order.order_type.value, order.side.value, amount, price, params

    async def submit(self, order: Order, instrument: Instrument) -> OrderAck:
        """Send a new order once. Raises CircuitOpenError (nothing sent), UnsupportedOrderError, and
        clock/key/unclassified venue errors; every other outcome is an `OrderAck`."""
        cid = str(order.client_order_id)
        symbol = str(instrument.id)
        otype, side, amount, price, params = self._request(order, instrument)
        try:
            raw = await self.breaker.acall(self.exchange.create_order, symbol, otype, side, amount, price, params)
        except CircuitOpenError:
            raise
        except Exception as exc:
            return await self._after_failed_submit(exc, cid, symbol)
        return OrderAck(SubmitOutcome.ACCEPTED, cid, parse_order(raw))

    async def _after_failed_submit(self, exc: Exception, cid: str, symbol: str) -> OrderAck:
        kind = classify(exc, idempotent=False)
        reason = venue_reason(exc, self.exchange.id)
        duplicate = kind is VenueErrorKind.REJECTED and "duplicate order" in str(exc).lower()
        if kind is VenueErrorKind.UNKNOWN_OUTCOME or duplicate:
            # Duplicate: an open order with this id exists (an earlier send of ours), so report that one.
            self.log.warning("order %s: outcome unknown (%s); looking it up by client id", cid, describe(exc))
            return await self._look_up(cid, symbol, reason)
        if kind is VenueErrorKind.REJECTED:
            self.log.info("order %s rejected by the venue: %s", cid, reason)
            return OrderAck(SubmitOutcome.REJECTED, cid, reason=reason)
        if kind is VenueErrorKind.RETRY_SAFE:  # a rate limit: refused before processing
            return OrderAck(SubmitOutcome.NOT_PLACED, cid, reason=reason)
        raise exc

    async def _look_up(self, cid: str, symbol: str, reason: str) -> OrderAck:
        try:
            found = await self.fetch_order(cid, symbol)
        except OrderUnknownError:
            self.log.warning("order %s was not placed (%s): safe to resend", cid, reason)
            return OrderAck(SubmitOutcome.NOT_PLACED, cid, reason=reason)
        except Exception as exc:
            self.log.error("order %s: outcome unknown and the look-up failed (%s)", cid, describe(exc))
            return OrderAck(SubmitOutcome.UNKNOWN, cid, reason=f"{reason}; look-up failed: {describe(exc)}")
        self.log.warning("order %s was placed although its answer was lost: %s", cid, found.status.value)
        return OrderAck(SubmitOutcome.ACCEPTED, cid, found, reason=reason, recovered=True)

    async def fetch_order(self, client_order_id: str, symbol: str) -> VenueOrder:
        """The order's current state by our client id; OrderUnknownError if the venue has no such order."""
        try:
            raw = await self._read("fetch_order", None, symbol, {LOOKUP_ID_PARAM: client_order_id})
        except self._ccxt.OrderNotFound as exc:
            raise OrderUnknownError(f"venue has no order {client_order_id!r} on {symbol}") from exc
        return parse_order(raw)

    async def cancel(self, client_order_id: str, symbol: str) -> VenueOrder:
        """Cancel by client id and return the order's state after it.

        "Unknown order" on a cancel often means it is already gone — filled, cancelled, or cancelled by
        our own first request whose answer was lost and that aiohttp resent (VENUE_NOTES) — so the order
        is then fetched and returned as it stands.
        """
        try:
            raw = await self._read("cancel_order", None, symbol, {LOOKUP_ID_PARAM: client_order_id})
        except self._ccxt.OrderNotFound:
            self.log.info("cancel %s: venue says unknown order; fetching its status", client_order_id)
            return await self.fetch_order(client_order_id, symbol)
        return parse_order(raw)

    async def open_orders(self, symbol: str | None = None) -> list[VenueOrder]:
        return [parse_order(raw) for raw in await self._read("fetch_open_orders", symbol)]

    async def my_trades(self, symbol: str, since: int | None = None) -> list[VenueTrade]:
        """Our fills on `symbol` from `since` (epoch ms) on, oldest first."""
        return [parse_trade(raw) for raw in await self._read("fetch_my_trades", symbol, since)]

    async def ohlcv(
        self, symbol: str, timeframe: str, since: int | None = None, limit: int | None = None
    ) -> list[tuple[int, float, float, float, float, float]]:
        """Bars as (open time ms, open, high, low, close, volume); market data stays float64."""
        rows = await self._read("fetch_ohlcv", symbol, timeframe, since, limit)
        return [(int(r[0]), float(r[1]), float(r[2]), float(r[3]), float(r[4]), float(r[5])) for r in rows]
