"""The order state machine: every legal path, every illegal move refused with nothing changed,
constructor validation, and client order ids."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest

from atb.domain import (
    ClientOrderId,
    ClientOrderIdFactory,
    Instrument,
    Liquidity,
    Order,
    OrderAccepted,
    OrderCanceled,
    OrderCancelRequested,
    OrderDenied,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderSide,
    OrderStatus,
    OrderSubmitted,
    OrderTriggered,
    OrderType,
    TimeInForce,
    TradeId,
    VenueOrderId,
)
from atb.domain.errors import InvalidOrderError, InvalidTransitionError, Remedy

S = OrderStatus
BTC = Instrument.spot("BTC/USDT", tick="0.01", lot="0.00001", quote_precision=8)
ETH = Instrument.spot("ETH/USDT", tick="0.01", lot="0.0001", quote_precision=8)
CID = ClientOrderId("atb-1")
_ts = itertools.count(1_000)
_trades = itertools.count(1)


def new_order(side: OrderSide = OrderSide.BUY, lots: int = 10, **kw: Any) -> Order:
    kw.setdefault("limit_ticks", 100)
    return Order(CID, BTC.id, side, OrderType.LIMIT, lots=lots, **kw)


def ts() -> int:
    return next(_ts)


def submitted(cid: ClientOrderId = CID) -> OrderSubmitted:
    t = ts()
    return OrderSubmitted(cid, t, t + 1)


def accepted(vid: str = "v-1", cid: ClientOrderId = CID) -> OrderAccepted:
    t = ts()
    return OrderAccepted(cid, t, t + 1, VenueOrderId(vid))


def denied(reason: str = "risk: too big") -> OrderDenied:
    t = ts()
    return OrderDenied(CID, t, t, reason)


def rejected(reason: str = "venue: bad price") -> OrderRejected:
    t = ts()
    return OrderRejected(CID, t, t, reason)


def triggered() -> OrderTriggered:
    t = ts()
    return OrderTriggered(CID, t, t)


def cancel_requested() -> OrderCancelRequested:
    t = ts()
    return OrderCancelRequested(CID, t, t)


def canceled(reason: str = "user") -> OrderCanceled:
    t = ts()
    return OrderCanceled(CID, t, t + 1, reason)


def expired(reason: str = "ioc") -> OrderExpired:
    t = ts()
    return OrderExpired(CID, t, t, reason)


def filled(
    lots: int,
    ticks: int = 100,
    *,
    side: OrderSide = OrderSide.BUY,
    trade: str | None = None,
    inst: Instrument = BTC,
    cid: ClientOrderId = CID,
) -> OrderFilled:
    t = ts()
    tid = TradeId(trade if trade is not None else f"t{next(_trades)}")
    return OrderFilled(cid, t, t + 1, tid, inst, side, lots, ticks, 0, Liquidity.TAKER)


def snapshot(order: Order) -> tuple[object, ...]:
    return (
        order.status,
        order.lots,
        order.filled_lots,
        order.filled_notional_ticks_lots,
        list(order.events),
        set(order.trade_ids),
        order.venue_order_id,
        order.reason,
        order.ts_last,
        order.triggered,
    )


def assert_refused(order: Order, event: Any) -> None:
    before = snapshot(order)
    with pytest.raises(InvalidTransitionError) as info:
        order.apply(event)
    assert info.value.remedy is Remedy.HALT
    assert snapshot(order) == before


# --- legal paths ----------------------------------------------------------------------------------


def test_happy_path_new_submitted_accepted_partial_filled() -> None:
    o = new_order(lots=5)
    assert (o.status, o.is_open, o.is_closed, o.leaves_lots, o.avg_fill_ticks) == (S.INITIALIZED, False, False, 5, None)
    events = [submitted(), accepted("v-9"), filled(3, 100), filled(2, 105)]
    o.apply(events[0])
    assert o.status is S.SUBMITTED and o.is_open
    o.apply(events[1])
    assert o.status is S.ACCEPTED and o.venue_order_id == "v-9"
    o.apply(events[2])
    assert (o.status, o.filled_lots, o.leaves_lots) == (S.PARTIALLY_FILLED, 3, 2)
    assert o.avg_fill_ticks == Decimal(100)
    o.apply(events[3])
    assert (o.status, o.filled_lots, o.leaves_lots, o.is_open, o.is_closed) == (S.FILLED, 5, 0, False, True)
    assert o.filled_notional_ticks_lots == 3 * 100 + 2 * 105
    assert o.avg_fill_ticks == Decimal(102)  # (300 + 210) / 5
    assert o.events == events and all(a is b for a, b in zip(o.events, events, strict=True))
    assert o.ts_last == events[-1].ts_event
    assert o.trade_ids == {e.trade_id for e in events[2:]}  # type: ignore[union-attr]


def test_avg_fill_price_of_a_non_terminating_mean() -> None:
    o = new_order(lots=3)
    for e in (submitted(), accepted(), filled(1, 100), filled(2, 101)):
        o.apply(e)
    avg = o.avg_fill_ticks
    assert type(avg) is Decimal
    assert abs(Fraction(avg) - Fraction(302, 3)) < Fraction(1, 10**55)


def test_fill_after_cancel_request_counts() -> None:
    o = new_order(lots=10)
    for e in (submitted(), accepted(), filled(3), cancel_requested()):
        o.apply(e)
    assert o.status is S.PENDING_CANCEL
    o.apply(filled(2))  # raced the cancel
    assert (o.status, o.filled_lots) == (S.PENDING_CANCEL, 5)
    o.apply(canceled("user"))
    assert (o.status, o.filled_lots, o.leaves_lots, o.reason) == (S.CANCELED, 5, 5, "user")
    assert_refused(o, filled(1))


def test_fill_after_cancel_request_can_complete_the_order() -> None:
    o = new_order(lots=10)
    for e in (submitted(), accepted(), cancel_requested(), filled(10)):
        o.apply(e)
    assert (o.status, o.filled_lots) == (S.FILLED, 10)
    assert_refused(o, canceled())  # the cancel lost the race


def test_cancel_of_a_partly_filled_order() -> None:
    o = new_order(lots=10)
    for e in (submitted(), accepted(), filled(4), cancel_requested(), canceled("")):
        o.apply(e)
    assert (o.status, o.filled_lots, o.leaves_lots, o.reason) == (S.CANCELED, 4, 6, "")
    venue_side = new_order(lots=10)
    for e in (submitted(), accepted(), filled(4), expired("end of day")):
        venue_side.apply(e)
    assert (venue_side.status, venue_side.filled_lots, venue_side.reason) == (S.EXPIRED, 4, "end of day")


def test_fill_reported_before_the_ack() -> None:
    o = new_order(lots=10)
    o.apply(submitted())
    o.apply(filled(4))
    assert (o.status, o.filled_lots, o.venue_order_id) == (S.PARTIALLY_FILLED, 4, None)
    o.apply(accepted("v-late"))  # the late ack only records the venue id
    assert (o.status, o.filled_lots, o.venue_order_id) == (S.PARTIALLY_FILLED, 4, "v-late")
    o.apply(filled(6))
    assert (o.status, o.filled_lots) == (S.FILLED, 10)
    assert_refused(o, accepted("v-again"))  # acked once only


@pytest.mark.parametrize(
    ("path", "status"),
    [
        (lambda: [submitted(), filled(10)], S.FILLED),
        (lambda: [submitted(), canceled()], S.CANCELED),
        (lambda: [submitted(), expired()], S.EXPIRED),
        (lambda: [submitted(), cancel_requested()], S.PENDING_CANCEL),
    ],
)
def test_late_ack_in_every_status_reachable_without_one(path: Callable[[], list[Any]], status: OrderStatus) -> None:
    o = new_order(lots=10)
    for e in path():
        o.apply(e)
    assert o.status is status and o.venue_order_id is None
    o.apply(accepted("v-7"))
    assert (o.status, o.venue_order_id) == (status, "v-7")
    assert_refused(o, accepted("v-8"))


def test_denied_and_rejected_record_the_reason() -> None:
    d = new_order()
    d.apply(denied("risk: max position"))
    assert (d.status, d.reason, d.is_closed) == (S.DENIED, "risk: max position", True)
    r = new_order()
    r.apply(submitted())
    r.apply(rejected("venue: insufficient balance"))
    assert (r.status, r.reason) == (S.REJECTED, "venue: insufficient balance")
    assert_refused(r, accepted())  # a rejected order is never acked afterwards


def test_stop_order_triggers() -> None:
    o = Order(CID, BTC.id, OrderSide.SELL, OrderType.STOP_MARKET, lots=5, stop_ticks=90)
    assert o.triggered is False
    for e in (submitted(), accepted()):
        o.apply(e)
    o.apply(triggered())
    assert (o.status, o.triggered) == (S.ACCEPTED, True)
    o.apply(filled(5, 89, side=OrderSide.SELL))
    assert o.status is S.FILLED
    assert Order(CID, BTC.id, OrderSide.BUY, OrderType.MARKET, lots=1).triggered is True


def test_submit_accepted_equals_two_applies() -> None:
    sub, acc = submitted(), accepted("v-3")
    fast, slow = new_order(), new_order()
    fast.submit_accepted(sub, acc)
    slow.apply(sub)
    slow.apply(acc)
    assert snapshot(fast) == snapshot(slow)
    before = snapshot(fast)
    with pytest.raises(InvalidTransitionError):
        fast.submit_accepted(submitted(), accepted("v-4"))
    assert snapshot(fast) == before
    other = new_order()
    before = snapshot(other)
    with pytest.raises(InvalidTransitionError):
        other.submit_accepted(submitted(ClientOrderId("x-1")), accepted(cid=ClientOrderId("x-1")))
    assert snapshot(other) == before


# --- the full transition matrix ------------------------------------------------------------------

KINDS: dict[str, Callable[[], Any]] = {
    "denied": denied,
    "submitted": submitted,
    "accepted": lambda: accepted("v-new"),
    "rejected": rejected,
    "triggered": triggered,
    "cancel_requested": cancel_requested,
    "canceled": canceled,
    "expired": expired,
    "filled": lambda: filled(1),
}
# How to reach each status (acked wherever the path allows, so a second ack is a duplicate).
REACH: dict[OrderStatus, Callable[[], list[Any]]] = {
    S.INITIALIZED: lambda: [],
    S.DENIED: lambda: [denied()],
    S.SUBMITTED: lambda: [submitted()],
    S.ACCEPTED: lambda: [submitted(), accepted()],
    S.REJECTED: lambda: [submitted(), rejected()],
    S.PENDING_CANCEL: lambda: [submitted(), accepted(), cancel_requested()],
    S.PARTIALLY_FILLED: lambda: [submitted(), accepted(), filled(2)],
    S.FILLED: lambda: [submitted(), accepted(), filled(10)],
    S.CANCELED: lambda: [submitted(), accepted(), canceled()],
    S.EXPIRED: lambda: [submitted(), accepted(), expired()],
}
# The specification, written out: (status, event) -> next status. Anything else is refused.
LEGAL: dict[tuple[OrderStatus, str], OrderStatus] = {
    (S.INITIALIZED, "denied"): S.DENIED,
    (S.INITIALIZED, "submitted"): S.SUBMITTED,
    (S.SUBMITTED, "accepted"): S.ACCEPTED,
    (S.SUBMITTED, "rejected"): S.REJECTED,
    (S.SUBMITTED, "canceled"): S.CANCELED,
    (S.SUBMITTED, "expired"): S.EXPIRED,
    (S.SUBMITTED, "filled"): S.PARTIALLY_FILLED,
    (S.SUBMITTED, "cancel_requested"): S.PENDING_CANCEL,
    (S.ACCEPTED, "triggered"): S.ACCEPTED,
    (S.ACCEPTED, "cancel_requested"): S.PENDING_CANCEL,
    (S.ACCEPTED, "canceled"): S.CANCELED,
    (S.ACCEPTED, "expired"): S.EXPIRED,
    (S.ACCEPTED, "rejected"): S.REJECTED,
    (S.ACCEPTED, "filled"): S.PARTIALLY_FILLED,
    (S.PARTIALLY_FILLED, "triggered"): S.PARTIALLY_FILLED,
    (S.PARTIALLY_FILLED, "cancel_requested"): S.PENDING_CANCEL,
    (S.PARTIALLY_FILLED, "canceled"): S.CANCELED,
    (S.PARTIALLY_FILLED, "expired"): S.EXPIRED,
    (S.PARTIALLY_FILLED, "filled"): S.PARTIALLY_FILLED,
    (S.PENDING_CANCEL, "canceled"): S.CANCELED,
    (S.PENDING_CANCEL, "expired"): S.EXPIRED,
    (S.PENDING_CANCEL, "filled"): S.PENDING_CANCEL,
}


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("status", list(REACH))
def test_transition_matrix(status: OrderStatus, kind: str) -> None:
    o = new_order(lots=10)
    for e in REACH[status]():
        o.apply(e)
    assert o.status is status
    event = KINDS[kind]()
    expected = LEGAL.get((status, kind))
    if expected is None:
        assert_refused(o, event)
        return
    before_filled = o.filled_lots
    o.apply(event)
    assert o.status is expected
    assert o.events[-1] is event
    assert o.ts_last == event.ts_event
    assert o.filled_lots == before_filled + (1 if kind == "filled" else 0)


def test_legal_table_covers_the_statuses() -> None:
    assert set(REACH) == set(OrderStatus)
    open_statuses = {s for s in OrderStatus if s.is_open}
    assert open_statuses == {S.SUBMITTED, S.ACCEPTED, S.PENDING_CANCEL, S.PARTIALLY_FILLED}
    assert {s for s in OrderStatus if s.is_closed} == {S.DENIED, S.REJECTED, S.FILLED, S.CANCELED, S.EXPIRED}


# --- illegal fills ---------------------------------------------------------------------------------


@pytest.fixture
def partly_filled() -> Order:
    o = new_order(lots=10)
    for e in (submitted(), accepted(), filled(4, trade="T-1")):
        o.apply(e)
    return o


def test_repeated_trade_id_is_refused(partly_filled: Order) -> None:
    assert_refused(partly_filled, filled(1, trade="T-1"))
    assert partly_filled.filled_lots == 4


def test_overfill_is_refused(partly_filled: Order) -> None:
    assert_refused(partly_filled, filled(7))
    partly_filled.apply(filled(6))  # exactly the rest is fine
    assert partly_filled.status is S.FILLED


@pytest.mark.parametrize(
    "bad",
    [
        lambda: filled(1, side=OrderSide.SELL),
        lambda: filled(0),
        lambda: filled(-1),
        lambda: filled(1, ticks=0),
        lambda: filled(1, ticks=-5),
        lambda: filled(1, inst=ETH),
        lambda: filled(1, cid=ClientOrderId("atb-2")),
        lambda: canceled().__class__(ClientOrderId("atb-2"), 1, 1, ""),
    ],
    ids=[
        "wrong side",
        "zero lots",
        "negative lots",
        "zero price",
        "negative price",
        "wrong instrument",
        "wrong order",
        "cancel of another order",
    ],
)
def test_bad_events_are_refused(partly_filled: Order, bad: Callable[[], Any]) -> None:
    assert_refused(partly_filled, bad())


@pytest.mark.parametrize(
    "path",
    [
        lambda: [submitted(), accepted(), canceled()],
        lambda: [submitted(), accepted(), filled(10)],
        lambda: [submitted(), rejected()],
        lambda: [denied()],
        lambda: [submitted(), expired()],
        lambda: [],
    ],
    ids=["cancelled", "filled", "rejected", "denied", "expired", "never submitted"],
)
def test_fill_of_a_closed_or_unsent_order_is_refused(path: Callable[[], list[Any]]) -> None:
    o = new_order(lots=10)
    for e in path():
        o.apply(e)
    assert_refused(o, filled(1))


def test_other_illegal_moves() -> None:
    o = new_order()
    o.apply(submitted())
    for bad in (denied(), submitted(), triggered()):
        assert_refused(o, bad)
    o.apply(accepted())
    for bad in (accepted("v-2"), submitted(), denied()):
        assert_refused(o, bad)
    o.apply(cancel_requested())
    assert_refused(o, cancel_requested())
    assert_refused(o, rejected())


def test_notional_order_must_be_resolved_before_it_fills() -> None:
    o = Order(CID, BTC.id, OrderSide.BUY, OrderType.MARKET, notional_units=10**10)
    o.apply(submitted())
    o.apply(accepted())
    assert o.leaves_lots is None
    assert_refused(o, filled(1))
    o.resolve_lots(7)
    assert o.leaves_lots == 7
    with pytest.raises(InvalidOrderError):
        o.resolve_lots(8)
    o.apply(filled(7))
    assert o.status is S.FILLED
    fraction = Order(CID, BTC.id, OrderSide.BUY, OrderType.MARKET, equity_fraction=Decimal("0.5"))
    with pytest.raises(InvalidOrderError):
        fraction.resolve_lots(0)
    assert fraction.lots is None


# --- constructor validation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"order_type": OrderType.MARKET}, "exactly one"),
        ({"order_type": OrderType.MARKET, "lots": 1, "notional_units": 5}, "exactly one"),
        ({"order_type": OrderType.MARKET, "lots": 1, "equity_fraction": Decimal(1)}, "exactly one"),
        ({"order_type": OrderType.MARKET, "notional_units": 5, "equity_fraction": Decimal(1)}, "exactly one"),
        ({"order_type": OrderType.MARKET, "lots": 0}, "positive"),
        ({"order_type": OrderType.MARKET, "lots": -3}, "positive"),
        ({"order_type": OrderType.MARKET, "notional_units": 0}, "positive"),
        ({"order_type": OrderType.MARKET, "equity_fraction": Decimal(0)}, "fraction"),
        ({"order_type": OrderType.MARKET, "equity_fraction": Decimal("-0.1")}, "fraction"),
        ({"order_type": OrderType.MARKET, "equity_fraction": Decimal("100.01")}, "fraction"),
        ({"order_type": OrderType.LIMIT, "lots": 1}, "needs limit"),
        ({"order_type": OrderType.MARKET, "lots": 1, "limit_ticks": 5}, "takes no limit"),
        ({"order_type": OrderType.STOP_MARKET, "lots": 1}, "needs stop"),
        ({"order_type": OrderType.STOP_LIMIT, "lots": 1, "limit_ticks": 5}, "needs stop"),
        ({"order_type": OrderType.STOP_LIMIT, "lots": 1, "stop_ticks": 5}, "needs limit"),
        ({"order_type": OrderType.LIMIT, "lots": 1, "limit_ticks": 5, "stop_ticks": 5}, "takes no stop"),
        ({"order_type": OrderType.LIMIT, "lots": 1, "limit_ticks": 0}, "positive"),
        ({"order_type": OrderType.STOP_MARKET, "lots": 1, "stop_ticks": -1}, "positive"),
        ({"order_type": OrderType.MARKET, "lots": 1, "post_only": True}, "post-only"),
        (
            {"order_type": OrderType.STOP_LIMIT, "lots": 1, "limit_ticks": 5, "stop_ticks": 6, "post_only": True},
            "post-only",
        ),
        (
            {"order_type": OrderType.LIMIT, "lots": 1, "limit_ticks": 5, "post_only": True, "tif": TimeInForce.IOC},
            "GTC",
        ),
        (
            {"order_type": OrderType.LIMIT, "lots": 1, "limit_ticks": 5, "post_only": True, "tif": TimeInForce.FOK},
            "GTC",
        ),
        ({"order_type": OrderType.LIMIT, "notional_units": 5, "limit_ticks": 5}, "sized by quantity"),
        (
            {"order_type": OrderType.STOP_LIMIT, "equity_fraction": Decimal(1), "limit_ticks": 5, "stop_ticks": 6},
            "sized by quantity",
        ),
    ],
)
def test_constructor_refuses(kw: dict[str, Any], match: str) -> None:
    order_type = kw.pop("order_type")
    with pytest.raises(InvalidOrderError, match=match):
        Order(CID, BTC.id, OrderSide.BUY, order_type, **kw)


def test_constructor_accepts_valid_orders() -> None:
    post = Order(CID, BTC.id, OrderSide.SELL, OrderType.LIMIT, lots=3, limit_ticks=7, post_only=True, ts_init=42)
    assert (post.status, post.post_only, post.tif, post.ts_init, post.ts_last) == (
        S.INITIALIZED,
        True,
        TimeInForce.GTC,
        42,
        42,
    )
    Order(CID, BTC.id, OrderSide.BUY, OrderType.MARKET, notional_units=1)
    Order(CID, BTC.id, OrderSide.BUY, OrderType.STOP_MARKET, equity_fraction=Decimal(100), stop_ticks=5)
    Order(CID, BTC.id, OrderSide.BUY, OrderType.LIMIT, lots=1, limit_ticks=5, tif=TimeInForce.IOC)
    Order(CID, BTC.id, OrderSide.BUY, OrderType.STOP_LIMIT, lots=1, limit_ticks=5, stop_ticks=4)


# --- client order ids ------------------------------------------------------------------------------


def test_client_order_ids_are_unique_and_sequential() -> None:
    f = ClientOrderIdFactory("run7")
    ids = [f.next() for _ in range(10_000)]
    assert len(set(ids)) == 10_000
    assert ids[:3] == ["run7-1", "run7-2", "run7-3"]
    assert ids[-1] == "run7-10000"
    g = ClientOrderIdFactory("run8")
    assert g.next() == "run8-1"  # independent counter, distinct prefix: no collision with run7
    assert ClientOrderIdFactory().next() == "atb-1"
    assert ClientOrderIdFactory("a-b").next() == "a-b-1"
    assert ClientOrderIdFactory("x" * 20).next() == "x" * 20 + "-1"


@pytest.mark.parametrize("prefix", ["", "-", "x" * 21, "a b", "a_b", "a.b", "run/1", "é", "ab٣", "日本"])
def test_client_order_id_prefix_validation(prefix: str) -> None:
    with pytest.raises(ValueError, match="prefix"):
        ClientOrderIdFactory(prefix)


def test_client_order_ids_can_continue_after_a_stored_sequence() -> None:
    resumed = ClientOrderIdFactory("run7", start=42)
    assert [resumed.next(), resumed.next()] == ["run7-42", "run7-43"]
    with pytest.raises(ValueError, match="starts at 1"):
        ClientOrderIdFactory("run7", start=0)
