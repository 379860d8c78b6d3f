"""The node's order path: size, risk-check, persist, send, and book what the venue reports.

The strategy calls `submit`/`cancel` synchronously from `on_bar`; nothing leaves the process
there. `submit` sizes the order, runs the pre-trade risk engine and commits the intent (or the
denial) to the database; `flush` then sends what was approved, one order at a time, committing
`OrderSubmitted` *before* the request goes out, so after a crash every order that may have
reached the venue is known and is looked up by its client order id (never resent blindly).
`sync` asks the venue what happened since — fills by trade id (never booked twice), final
states, and orders whose acknowledgement was lost — and books each fill into the exact ledger.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from decimal import ROUND_CEILING, Decimal

from atb.domain import (
    Account,
    AccountMode,
    ClientOrderIdFactory,
    Instrument,
    Order,
    OrderFilled,
    OrderSide,
    OrderStatus,
)
from atb.domain.events import (
    OrderAccepted,
    OrderCanceled,
    OrderCancelRequested,
    OrderDenied,
    OrderEvent,
    OrderExpired,
    OrderRejected,
    OrderSubmitted,
)
from atb.domain.ids import InstrumentId, VenueOrderId
from atb.domain.money import Rounding, product, units_of
from atb.node.exchange import Balances, ExchangeClient
from atb.node.fills import base_fee, to_fill
from atb.node.persistence import NodeStore
from atb.risk import RiskEngine, RiskState
from atb.strategy.context import OrderRequest
from atb.venues.ccxt_models import OrderUnknownError, SubmitOutcome, UnsupportedOrderError, VenueOrder
from atb.venues.errors import CircuitOpenError, describe

FillListener = Callable[[OrderFilled], None]
OrderListener = Callable[[Order], None]

TRADE_LOOKBACK_MS = 3_600_000
"""Trades are read from an hour before an order was created: the venue's clock and ours may differ,
and a paper venue stamps fills with bar times. Trades are de-duplicated by id, so the margin only
costs a few extra rows per read."""

_CAN_REQUEST_CANCEL = (OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED)
_FINAL = {
    OrderStatus.CANCELED: "canceled",
    OrderStatus.EXPIRED: "expired",
    OrderStatus.REJECTED: "rejected",
}


class OrderRouter:
    """Orders of one run between the strategy, the risk engine, the database and the venue."""

    def __init__(
        self,
        exchange: ExchangeClient,
        store: NodeStore,
        account: Account,
        instruments: Mapping[str, Instrument],
        risk: RiskEngine,
        ids: ClientOrderIdFactory,
        *,
        marks: Callable[[], Mapping[str, int]],
        on_fill: FillListener,
        on_order: OrderListener,
        logger: logging.Logger | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
        lookup_grace_seconds: float = 30.0,
        market_headroom: Decimal = Decimal("0.002"),
        on_reject: Callable[[str], None] | None = None,
        on_roundtrip: Callable[[float], None] | None = None,
    ) -> None:
        self.exchange = exchange
        self.store = store
        self.account = account
        self.instruments = dict(instruments)
        self.risk = risk
        self.ids = ids
        self._marks = marks
        self._on_fill = on_fill
        self._on_order = on_order
        self._on_reject = on_reject
        self._on_roundtrip = on_roundtrip
        self.log = logger or logging.getLogger("atb.node")
        self.clock_ns = clock_ns
        self.lookup_grace_ns = int(lookup_grace_seconds * 1e9)
        self.market_headroom = market_headroom
        """A market order sized by notional or equity fraction is sized at the last price plus this much,
        so a small move before it fills does not make the venue refuse it for funds."""
        self.orders: dict[str, Order] = {}
        """Orders that are not closed yet, by client order id."""
        self._by_venue_id: dict[str, Order] = {}
        self._outbox: list[Order] = []
        self._cancels: list[Order] = []
        self._seen_trades: set[str] = set()
        self._trades_since: dict[str, int] = {}
        self.venue_free: dict[str, Decimal] = {}
        """The venue's free balance per asset as last read, moved by our own fills since."""
        self.halted = False
        self._flattening: set[str] = set()
        self.fills_booked = 0
        self.submitted = 0
        """Orders the strategy (or the kill switch) asked for in this process, denied ones included."""

    # --- adoption (start-up) ----------------------------------------------------------------------
    def adopt(self, order: Order) -> None:
        """Track an order restored from the database (its fills are already in `seen_trades`)."""
        self._seen_trades.update(str(t) for t in order.trade_ids)
        if order.is_closed:
            return
        self.orders[order.client_order_id] = order
        if order.venue_order_id is not None:
            self._by_venue_id[str(order.venue_order_id)] = order
        self._look_back(order)

    def _look_back(self, order: Order) -> None:
        """Read trades of the order's symbol from a margin before it was created (clocks differ)."""
        since = order.ts_init // 1_000_000 - TRADE_LOOKBACK_MS
        symbol = str(order.instrument_id)
        self._trades_since[symbol] = min(self._trades_since.get(symbol, since), since)

    def seen(self, trade_ids: set[str]) -> None:
        self._seen_trades |= trade_ids

    # --- strategy side (synchronous) ---------------------------------------------------------------
    def submit(self, request: OrderRequest, *, flatten: bool = False) -> Order:
        """Size, check and record an order; it is sent at the next `flush`.

        `flatten` marks the kill switch's own closing orders: they skip the risk limits and the
        halt (they are how a halted run gets flat) but are sized and capped like any other.
        """
        symbol = request.symbol
        inst = self.instruments[symbol]
        now = self.clock_ns()
        # positional, as the backtest context builds it
        symbol_, side, order_type, lots, notional, fraction, limit, stop, tif, post_only, reduce_only, tag = request
        order = Order(
            self.ids.next(), InstrumentId(symbol_), side, order_type, lots, notional, fraction, limit, stop, tif,
            post_only, reduce_only, now, tag,
        )  # fmt: skip
        self.submitted += 1
        reason = self._size(order, inst)
        if reason is None and not flatten:
            reason = self._risk_denial(order, inst)
        if flatten:
            self._flattening.add(order.client_order_id)
        self.store.record_intent(order)
        if reason is not None:
            self._deny(order, reason)
            return order
        self.orders[order.client_order_id] = order
        self._outbox.append(order)
        return order

    def cancel(self, order: Order) -> None:
        if order in self._outbox:
            self._outbox.remove(order)
            self.orders.pop(order.client_order_id, None)
            self._deny(order, "cancelled before it was sent")
            return
        if order.is_open and order not in self._cancels:
            self._cancels.append(order)

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        return [o for o in self.orders.values() if o.is_open and (symbol is None or o.instrument_id == symbol)]

    def _deny(self, order: Order, reason: str) -> None:
        now = self.clock_ns()
        self.store.apply(order, OrderDenied(order.client_order_id, now, now, reason))
        self.log.info("order %s denied: %s", order.client_order_id, reason)
        if self._on_reject is not None:
            self._on_reject(reason.split(":")[0])
        self._on_order(order)

    def _size(self, order: Order, inst: Instrument) -> str | None:
        """Resolve a notional/fraction size to lots at the last price; cap spot sells. Why not, or None."""
        mark = self._marks().get(str(inst.id))
        if order.lots is None:
            if mark is None:
                return "no last price to size the order"
            ticks = order.limit_ticks or order.stop_ticks or mark
            if order.limit_ticks is None:  # a market order fills at a price not known yet: leave headroom
                ticks = int(product(Decimal(ticks), 1 + self.market_headroom).to_integral_value(ROUND_CEILING))
            if order.notional_units is not None:
                budget = Decimal(order.notional_units)
            else:
                assert order.equity_fraction is not None
                equity = self.account.equity_units(self._position_marks())
                budget = product(Decimal(equity), order.equity_fraction)
            unit = Decimal(ticks * inst.notional_factor)
            cost_per_lot = product(unit, Decimal(1) + max(inst.taker_fee.rate, Decimal(0)))
            lots = units_of(budget, cost_per_lot, Rounding.DOWN)
            if lots <= 0:
                return "size rounds to zero lots at the last price"
            order.resolve_lots(lots)
        assert order.lots is not None
        if order.side is OrderSide.SELL and self.account.mode is AccountMode.SPOT:
            held = self.account.position(inst).lots
            if order.lots > held:
                return f"spot: cannot sell {order.lots} lots, the run holds {held}"
            free = self.venue_free.get(inst.base.code)
            if free is not None:
                sellable = units_of(free, inst.lot, Rounding.DOWN)
                if sellable < order.lots:
                    if sellable < inst.min_lots:
                        return f"the venue holds {free} {inst.base.code} free: below one order's minimum"
                    self.log.warning(
                        "order %s: sell trimmed from %s to %s lots: the venue holds %s %s free (fees taken in %s)",
                        order.client_order_id, order.lots, sellable, free, inst.base.code, inst.base.code,
                    )  # fmt: skip
                    order.lots = sellable
        return None

    def _position_marks(self) -> dict[InstrumentId, int]:
        marks = self._marks()
        return {iid: marks[str(iid)] for iid, pos in self.account.positions.items() if pos.lots}

    def _risk_denial(self, order: Order, inst: Instrument) -> str | None:
        if self.halted:
            return "kill_switch: the run is halted"
        marks = self._marks()
        prices = {
            InstrumentId(sym): product(Decimal(t), self.instruments[sym].tick)
            for sym, t in marks.items()
            if sym in self.instruments
        }
        state = RiskState.from_account(self.account, prices, instruments=[inst], open_orders=len(self.open_orders()))
        decision = self.risk.check(order, state)
        return None if decision.approved else f"{decision.reason.value}: {decision.message}"

    # --- venue side (asynchronous) -------------------------------------------------------------------
    async def flush(self) -> None:
        """Send approved orders and requested cancels; then `sync` picks up what they did."""
        while self._outbox:
            order = self._outbox.pop(0)
            await self._send(order)
        while self._cancels:
            order = self._cancels.pop(0)
            await self._send_cancel(order)

    async def _send(self, order: Order) -> None:
        cid = order.client_order_id
        inst = self.instruments[str(order.instrument_id)]
        if self.halted and cid not in self._flattening:
            self.orders.pop(cid, None)
            self._deny(order, "kill_switch: the run is halted")
            return
        now = self.clock_ns()
        self.store.apply(order, OrderSubmitted(cid, now, now))  # committed before the request leaves
        self.risk.record_submission(now)
        started = time.monotonic()
        try:
            ack = await self.exchange.submit(order, inst)
        except (CircuitOpenError, UnsupportedOrderError) as exc:  # nothing was sent
            self._reject(order, str(exc))
            return
        except Exception as exc:
            self.log.error("order %s: send failed (%s); will look it up by client id", cid, describe(exc))
            return
        if self._on_roundtrip is not None:
            self._on_roundtrip(time.monotonic() - started)
        if ack.outcome is SubmitOutcome.ACCEPTED:
            assert ack.order is not None
            self._accept(order, ack.order)
            if ack.recovered:
                self.store.audit("order_recovered", {"client_order_id": cid, "reason": ack.reason})
        elif ack.outcome is SubmitOutcome.REJECTED:
            self._reject(order, f"venue: {ack.reason}")
        elif ack.outcome is SubmitOutcome.NOT_PLACED:
            self._reject(order, f"not placed: {ack.reason}")
        else:
            self.log.warning("order %s: outcome unknown (%s); looking it up at the next sync", cid, ack.reason)

    def _accept(self, order: Order, venue_order: VenueOrder) -> None:
        now = self.clock_ns()
        vid = venue_order.venue_order_id
        self.store.apply(order, OrderAccepted(order.client_order_id, now, now, VenueOrderId(vid)))
        self._by_venue_id[vid] = order
        self._look_back(order)

    def _reject(self, order: Order, reason: str) -> None:
        now = self.clock_ns()
        self.store.apply(order, OrderRejected(order.client_order_id, now, now, reason))
        self.log.info("order %s rejected: %s", order.client_order_id, reason)
        if self._on_reject is not None:
            self._on_reject(reason.split(":")[0])
        self._closed(order)

    async def _send_cancel(self, order: Order) -> None:
        if not order.is_open:
            return
        cid = order.client_order_id
        if order.status in _CAN_REQUEST_CANCEL:
            now = self.clock_ns()
            self.store.apply(order, OrderCancelRequested(cid, now, now))
        try:
            venue_order = await self.exchange.cancel(cid, str(order.instrument_id))
        except Exception as exc:
            self.log.warning("cancel %s failed (%s); the next sync reads its state", cid, describe(exc))
            return
        await self._pull_trades(str(order.instrument_id))
        self._apply_final(order, venue_order)

    async def sync(self, *, startup: bool = False) -> None:
        """Read fills and order states from the venue and book them (idempotent; call it often)."""
        await self._resolve_unacknowledged(startup)
        symbols = sorted({str(o.instrument_id) for o in self.orders.values() if o.venue_order_id is not None})
        for symbol in symbols:
            await self._pull_trades(symbol)
            try:
                venue_open = {vo.client_order_id for vo in await self.exchange.open_orders(symbol)}
            except Exception as exc:
                self.log.warning("open orders of %s unavailable (%s)", symbol, describe(exc))
                continue
            for order in [o for o in self.orders.values() if str(o.instrument_id) == symbol]:
                if order.venue_order_id is None or order.client_order_id in venue_open:
                    continue
                try:
                    venue_order = await self.exchange.fetch_order(order.client_order_id, symbol)
                except Exception as exc:
                    self.log.warning("state of %s unavailable (%s)", order.client_order_id, describe(exc))
                    continue
                self._apply_final(order, venue_order)

    async def _resolve_unacknowledged(self, startup: bool) -> None:
        """Orders that may have reached the venue without our knowing: ask by client order id.

        An intent never marked submitted was never sent (the mark is committed before the request
        leaves), so at start-up it is closed at once. A submitted order the venue does not know is
        given `lookup_grace_seconds` from its sending before it is called "not placed": a request
        still in flight can arrive late, but not later than the client's timeout plus the venue's
        receive window (Binance: 10 s + 5 s by default), after which the venue refuses it.
        """
        now = self.clock_ns()
        for order in [o for o in self.orders.values() if o.venue_order_id is None and o not in self._outbox]:
            cid = order.client_order_id
            try:
                venue_order = await self.exchange.fetch_order(cid, str(order.instrument_id))
            except OrderUnknownError:
                if order.status is OrderStatus.INITIALIZED and startup:
                    self._deny(order, "never sent: the node stopped between recording and sending it")
                    self.orders.pop(cid, None)
                    self.store.audit("reconcile_not_placed", {"client_order_id": cid})
                elif order.status is not OrderStatus.INITIALIZED and now - order.ts_last > self.lookup_grace_ns:
                    self._reject(order, "never reached the venue (checked by client order id)")
                    self.store.audit("reconcile_not_placed", {"client_order_id": cid})
                continue
            except Exception as exc:
                self.log.warning("look-up of %s failed (%s); retrying at the next sync", cid, describe(exc))
                continue
            if order.status is OrderStatus.INITIALIZED:
                ts = self.clock_ns()
                self.store.apply(order, OrderSubmitted(cid, ts, ts))
            self.log.warning("order %s found at the venue (%s) although its answer was lost", cid, venue_order.status)
            self.store.audit(
                "reconcile_found_order", {"client_order_id": cid, "venue_status": venue_order.venue_status}
            )
            self._accept(order, venue_order)

    async def _pull_trades(self, symbol: str) -> None:
        since = self._trades_since.get(symbol)
        try:
            trades = await self.exchange.my_trades(symbol, since)
        except Exception as exc:
            self.log.warning("trades of %s unavailable (%s); retrying at the next sync", symbol, describe(exc))
            return
        inst = self.instruments[symbol]
        for trade in sorted(trades, key=lambda t: (t.timestamp_ms or 0, t.trade_id)):
            if trade.trade_id in self._seen_trades or trade.venue_order_id is None:
                continue
            order = self._by_venue_id.get(trade.venue_order_id)
            if order is None:
                continue  # not one of this run's orders
            fill = to_fill(trade, order.client_order_id, inst, ts_init=self.clock_ns())
            self._book(order, fill, base_fee(trade, inst))
            if trade.timestamp_ms is not None:
                self._trades_since[symbol] = max(self._trades_since.get(symbol, 0), trade.timestamp_ms)

    def _book(self, order: Order, fill: OrderFilled, fee_in_base: Decimal) -> None:
        inst = fill.instrument
        self.store.apply(order, fill)
        self._seen_trades.add(str(fill.trade_id))
        self.fills_booked += 1
        # The venue already executed this: book it without the funds check a new order gets.
        self.account.book(inst, fill.position_lots, fill.ticks, fill.fee_units, fill.ts_event)
        self.store.save_position(self.account.position(inst))
        base = inst.base.code
        if base in self.venue_free:
            moved = product(Decimal(fill.signed_lots), inst.lot) - fee_in_base
            self.venue_free[base] += moved
        self.log.info("fill %s", fill.describe())
        self._on_fill(fill)
        if order.is_closed:
            self._closed(order)

    def _apply_final(self, order: Order, venue_order: VenueOrder) -> None:
        """Move an order to the venue's closed state once every fill it reports is booked."""
        if not order.is_open:
            return
        inst = self.instruments[str(order.instrument_id)]
        booked = product(Decimal(order.filled_lots), inst.lot)
        if venue_order.filled > booked:
            self.log.info(
                "order %s: venue reports %s filled, %s booked; waiting for its trades",
                order.client_order_id, venue_order.filled, booked,
            )  # fmt: skip
            return
        now = self.clock_ns()
        cid = order.client_order_id
        event: OrderEvent
        said = f"venue: {venue_order.reason or venue_order.venue_status or venue_order.status.value}"
        if venue_order.status is OrderStatus.CANCELED:
            event = OrderCanceled(cid, now, now, said)
        elif venue_order.status is OrderStatus.EXPIRED:
            event = OrderExpired(cid, now, now, said)
        elif venue_order.status is OrderStatus.REJECTED:
            event = OrderRejected(cid, now, now, said)
        else:
            return  # still open, or filled (its trades close it)
        if order.status is OrderStatus.SUBMITTED:
            self._accept(order, venue_order)
        self.store.apply(order, event)
        self._closed(order)

    def _closed(self, order: Order) -> None:
        self.orders.pop(order.client_order_id, None)
        if order.venue_order_id is not None:
            self._by_venue_id.pop(str(order.venue_order_id), None)
        self._on_order(order)

    def update_balances(self, balances: Balances) -> None:
        self.venue_free = {asset: free for asset, (free, _) in balances.items()}
