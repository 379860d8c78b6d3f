"""The serving process's monitoring loop: metrics in, alerts out, everything onto the event bus.

One `MetricsSampler` drives it: every `interval` seconds (every `fast_interval` while an alert
fires, so the figures around an incident are dense) it samples the system, reads the node's
trading figures into `AtbMetrics`, evaluates the alert rules on `AtbMetrics.values()`, and for
each alert event stores it (`AlertRepository`), hands it to the `Notifier` (which never blocks)
and publishes it on the bus for the websocket. A second task reads the node's bus: equity per
bar into the equity curve, fills and order outcomes into the counters, bar arrivals for feed
staleness. Both run on the node's loop, so nothing here needs a lock, and the process's database
writes (alert events, `writers` such as token use) fall between the node's own transactions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from atb.api.live_view import EquityCurve, node_portfolio
from atb.monitor.alerts import AlertEngine, AlertEvent, AlertKind
from atb.monitor.metrics import AtbMetrics, BusinessSnapshot, EventLoopLagMonitor, MetricsSampler
from atb.node.bus import EventBus
from atb.store import AlertRepository, session_scope

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from atb.monitor.notify import Notifier
    from atb.node.live import LiveNode

__all__ = ["Monitor", "alert_event_dict"]

log = logging.getLogger("atb.api.monitor")


def alert_event_dict(event: AlertEvent) -> dict[str, Any]:
    """An alert event for the websocket and the API: floats that JSON can carry (inf/NaN as None)."""

    def num(value: float) -> float | None:
        return value if math.isfinite(value) else None

    return {
        "rule": event.name,
        "severity": str(event.severity),
        "kind": str(event.kind),
        "value": num(event.value),
        "threshold": num(event.threshold),
        "title": event.title,
        "message": event.message,
        "silenced": event.silenced,
        "silenced_until": event.silenced_until,
        "at": event.at,
    }


class Monitor:
    """Samples metrics, evaluates alerts, records and delivers alert events (see the module docstring)."""

    def __init__(
        self,
        *,
        metrics: AtbMetrics,
        alerts: AlertEngine,
        bus: EventBus,
        sessions: sessionmaker[Session],
        equity: EquityCurve,
        node: LiveNode | None = None,
        notifier: Notifier | None = None,
        interval: float = 15.0,
        fast_interval: float = 2.0,
        writers: Sequence[Callable[[], object]] = (),
        node_running: Callable[[], bool] = lambda: True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.metrics = metrics
        self.alerts = alerts
        self.bus = bus
        self.sessions = sessions
        self.equity = equity
        self.node = node
        self.notifier = notifier
        self._node_running = node_running
        self._clock = clock
        self.sampler = MetricsSampler(
            metrics,
            interval=interval,
            fast_interval=min(fast_interval, interval),
            alert_firing=lambda: bool(self.alerts.active()),
            collectors=(self.collect_node, self.evaluate, *writers),
        )
        self.lag = EventLoopLagMonitor(metrics.observe_event_loop_lag, interval=0.5)
        self._queue: asyncio.Queue[dict[str, Any]] | None = None
        self._reader: asyncio.Task[None] | None = None
        self._last_bar: float | None = None
        self._started = time.monotonic()
        self.events_recorded = 0

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Subscribe to the bus first, so no bar of a node started right after is missed."""
        self._queue = self.bus.subscribe()
        self._started = time.monotonic()
        self._reader = asyncio.get_running_loop().create_task(self._read_bus(self._queue), name="atb-api-bus")
        self.lag.start()
        self.sampler.start()

    async def stop(self) -> None:
        await self.sampler.stop()
        await self.lag.stop()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        if self._queue is not None:
            self.bus.unsubscribe(self._queue)
            self._queue = None

    # ------------------------------------------------------------------ the bus

    async def _read_bus(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        while True:
            event = await queue.get()
            try:
                self.observe(event)
            except Exception:  # one odd event must not end the reader
                log.exception("monitor: cannot process bus event %s", event.get("type"))

    def observe(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "equity":
            self._last_bar = time.monotonic()
            self.equity.add(int(event["bar_ts_ms"]), Decimal(str(event["equity"])))
        elif kind == "fill":
            self.metrics.fill()
        elif kind == "order":
            status = str(event.get("status", ""))
            if status in ("denied", "rejected"):
                reason = str(event.get("reason") or status)
                self.metrics.order_rejected(reason.split(":")[0])
            else:
                self.metrics.order_status(status)

    # ------------------------------------------------------------------ collectors (run by the sampler)

    def collect_node(self) -> None:
        """The node's trading figures, feed staleness and breaker state, while it trades.

        Before it is ready there is nothing to read; after it stopped the last figures stay as they
        were (a stopped node's feed is not "stale", and /health/ready already says it stopped).
        """
        node = self.node
        if node is None or node.router is None or node.context is None or not self._node_running():
            return
        router, ctx = node.router, node.context
        account = router.account
        portfolio = node_portfolio(node, self.equity)
        precision = account.currency.precision
        realised_units = sum(p.realised_units - p.fees_units for p in account.positions.values())
        unrealised = sum((Decimal(p.unrealised_pnl) for p in portfolio.positions), Decimal(0))
        equity = float(portfolio.equity)
        peak = node.risk.watermarks.peak
        drawdown = float((peak - portfolio.equity) / peak * 100) if peak is not None and peak > 0 else 0.0
        day_start = node.risk.watermarks.day_start
        self.metrics.observe_business(
            BusinessSnapshot(
                equity=equity,
                realised_pnl=float(Decimal(realised_units).scaleb(-precision)),
                unrealised_pnl=float(unrealised),
                drawdown_pct=max(0.0, drawdown),
                gross_exposure=float(portfolio.gross_exposure),
                var_95_pct=portfolio.var_95_pct,
                open_orders=len(router.open_orders()),
                day_start_equity=None if day_start is None else float(day_start),
            )
        )
        timeframe_s = ctx.feed(ctx.symbols()[0]).timeframe_ns / 1e9
        since = self._last_bar if self._last_bar is not None else self._started
        overdue = max(0.0, time.monotonic() - since - timeframe_s)
        for symbol in ctx.symbols():
            self.metrics.feed_staleness(symbol, overdue)
        breaker = getattr(node.exchange, "breaker", None)
        if breaker is not None:
            self.metrics.breaker_state(str(breaker.name), str(breaker.state))

    def evaluate(self) -> None:
        for event in self.alerts.evaluate(self.metrics.values(), self._clock()):
            self.record(event)

    # ------------------------------------------------------------------ alert events

    def record(self, event: AlertEvent) -> None:
        """Store, deliver and publish one alert event; a failing store does not stop the delivery."""
        try:
            with session_scope(self.sessions) as session:
                AlertRepository.append(session, event)
        except Exception:
            log.exception("alert %s %s could not be stored", event.name, event.kind)
        if self.notifier is not None:
            self.notifier.notify(event)
        self.bus.publish("alert", alert_event_dict(event))
        self.events_recorded += 1
        level = logging.WARNING if event.kind in (AlertKind.FIRED, AlertKind.REMINDER) else logging.INFO
        log.log(level, "alert: %s", event.title)
