"""The kill switch's actions on a run: cancel every open order, go flat, set the halt flag.

Used by the node itself (the drawdown limit tripped, or it saw the halt flag) and by `atb kill`
when no node is running. The halt flag is written first, so a node running elsewhere stops
sending new orders at its next bar even while this cancels and flattens.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from atb.domain import OrderSide, OrderType
from atb.node.persistence import NodeStore
from atb.node.router import OrderRouter
from atb.risk import flatten_orders
from atb.store import RunStatus, session_scope
from atb.store.run_state import halt_run
from atb.strategy.context import OrderRequest

_log = logging.getLogger("atb.node")


@dataclass
class KillReport:
    reason: str
    cancelled: list[str] = field(default_factory=list)
    flatten_orders: list[str] = field(default_factory=list)
    still_open: list[str] = field(default_factory=list)
    positions_left: dict[str, int] = field(default_factory=dict)
    """Lots per symbol not flattened (e.g. dust below the venue's minimum order)."""

    def summary(self) -> str:
        left = ", ".join(f"{s} {lots} lots" for s, lots in self.positions_left.items()) or "none"
        return (
            f"kill switch: {len(self.cancelled)} order(s) cancelled, {len(self.flatten_orders)} flatten order(s) "
            f"sent, {len(self.still_open)} still open, positions left: {left}"
        )


async def execute_kill(
    router: OrderRouter,
    store: NodeStore,
    reason: str,
    *,
    actor: str,
    flatten: bool = True,
    settle_attempts: int = 5,
    settle_seconds: float = 0.2,
) -> KillReport:
    """Halt the run, cancel its open orders and (unless `flatten` is False) close its positions."""
    report = KillReport(reason)
    router.halted = True
    if store.status() is not RunStatus.HALTED:
        with session_scope(store.sessions) as session:
            halt_run(session, store.run_id, reason, actor=actor)
    _log.error("kill switch (%s): %s", actor, reason)
    for order in router.open_orders():
        router.cancel(order)
        report.cancelled.append(order.client_order_id)
    await router.flush()
    await router.sync()
    if flatten:
        for item in flatten_orders(router.account.positions):
            if item.side is OrderSide.BUY:
                _log.error("kill switch: %s is short %s lots; spot cannot buy it back here", item.symbol, item.lots)
                continue
            order = router.submit(OrderRequest(str(item.symbol), item.side, OrderType.MARKET, lots=item.lots,
                                               tag="kill switch"), flatten=True)  # fmt: skip
            report.flatten_orders.append(order.client_order_id)
        await router.flush()
    for _ in range(settle_attempts):
        await router.sync()
        if not router.open_orders():
            break
        await asyncio.sleep(settle_seconds)
    report.still_open = [o.client_order_id for o in router.open_orders()]
    report.positions_left = {str(s): p.lots for s, p in router.account.positions.items() if p.lots}
    store.audit("kill_switch_done", {"report": report.summary()})
    _log.error("%s", report.summary())
    return report
