"""Start-up reconciliation: make the database agree with the venue before trading resumes.

The ledger is rebuilt from the stored fills; every order the database says may be live
(intents included: a crash may have sent them) is looked up by client order id; fills the
venue made while the node was down are booked by trade id; balances are compared with what the
run holds. Every correction is logged and written to the audit log.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from decimal import Decimal

from atb.domain import Account, Instrument
from atb.domain.money import Quantity
from atb.node.exchange import Balances
from atb.node.persistence import NodeStore
from atb.node.router import OrderRouter


@dataclass
class ReconcileReport:
    orders_checked: int = 0
    fills_recovered: int = 0
    orders_closed: int = 0
    corrections: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"reconciled: {self.orders_checked} open order(s) checked, {self.fills_recovered} fill(s) recovered, "
            f"{self.orders_closed} order(s) closed, {len(self.corrections)} correction(s)"
        )


def rebuild_account(account: Account, store: NodeStore) -> set[str]:
    """Replay every stored fill of the run into `account`; returns their trade ids."""
    trade_ids: set[str] = set()
    for fill in store.fills():
        account.book(fill.instrument, fill.position_lots, fill.ticks, fill.fee_units, fill.ts_event)
        trade_ids.add(str(fill.trade_id))
    return trade_ids


async def reconcile(
    router: OrderRouter, store: NodeStore, balances: Balances, *, logger: logging.Logger | None = None
) -> ReconcileReport:
    """Adopt the stored open orders, ask the venue about each, book missed fills, compare balances."""
    log = logger or logging.getLogger("atb.node")
    report = ReconcileReport()
    stored = store.open_orders()
    report.orders_checked = len(stored)
    for order in stored:
        router.adopt(order)
    before_fills = router.fills_booked
    await router.sync(startup=True)
    report.fills_recovered = router.fills_booked - before_fills
    report.orders_closed = sum(1 for order in stored if not order.is_open)
    for order in stored:
        if not order.is_open:
            report.corrections.append(f"order {order.client_order_id} is {order.status.value} at the venue")
    if report.fills_recovered:
        report.corrections.append(f"{report.fills_recovered} fill(s) made while the node was down were booked")
    report.corrections.extend(_balance_differences(router.account, router.instruments, balances))
    for line in report.corrections:
        log.warning("reconcile: %s", line)
        store.audit("reconcile_correction", {"detail": line})
    log.info("%s", report.summary())
    return report


def _balance_differences(account: Account, instruments: dict[str, Instrument], balances: Balances) -> list[str]:
    """Where the venue holds less of a base asset than the run's position (fees in base, or outside trades)."""
    out = []
    for sym, pos in account.positions.items():
        if not pos.lots:
            continue
        inst = instruments.get(str(sym))
        if inst is None:
            continue
        held = Quantity.from_lots(pos.lots, inst.lot).value
        free, locked = balances.get(inst.base.code, (Decimal(0), Decimal(0)))
        total = free + locked
        if total < held:
            out.append(
                f"{sym}: the run holds {held} {inst.base.code}, the venue {total} "
                f"(short by {held - total}; fees taken in {inst.base.code} or trades outside this run)"
            )
    return out
