"""Repositories: the only code that turns domain values into rows and back.

Every write runs inside the caller's transaction (`session_scope`) and inside
its own SAVEPOINT, so a write that fails leaves nothing behind even if the
caller catches the error and carries on with the same transaction.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from atb.domain.enums import OPEN_STATUSES, Liquidity, OrderSide, OrderStatus, OrderType, TimeInForce
from atb.domain.events import OrderEvent, OrderFilled
from atb.domain.ids import ClientOrderId, InstrumentId, TradeId
from atb.domain.instrument import Instrument
from atb.domain.money import Money, Rounding, product, shifted, units_of
from atb.domain.orders import Order
from atb.domain.position import Position
from atb.store import codec
from atb.store.errors import DuplicateFillError, DuplicateOrderError, StaleOrderError, StoreError, UnknownOrderError
from atb.store.models import (
    AuditRow,
    BalanceSnapshotRow,
    FillRow,
    OrderEventRow,
    OrderRow,
    PositionRow,
    RunMode,
    RunRow,
    RunStatus,
)
from atb.store.types import EXACT

InstrumentLookup = Mapping[InstrumentId, Instrument] | Callable[[InstrumentId], Instrument]


def _now() -> int:
    return time.time_ns()


def _units_to_decimal(units: int, precision: int) -> Decimal:
    return shifted(Decimal(units), -precision)


# --- orders ---------------------------------------------------------------------------------------


def _snapshot(order: Order) -> dict[str, Any]:
    state = {name: getattr(order, name) for name in Order.__slots__}
    state["events"] = list(order.events)
    state["trade_ids"] = set(order.trade_ids)
    return state


def _restore(order: Order, state: dict[str, Any]) -> None:
    for name, value in state.items():
        setattr(order, name, value)


class OrderRepository:
    """Orders, their event history and their fills.

    Needs the instruments (by id) to write exact decimals next to the integer
    lots/ticks and to rebuild fills, which carry their `Instrument`.
    """

    def __init__(self, instruments: InstrumentLookup) -> None:
        self._lookup = instruments

    def instrument(self, instrument_id: InstrumentId) -> Instrument:
        try:
            if callable(self._lookup):
                return self._lookup(instrument_id)
            return self._lookup[instrument_id]
        except KeyError:
            raise StoreError(f"instrument {instrument_id} is unknown to the order repository") from None

    # --- writes -----------------------------------------------------------------------------
    def record_intent(self, session: Session, order: Order, *, run_id: str) -> None:
        """Insert a new (INITIALIZED) order before it is sent anywhere: after a crash the intent is known."""
        if order.status is not OrderStatus.INITIALIZED or order.events:
            raise StoreError(
                f"order {order.client_order_id} is {order.status.value}; record its intent before it moves"
            )
        inst = self.instrument(order.instrument_id)
        row = OrderRow(
            client_order_id=order.client_order_id,
            run_id=run_id,
            instrument=order.instrument_id,
            side=order.side.value,
            type=order.order_type.value,
            notional=None
            if order.notional_units is None
            else _units_to_decimal(order.notional_units, inst.quote.precision),
            equity_fraction=order.equity_fraction,
            limit_ticks=order.limit_ticks,
            limit_price=None if order.limit_ticks is None else product(Decimal(order.limit_ticks), inst.tick),
            stop_ticks=order.stop_ticks,
            stop_price=None if order.stop_ticks is None else product(Decimal(order.stop_ticks), inst.tick),
            tif=order.tif.value,
            post_only=order.post_only,
            reduce_only=order.reduce_only,
            tag=order.tag,
            created_ns=order.ts_init,
        )
        self._copy_state(row, order, inst)
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
        except IntegrityError as exc:
            if "client_order_id" in str(exc.orig):
                raise DuplicateOrderError(f"client order id {order.client_order_id} is already recorded") from exc
            raise

    def apply_event(self, session: Session, order: Order, event: OrderEvent) -> None:
        """Apply `event` to `order` and persist both the new state and the event, all or nothing.

        The domain decides first (`InvalidTransitionError`: nothing written, order untouched);
        a fill whose trade id is already stored raises `DuplicateFillError`. On any error the
        order object is restored to its state before the call, so memory never runs ahead of
        the database.
        """
        if isinstance(event, OrderFilled) and event.trade_id in order.trade_ids:
            raise DuplicateFillError(f"order {order.client_order_id}: trade {event.trade_id} already recorded")
        row = self._row(session, order.client_order_id)
        self._check_fresh(session, row, order)
        before = _snapshot(order)
        try:
            order.apply(event)
            self._persist(session, row, order, [event])
        except BaseException:
            _restore(order, before)
            raise

    def sync(self, session: Session, order: Order) -> None:
        """Persist events the order already applied in memory (e.g. `submit_accepted`) but not yet stored."""
        row = self._row(session, order.client_order_id)
        if row.event_count > len(order.events) or self._events(session, row) != order.events[: row.event_count]:
            raise StaleOrderError(f"order {order.client_order_id}: its stored history differs; reload it")
        self._persist(session, row, order, order.events[row.event_count :])

    def _check_fresh(self, session: Session, row: OrderRow, order: Order) -> None:
        """Optimistic concurrency: same number of events, and the same last one, as the database."""
        stale = row.event_count != len(order.events)
        if not stale and row.event_count:
            last = session.scalars(
                select(OrderEventRow).where(OrderEventRow.order_id == row.id, OrderEventRow.seq == row.event_count)
            ).one()
            cid = ClientOrderId(row.client_order_id)
            stored = codec.decode(last.kind, cid, last.ts_event, last.ts_init, last.payload, self.instrument)
            stale = stored != order.events[-1]
        if stale:
            raise StaleOrderError(
                f"order {order.client_order_id}: its events in memory ({len(order.events)}) differ from the "
                f"{row.event_count} stored; reload it with by_client_id (or sync it)"
            )

    def _persist(self, session: Session, row: OrderRow, order: Order, events: list[OrderEvent]) -> None:
        inst = self.instrument(order.instrument_id)
        first_seq = len(order.events) - len(events) + 1
        try:
            with session.begin_nested():
                for seq, event in enumerate(events, start=first_seq):
                    kind, payload = codec.encode(event)
                    session.add(
                        OrderEventRow(
                            order_id=row.id,
                            seq=seq,
                            kind=kind,
                            ts_event=event.ts_event,
                            ts_init=event.ts_init,
                            payload=payload,
                        )
                    )
                    if isinstance(event, OrderFilled):
                        session.add(self._fill_row(row.id, event))
                self._copy_state(row, order, inst)
                session.flush()
        except IntegrityError as exc:
            text = str(exc.orig)
            if "uq_fills_order_id_trade_id" in text or "fills.trade_id" in text:
                raise DuplicateFillError(f"order {order.client_order_id}: a trade id is already recorded") from exc
            if "uq_order_events_order_id_seq" in text or "order_events.seq" in text:
                raise StaleOrderError(f"order {order.client_order_id}: another writer appended first") from exc
            raise

    @staticmethod
    def _copy_state(row: OrderRow, order: Order, inst: Instrument) -> None:
        row.lots = order.lots
        row.quantity = None if order.lots is None else product(Decimal(order.lots), inst.lot)
        row.status = order.status.value
        row.filled_lots = order.filled_lots
        row.filled_quantity = product(Decimal(order.filled_lots), inst.lot)
        row.venue_order_id = order.venue_order_id
        row.reason = order.reason
        row.triggered = order.triggered
        row.event_count = len(order.events)
        row.updated_ns = order.ts_last

    @staticmethod
    def _fill_row(order_pk: int, fill: OrderFilled) -> FillRow:
        return FillRow(
            order_id=order_pk,
            trade_id=fill.trade_id,
            instrument=fill.instrument.id,
            side=fill.side.value,
            lots=fill.lots,
            ticks=fill.ticks,
            quantity=fill.quantity.value,
            price=fill.price.value,
            # a fee withheld in base is stored as the base amount (exact lots), in quote otherwise
            fee=product(Decimal(fill.fee_lots), fill.instrument.lot) if fill.fee_lots else fill.fee.amount,
            fee_currency=fill.instrument.base.code if fill.fee_lots else fill.instrument.quote.code,
            liquidity=fill.liquidity.value,
            ts_event=fill.ts_event,
            ts_init=fill.ts_init,
        )

    # --- reads ------------------------------------------------------------------------------
    def _row(self, session: Session, client_order_id: str) -> OrderRow:
        row = session.scalars(
            select(OrderRow).where(OrderRow.client_order_id == client_order_id).with_for_update()
        ).one_or_none()
        if row is None:
            raise UnknownOrderError(f"order {client_order_id} has no recorded intent")
        return row

    def by_client_id(self, session: Session, client_order_id: str) -> Order | None:
        """The order rebuilt exactly: its intent, then every stored event replayed through the domain."""
        row = session.scalars(select(OrderRow).where(OrderRow.client_order_id == client_order_id)).one_or_none()
        return None if row is None else self._rebuild(session, row)

    def open_orders(self, session: Session, run_id: str, *, include_initialized: bool = False) -> list[Order]:
        """Orders of a run that a venue may still fill, oldest first.

        `include_initialized` adds intents not yet submitted: after a crash these may or may not
        have reached the venue, so reconciliation asks about them too.
        """
        statuses = {s.value for s in OPEN_STATUSES}
        if include_initialized:
            statuses.add(OrderStatus.INITIALIZED.value)
        rows = session.scalars(
            select(OrderRow).where(OrderRow.run_id == run_id, OrderRow.status.in_(statuses)).order_by(OrderRow.id)
        ).all()
        return [self._rebuild(session, row) for row in rows]

    def events_for(self, session: Session, client_order_id: str) -> list[OrderEvent]:
        row = session.scalars(select(OrderRow).where(OrderRow.client_order_id == client_order_id)).one_or_none()
        if row is None:
            raise UnknownOrderError(f"order {client_order_id} has no recorded intent")
        return self._events(session, row)

    def fills_for(self, session: Session, order: Order | str) -> list[OrderFilled]:
        cid = order if isinstance(order, str) else order.client_order_id
        rows = session.scalars(
            select(FillRow).join(OrderRow).where(OrderRow.client_order_id == cid).order_by(FillRow.id)
        ).all()
        return [
            OrderFilled(
                ClientOrderId(cid),
                r.ts_event,
                r.ts_init,
                TradeId(r.trade_id),
                self.instrument(InstrumentId(r.instrument)),
                OrderSide(r.side),
                r.lots,
                r.ticks,
                *self._fee(r),
            )
            for r in rows
        ]

    def _fee(self, row: FillRow) -> tuple[int, Liquidity, int]:
        """(fee_units, liquidity, fee_lots) of a stored fill; see `_fill_row` for the two fee forms."""
        inst = self.instrument(InstrumentId(row.instrument))
        if row.fee_currency == inst.base.code and row.fee_currency != inst.quote.code:
            fee_lots = units_of(row.fee, inst.lot, Rounding.STRICT, "withheld fee")
            return inst.notional_units(row.ticks, fee_lots), Liquidity(row.liquidity), fee_lots
        return Money.of(row.fee, inst.quote).units, Liquidity(row.liquidity), 0

    def _events(self, session: Session, row: OrderRow) -> list[OrderEvent]:
        event_rows = session.scalars(
            select(OrderEventRow).where(OrderEventRow.order_id == row.id).order_by(OrderEventRow.seq)
        ).all()
        cid = ClientOrderId(row.client_order_id)
        return [codec.decode(e.kind, cid, e.ts_event, e.ts_init, e.payload, self.instrument) for e in event_rows]

    def _rebuild(self, session: Session, row: OrderRow) -> Order:
        inst = self.instrument(InstrumentId(row.instrument))
        by_size = row.notional is None and row.equity_fraction is None
        order = Order(
            ClientOrderId(row.client_order_id),
            InstrumentId(row.instrument),
            OrderSide(row.side),
            OrderType(row.type),
            lots=row.lots if by_size else None,
            notional_units=None if row.notional is None else Money.of(row.notional, inst.quote).units,
            equity_fraction=None if row.equity_fraction is None else row.equity_fraction.normalize(),
            limit_ticks=row.limit_ticks,
            stop_ticks=row.stop_ticks,
            tif=TimeInForce(row.tif),
            post_only=row.post_only,
            reduce_only=row.reduce_only,
            ts_init=row.created_ns,
            tag=row.tag,
        )
        if not by_size and row.lots is not None:
            order.resolve_lots(row.lots)
        for event in self._events(session, row):
            order.apply(event)
        if order.status.value != row.status or order.filled_lots != row.filled_lots:
            raise StoreError(
                f"order {row.client_order_id}: replayed events give {order.status.value}/{order.filled_lots} lots, "
                f"the row says {row.status}/{row.filled_lots}"
            )
        return order


# --- positions, balances, runs, audit -------------------------------------------------------------


class PositionRepository:
    """The latest state of each position of a run (one row per run and instrument)."""

    @staticmethod
    def upsert(session: Session, run_id: str, position: Position) -> None:
        inst = position.instrument
        qp = inst.quote.precision
        with session.begin_nested():
            row = session.scalars(
                select(PositionRow)
                .where(PositionRow.run_id == run_id, PositionRow.instrument == inst.id)
                .with_for_update()
            ).one_or_none()
            if row is None:
                row = PositionRow(run_id=run_id, instrument=inst.id)
                session.add(row)
            row.lots = position.lots
            row.quantity = product(Decimal(position.lots), inst.lot)
            row.cost = _units_to_decimal(position.cost_units, qp)
            row.realised = _units_to_decimal(position.realised_units, qp)
            row.fees = _units_to_decimal(position.fees_units, qp)
            row.currency = inst.quote.code
            row.opened_ns = position.opened_ts
            row.updated_ns = position.ts_last
            session.flush()

    @staticmethod
    def get(session: Session, run_id: str, instrument: Instrument) -> Position | None:
        row = session.scalars(
            select(PositionRow).where(PositionRow.run_id == run_id, PositionRow.instrument == instrument.id)
        ).one_or_none()
        if row is None:
            return None
        pos = Position(instrument)
        pos.lots = row.lots
        pos.cost_units = Money.of(row.cost, instrument.quote).units
        pos.realised_units = Money.of(row.realised, instrument.quote).units
        pos.fees_units = Money.of(row.fees, instrument.quote).units
        pos.opened_ts = row.opened_ns
        pos.ts_last = row.updated_ns
        return pos


@dataclass(frozen=True, slots=True)
class BalanceSnapshot:
    currency: str
    free: Decimal
    locked: Decimal
    total: Decimal
    ts: int


class BalanceRepository:
    @staticmethod
    def snapshot(
        session: Session,
        run_id: str,
        free: Mapping[str, Decimal],
        locked: Mapping[str, Decimal] | None = None,
        *,
        ts: int | None = None,
    ) -> None:
        """One row per currency in `free` or `locked` (e.g. `Account.balances()`); total = free + locked."""
        locked = locked or {}
        stamp = _now() if ts is None else ts
        with session.begin_nested():
            for currency in sorted(set(free) | set(locked)):
                f = free.get(currency, Decimal(0))
                lk = locked.get(currency, Decimal(0))
                for value in (f, lk):
                    if not isinstance(value, (Decimal, int)) or isinstance(value, bool):
                        raise TypeError(f"balance of {currency} must be a Decimal, not {type(value).__name__}")
                session.add(
                    BalanceSnapshotRow(
                        run_id=run_id, currency=currency, free=f, locked=lk, total=EXACT.add(f, lk), ts=stamp
                    )
                )
            session.flush()

    @staticmethod
    def latest(session: Session, run_id: str) -> dict[str, BalanceSnapshot]:
        """The most recent snapshot of each currency of a run."""
        rows = session.scalars(
            select(BalanceSnapshotRow)
            .where(BalanceSnapshotRow.run_id == run_id)
            .order_by(BalanceSnapshotRow.ts, BalanceSnapshotRow.id)
        ).all()
        return {r.currency: BalanceSnapshot(r.currency, r.free, r.locked, r.total, r.ts) for r in rows}


_SECRET_WORDS = ("secret", "password", "passphrase", "token", "api_key", "apikey", "private_key", "credential")
REDACTED = "[redacted]"


def redact(value: Any) -> Any:
    """`value` with every entry under a secret-looking key replaced: the audit log never holds secrets."""
    if isinstance(value, Mapping):
        return {
            str(k): REDACTED if any(w in str(k).lower() for w in _SECRET_WORDS) else redact(v) for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    return value


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    ts: int
    actor: str
    action: str
    details: dict[str, Any]


class AuditLog:
    """Append-only record of who did what (database triggers refuse UPDATE and DELETE)."""

    @staticmethod
    def append(
        session: Session, actor: str, action: str, details: Mapping[str, Any] | None = None, *, ts: int | None = None
    ) -> int:
        row = AuditRow(ts=_now() if ts is None else ts, actor=actor, action=action, details=redact(details or {}))
        with session.begin_nested():
            session.add(row)
            session.flush()
        return row.id

    @staticmethod
    def entries(session: Session, *, limit: int = 100) -> list[AuditEntry]:
        rows = session.scalars(select(AuditRow).order_by(AuditRow.id.desc()).limit(limit)).all()
        return [AuditEntry(r.id, r.ts, r.actor, r.action, r.details) for r in reversed(rows)]


@dataclass(frozen=True, slots=True)
class RunRecord:
    id: str
    mode: RunMode
    strategy: str
    params: dict[str, Any]
    started_ns: int
    ended_ns: int | None
    status: RunStatus


class RunRepository:
    @staticmethod
    def start(
        session: Session,
        *,
        mode: RunMode | str,
        strategy: str,
        params: Mapping[str, Any] | None = None,
        ts: int | None = None,
        run_id: str | None = None,
    ) -> str:
        """Record a run as RUNNING; returns its id (a fresh 32-hex-digit id unless given)."""
        rid = run_id or uuid.uuid4().hex
        row = RunRow(
            id=rid,
            mode=RunMode(mode).value,
            strategy=strategy,
            params=dict(params or {}),
            started_ns=_now() if ts is None else ts,
            status=RunStatus.RUNNING.value,
        )
        with session.begin_nested():
            session.add(row)
            session.flush()
        return rid

    @staticmethod
    def finish(
        session: Session, run_id: str, *, status: RunStatus | str = RunStatus.FINISHED, ts: int | None = None
    ) -> None:
        row = session.get(RunRow, run_id, with_for_update=True)
        if row is None:
            raise StoreError(f"run {run_id} was never started")
        final = RunStatus(status)
        if final is RunStatus.RUNNING:
            raise StoreError("a run finishes as finished, failed or stopped")
        if row.status != RunStatus.RUNNING.value:
            raise StoreError(f"run {run_id} already ended as {row.status}")
        row.status = final.value
        row.ended_ns = _now() if ts is None else ts
        session.flush()

    @staticmethod
    def get(session: Session, run_id: str) -> RunRecord | None:
        row = session.get(RunRow, run_id)
        if row is None:
            return None
        return RunRecord(
            row.id, RunMode(row.mode), row.strategy, row.params, row.started_ns, row.ended_ns, RunStatus(row.status)
        )
