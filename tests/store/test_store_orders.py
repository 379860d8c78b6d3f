"""Orders: intent, events in one transaction, exact rebuild, duplicate fills, open orders, positions."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError

from atb.domain import (
    ClientOrderId,
    Instrument,
    InvalidTransitionError,
    Liquidity,
    Order,
    OrderAccepted,
    OrderCanceled,
    OrderDenied,
    OrderEvent,
    OrderFilled,
    OrderSide,
    OrderStatus,
    OrderSubmitted,
    OrderType,
    Position,
    TradeId,
    VenueOrderId,
)
from atb.store import (
    DuplicateFillError,
    OrderRepository,
    PositionRepository,
    RunRepository,
    StaleOrderError,
    session_scope,
)
from atb.store.models import FillRow, OrderEventRow, OrderRow

BTC = Instrument.spot("BTC/USDT", tick="0.01", lot="0.00001", taker_fee="0.001")
REPO = OrderRepository({BTC.id: BTC})


def _order(cid: str, lots: int = 150, limit: int | None = 3000012) -> Order:
    kind = OrderType.MARKET if limit is None else OrderType.LIMIT
    return Order(ClientOrderId(cid), BTC.id, OrderSide.BUY, kind, lots=lots, limit_ticks=limit, ts_init=10, tag="t")


def _fill(cid: str, trade: str, lots: int, ticks: int = 3000012, ts: int = 40) -> OrderFilled:
    fee = BTC.taker_fee.fee_units(BTC.notional_units(ticks, lots))
    return OrderFilled(
        ClientOrderId(cid), ts, ts + 1, TradeId(trade), BTC, OrderSide.BUY, lots, ticks, fee, Liquidity.TAKER
    )


def _run(engine: Engine) -> str:
    with session_scope(engine) as s:
        return RunRepository.start(s, mode="live", strategy="sma", ts=1)


def _count(engine: Engine, model: type) -> int:
    with session_scope(engine) as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_intent_then_events_rebuild_the_same_order_exactly(engine: Engine) -> None:
    run = _run(engine)
    order = _order("r1-1")
    with session_scope(engine) as s:
        REPO.record_intent(s, order, run_id=run)
    with session_scope(engine) as s:
        row = s.scalars(select(OrderRow)).one()
        assert (row.status, row.lots, row.quantity, row.limit_price) == (
            "initialized",
            150,
            Decimal("0.0015"),
            Decimal("30000.12"),
        )
    events: list[OrderEvent] = [
        OrderSubmitted(order.client_order_id, 20, 21),
        OrderAccepted(order.client_order_id, 30, 31, VenueOrderId("V9")),
        _fill("r1-1", "T1", 100),
        _fill("r1-1", "T2", 50, ticks=3000010, ts=50),
    ]
    for event in events:
        with session_scope(engine) as s:
            REPO.apply_event(s, order, event)
    assert order.status is OrderStatus.FILLED
    with session_scope(engine) as s:
        loaded = REPO.by_client_id(s, "r1-1")
        fills = REPO.fills_for(s, order)
        row = s.scalars(select(OrderRow)).one()
        fill_rows = s.scalars(select(FillRow).order_by(FillRow.id)).all()
    assert loaded is not None
    assert loaded.events == order.events == events
    for name in ("status", "filled_lots", "filled_notional_ticks_lots", "venue_order_id", "trade_ids", "ts_last"):
        assert getattr(loaded, name) == getattr(order, name), name
    assert fills == events[2:]
    assert (row.status, row.filled_quantity, row.venue_order_id, row.event_count) == (
        "filled",
        Decimal("0.0015"),
        "V9",
        4,
    )
    # exact decimals next to the integers: 0.001 BTC × 30000.12 = 30.00012 USDT, fee 0.03000012
    assert [(r.quantity, r.price, r.fee, r.fee_currency) for r in fill_rows] == [
        (Decimal("0.001"), Decimal("30000.12"), Decimal("0.03000012"), "USDT"),
        (Decimal("0.0005"), Decimal("30000.10"), Decimal("0.01500005"), "USDT"),
    ]


def test_a_failure_mid_transaction_leaves_nothing(engine: Engine) -> None:
    run = _run(engine)
    order = _order("r1-2")
    with pytest.raises(RuntimeError, match="crash"), session_scope(engine) as s:
        REPO.record_intent(s, order, run_id=run)
        REPO.apply_event(s, order, OrderSubmitted(order.client_order_id, 20, 21))
        raise RuntimeError("crash before commit")
    assert _count(engine, OrderRow) == 0
    assert _count(engine, OrderEventRow) == 0


def test_a_refused_event_writes_nothing_and_leaves_the_order_as_it_was(engine: Engine) -> None:
    run = _run(engine)
    order = _order("r1-3")
    with session_scope(engine) as s:
        REPO.record_intent(s, order, run_id=run)
        REPO.apply_event(s, order, OrderSubmitted(order.client_order_id, 20, 21))
        with pytest.raises(InvalidTransitionError):
            REPO.apply_event(s, order, OrderDenied(order.client_order_id, 22, 23, "late"))
        # the caller carried on in the same transaction: the savepoint kept only the good event
    assert order.status is OrderStatus.SUBMITTED and len(order.events) == 1
    assert _count(engine, OrderEventRow) == 1


def test_a_second_fill_with_the_same_trade_id_is_refused(engine: Engine) -> None:
    run = _run(engine)
    order = _order("r1-4")
    with session_scope(engine) as s:
        REPO.record_intent(s, order, run_id=run)
        order.submit_accepted(
            OrderSubmitted(order.client_order_id, 20, 21),
            OrderAccepted(order.client_order_id, 30, 31, VenueOrderId("V")),
        )
        REPO.sync(s, order)  # events applied in memory first, persisted together
    with session_scope(engine) as s:
        other_writer = REPO.by_client_id(s, "r1-4")
        REPO.apply_event(s, order, _fill("r1-4", "T1", 50))
    assert other_writer is not None
    # same process, same trade again
    with pytest.raises(DuplicateFillError), session_scope(engine) as s:
        REPO.apply_event(s, order, _fill("r1-4", "T1", 50))
    assert order.filled_lots == 50
    # a second writer whose copy of the order is behind is refused before it writes anything
    other_writer.apply(_fill("r1-4", "T0", 10))
    with pytest.raises(StaleOrderError), session_scope(engine) as s:
        REPO.apply_event(s, other_writer, _fill("r1-4", "T9", 10))
    with pytest.raises(StaleOrderError), session_scope(engine) as s:
        REPO.sync(s, other_writer)
    # a racing writer past those checks (simulated: a copy that forgot T1) meets the unique constraint
    with session_scope(engine) as s:
        racer = REPO.by_client_id(s, "r1-4")
    assert racer is not None
    racer.trade_ids.clear()
    with pytest.raises(DuplicateFillError, match="already recorded"), session_scope(engine) as s:
        REPO.apply_event(s, racer, _fill("r1-4", "T1", 50))
    assert racer.filled_lots == 50 and len(racer.events) == 3  # restored after the refusal
    # and the constraint itself exists in the schema
    with pytest.raises(IntegrityError), session_scope(engine) as s:
        row = s.scalars(select(FillRow)).one()
        s.add(
            FillRow(**{c: getattr(row, c) for c in FillRow.__table__.columns.keys() if c != "id"})  # noqa: SIM118
        )
        s.flush()
    with session_scope(engine) as s:
        assert [f.trade_id for f in REPO.fills_for(s, "r1-4")] == ["T1"]


def test_open_orders_of_a_run(engine: Engine) -> None:
    run, other = _run(engine), _run(engine)
    states: dict[str, list[object]] = {"a": [], "b": ["sub"], "c": ["sub", "acc"], "d": ["sub", "acc", "fill"]}
    states |= {"e": ["sub", "acc", "cancel"], "f": ["sub", "acc", "fill_all"], "g": ["deny"]}
    with session_scope(engine) as s:
        for name, steps in states.items():
            order = _order(f"o-{name}", lots=100)
            REPO.record_intent(s, order, run_id=run)
            cid = order.client_order_id
            for step in steps:
                event = {
                    "sub": OrderSubmitted(cid, 2, 2),
                    "acc": OrderAccepted(cid, 3, 3, VenueOrderId(f"v-{name}")),
                    "fill": _fill(cid, f"{name}-1", 40),
                    "fill_all": _fill(cid, f"{name}-1", 100),
                    "cancel": OrderCanceled(cid, 4, 4),
                    "deny": OrderDenied(cid, 2, 2, "risk"),
                }[str(step)]
                REPO.apply_event(s, order, event)  # type: ignore[arg-type]
        REPO.record_intent(s, _order("x-open", lots=5), run_id=other)
        REPO.apply_event(s, REPO.by_client_id(s, "x-open"), OrderSubmitted(ClientOrderId("x-open"), 2, 2))  # type: ignore[arg-type]
    with session_scope(engine) as s:
        open_now = REPO.open_orders(s, run)
        with_intents = REPO.open_orders(s, run, include_initialized=True)
    assert [o.client_order_id for o in open_now] == ["o-b", "o-c", "o-d"]
    assert [o.status for o in open_now] == [OrderStatus.SUBMITTED, OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED]
    assert open_now[2].leaves_lots == 60
    assert [o.client_order_id for o in with_intents] == ["o-a", "o-b", "o-c", "o-d"]


def test_notional_order_round_trips_with_its_resolved_size(engine: Engine) -> None:
    run = _run(engine)
    order = Order(ClientOrderId("n-1"), BTC.id, OrderSide.BUY, OrderType.MARKET, notional_units=10_000_000_000)
    with session_scope(engine) as s:
        REPO.record_intent(s, order, run_id=run)
        REPO.apply_event(s, order, OrderSubmitted(order.client_order_id, 2, 2))
        order.resolve_lots(333)
        REPO.apply_event(s, order, _fill("n-1", "T1", 333))
    with session_scope(engine) as s:
        loaded = REPO.by_client_id(s, "n-1")
        notional = s.scalars(select(OrderRow.notional)).one()
    assert notional == Decimal("100")  # 1e10 units at USDT precision 8
    assert loaded is not None
    assert (loaded.notional_units, loaded.lots, loaded.status) == (10_000_000_000, 333, OrderStatus.FILLED)


def test_position_upsert_round_trips_exactly(engine: Engine) -> None:
    run = _run(engine)
    pos = Position(BTC)
    pos.apply(_fill("p", "1", 300, ticks=3000012))
    with session_scope(engine) as s:
        PositionRepository.upsert(s, run, pos)
    pos.apply(_fill("p", "2", -0 + 100, ticks=3100000)._replace(side=OrderSide.SELL))
    with session_scope(engine) as s:
        PositionRepository.upsert(s, run, pos)
    with session_scope(engine) as s:
        got = PositionRepository.get(s, run, BTC)
    assert got is not None
    assert (got.lots, got.cost_units, got.realised_units, got.fees_units, got.ts_last) == (
        pos.lots,
        pos.cost_units,
        pos.realised_units,
        pos.fees_units,
        pos.ts_last,
    )
    assert got.avg_entry_price == Decimal("30000.12")
