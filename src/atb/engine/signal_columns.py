"""The signal kernel's lists as result columns, its ledger as the run's `Account`, and its orders as objects.

The domain objects are rebuilt only when asked for (`BacktestResult.orders`,
`.fills`): each order is replayed through its own state machine (`Order.apply`
and friends) with the events the simulated venue would have sent — same ids,
venue order ids, trade ids and timestamps — so an object built here is the
one the bar loop would have produced, and an impossible sequence would raise
rather than pass unnoticed.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import numpy.typing as npt

from atb.domain import (
    Account,
    Instrument,
    Liquidity,
    Order,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    OrderSide,
    OrderSubmitted,
    OrderType,
    TimeInForce,
)
from atb.domain.ids import ClientOrderId, TradeId, VenueOrderId
from atb.engine.columns import FillColumns, OrderColumns
from atb.engine.signal_kernel import CANCELED, FILLED, REJECTED, KernelRun

IntArray = npt.NDArray[np.int64]


def _at(ts: IntArray, bars: list[int]) -> list[int]:
    """Times of the given bars as Python ints (a gather, not a million-element list)."""
    return ts[np.asarray(bars, dtype=np.int64)].tolist()  # type: ignore[no-any-return]


def order_ids(prefix: str, count: int) -> list[str]:
    """`ClientOrderIdFactory(prefix)`'s first `count` ids."""
    head = f"{prefix}-"
    return [head + str(k) for k in range(1, count + 1)]


def fill_columns(run: KernelRun, ts: IntArray, inst: Instrument) -> FillColumns:
    fills = run.fills
    return FillColumns(
        bar=fills.bar,
        ts=_at(ts, fills.bar),
        signed=fills.signed,
        ticks=fills.ticks,
        fee=fills.fee,
        owner=None,
        instruments=[inst],
        cash=fills.cash,
    )


def order_columns(run: KernelRun, ts: IntArray, inst: Instrument, prefix: str) -> OrderColumns:
    orders, fills = run.orders, run.fills
    m = len(orders.bar)
    filled_lots = [0] * m
    filled_notional = [0] * m
    for k, signed, ticks in zip(fills.order, fills.signed, fills.ticks, strict=True):
        lots = signed if signed > 0 else -signed
        filled_lots[k] = lots
        filled_notional[k] = lots * ticks
    none: list[int | None] = [None] * m
    return OrderColumns(
        ids=order_ids(prefix, m),
        ts=_at(ts, orders.bar),
        symbol=[inst.id] * m,
        side=["buy" if buy else "sell" for buy in orders.buy],
        type=[OrderType.MARKET.value] * m,
        lots=orders.lots,
        filled_lots=filled_lots,
        filled_notional=filled_notional,
        limit_ticks=none,
        stop_ticks=list(none),
        status=orders.status,
        reason=orders.reason,
        tag=["close" if close else "" for close in orders.exit],
    )


def apply_ledger(run: KernelRun, account: Account, inst: Instrument, ts: IntArray) -> None:
    """Leave `account` as booking every fill through `Account.book` would have (the kernel kept the sums)."""
    ledger = run.ledger
    account.cash_units = ledger.cash
    account.fees_units = ledger.fees
    account.realised_units = ledger.realised
    if not ledger.touched:
        return
    position = account.position(inst)
    position.lots = ledger.lots
    position.cost_units = ledger.cost
    position.realised_units = ledger.pos_realised
    position.fees_units = ledger.pos_fees
    if ledger.opened_bar >= 0:
        position.opened_ts = int(ts[ledger.opened_bar])
    if ledger.last_bar >= 0:
        position.ts_last = int(ts[ledger.last_bar])


def materialise(
    run: KernelRun, ts: IntArray, inst: Instrument, fraction: Decimal, prefix: str
) -> tuple[list[Order], list[OrderFilled]]:
    """The `Order`s (with their events) and `OrderFilled`s the object path would have built."""
    orders, fills = run.orders, run.fills
    decided = _at(ts, orders.bar)
    ended = _at(ts, orders.end_bar)
    out_orders: list[Order] = []
    out_fills: list[OrderFilled | None] = [None] * len(fills.bar)
    venue_seq = 0
    for k, cid_text in enumerate(order_ids(prefix, len(orders.bar))):
        cid = ClientOrderId(cid_text)
        side = OrderSide.BUY if orders.buy[k] else OrderSide.SELL
        close = orders.exit[k]
        t0 = decided[k]
        order = Order(
            cid, inst.id, side, OrderType.MARKET, orders.lots[k] if close else None, None,
            None if close else fraction, None, None, TimeInForce.GTC, False, close, t0, "close" if close else "",
        )  # fmt: skip
        submitted = OrderSubmitted(cid, t0, t0)
        status = orders.status[k]
        if orders.refused_on_arrival[k]:
            order.apply(submitted)
            order.apply(OrderRejected(cid, t0, t0, orders.reason[k]))
            out_orders.append(order)
            continue
        venue_seq += 1
        order.submit_accepted(submitted, OrderAccepted(cid, t0, t0, VenueOrderId(str(venue_seq))))
        t1 = ended[k]
        lots = orders.lots[k]
        if not close and lots is not None:
            order.resolve_lots(lots)  # the venue sizes an entry before its funds check
        f = orders.fill[k]
        if f >= 0:
            signed = fills.signed[f]
            fill = OrderFilled(
                cid, t1, t1, TradeId(str(f + 1)), inst, side, abs(signed), fills.ticks[f], fills.fee[f],
                Liquidity.TAKER,
            )  # fmt: skip
            order.apply(fill)
            out_fills[f] = fill
        if status == REJECTED:
            order.apply(OrderRejected(cid, t1, t1, orders.reason[k]))
        elif status == CANCELED:
            order.apply(OrderCanceled(cid, t1, t1, orders.reason[k]))
        elif status == FILLED:
            assert order.status.value == FILLED
        out_orders.append(order)
    booked = [fill for fill in out_fills if fill is not None]
    assert len(booked) == len(out_fills), "every fill belongs to an order"
    return out_orders, booked
