"""Everything the API serves from, in one object: database, optional trading node, metrics, alerts, backtests.

`create_app(state)` keeps it on `app.state.atb`; its lifespan calls `start()` and `stop()`, so the
node, the monitor and the API share one event loop — uvicorn's in `atb serve`, the test client's
in the tests. That is what lets a route call the node's order router directly (under the node's
lock) and the websocket read the node's event bus without any thread hand-off.

Without a node the API still answers from the database (runs, orders, fills, positions, alert
history), runs backtests and reports health; order routes answer 409.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy.orm import Session, sessionmaker

from atb.api.backtests import BacktestRegistry
from atb.api.live_view import EquityCurve
from atb.api.monitor import Monitor
from atb.api.tokens import TokenUsage
from atb.monitor.alerts import AlertEngine, AlertsConfig
from atb.monitor.health import ComponentStatus, HealthChecker, check_breakers, check_database, check_disk
from atb.monitor.metrics import AtbMetrics
from atb.node.bus import EventBus

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from atb.monitor.notify import Notifier
    from atb.node.live import LiveNode

__all__ = ["ApiState", "NodeState"]

log = logging.getLogger("atb.api")
NodeState = Literal["starting", "running", "stopped", "failed"]
_STOP_TIMEOUT = 30.0


class ApiState:
    """See the module docstring. `node_main` replaces `node.run()` when the caller must clean up after it."""

    def __init__(
        self,
        engine: Engine,
        *,
        node: LiveNode | None = None,
        node_main: Callable[[], Awaitable[Any]] | None = None,
        mode: str | None = None,
        alerts: AlertsConfig | None = None,
        notifier: Notifier | None = None,
        metrics: AtbMetrics | None = None,
        results_dir: Path = Path("results"),
        monitor_interval: float = 15.0,
        monitor_fast_interval: float = 2.0,
        max_backtests: int = 1,
        disk_path: Path | None = None,
    ) -> None:
        self.engine = engine
        self.sessions: sessionmaker[Session] = sessionmaker(engine, expire_on_commit=False)
        self.node = node
        self.mode = mode if node is not None else None
        self._node_main = node_main
        self.bus = node.bus if node is not None else EventBus()
        self.disk_path = disk_path or Path.cwd()
        self.metrics = metrics if metrics is not None else AtbMetrics(disk_path=self.disk_path)
        self.alerts_config = alerts or AlertsConfig()
        self.alerts = AlertEngine.from_config(self.alerts_config)
        self.notifier = notifier
        self.equity = EquityCurve()
        self.token_usage = TokenUsage()
        self.results_dir = results_dir
        self.backtests = BacktestRegistry(results_dir, self.bus.publish, max_parallel=max_backtests)
        self.monitor = Monitor(
            metrics=self.metrics,
            alerts=self.alerts,
            bus=self.bus,
            sessions=self.sessions,
            equity=self.equity,
            node=node,
            notifier=notifier,
            interval=monitor_interval,
            fast_interval=monitor_fast_interval,
            writers=(lambda: self.token_usage.flush(self.sessions),),
            node_running=lambda: self.node_state == "running",
        )
        self.health = self._health_checks()
        self.started = time.time()
        self.node_error: str | None = None
        self.websocket_clients = 0
        self._node_task: asyncio.Task[Any] | None = None

    # ------------------------------------------------------------------ health

    def _health_checks(self) -> HealthChecker:
        checker = HealthChecker(timeout=5.0)
        checker.register("database", lambda: check_database(self.engine, timeout=3.0))
        checker.register("disk", lambda: check_disk(self.disk_path))
        if self.node is not None:
            checker.register("node", self._node_check, inline=True)
            checker.register("market_data", self._freshness_check, inline=True)
            breaker = getattr(self.node.exchange, "breaker", None)
            if breaker is not None:
                checker.register("breakers", lambda: check_breakers([breaker]), inline=True)
        return checker

    def _node_check(self) -> ComponentStatus:
        state = self.node_state
        node = self.node
        assert node is not None
        run = f"run {node.store.run_id}"
        if state == "running":
            if node.router is not None and node.router.halted:
                return ComponentStatus.failed("node", f"{run} is halted by the kill switch")
            return ComponentStatus.passed("node", f"{run} trading ({self.mode})", bars=node.summary.bars)
        if state == "starting":
            return ComponentStatus.failed("node", f"{run} is starting (reconciling and warming up)")
        if state == "failed":
            return ComponentStatus.failed("node", f"{run} stopped with an error: {self.node_error}")
        return ComponentStatus.failed("node", f"{run} has stopped ({node.summary.status.value})")

    def _freshness_check(self) -> ComponentStatus:
        values = self.metrics.values()
        overdue = values.get("feed_staleness_seconds")
        if overdue is None:
            return ComponentStatus.warning("market_data", "no bar measured yet")
        if overdue > 60.0:
            return ComponentStatus.failed("market_data", f"the next bar is {overdue:.0f} s overdue")
        return ComponentStatus.passed("market_data", f"bars on time (next one {overdue:.0f} s overdue at most)")

    # ------------------------------------------------------------------ the node

    @property
    def node_state(self) -> NodeState | None:
        if self.node is None:
            return None
        task = self._node_task
        if task is None:
            return "starting"
        if task.done():
            return "failed" if self.node_error is not None else "stopped"
        return "running" if self.node.ready.is_set() else "starting"

    @property
    def run_id(self) -> str | None:
        return None if self.node is None else self.node.store.run_id

    async def _run_node(self) -> None:
        node = self.node
        assert node is not None
        try:
            await (self._node_main() if self._node_main is not None else node.run())
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.node_error = str(exc) or type(exc).__name__
            log.error("the trading node stopped with an error", exc_info=exc)
            self.bus.publish("status", {"status": "failed", "error": self.node_error})

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Monitor first (it subscribes to the bus), then the node, so no bar is missed."""
        self.monitor.start()
        if self.node is not None:
            from atb.api.node_wiring import MeteredExchange

            if not isinstance(self.node.exchange, MeteredExchange):
                self.node.exchange = MeteredExchange(self.node.exchange, self.metrics)
            self._node_task = asyncio.get_running_loop().create_task(self._run_node(), name="atb-node")

    async def wait_node_ready(self, timeout: float) -> None:
        """Until the node trades (or stops): tests and the CLI's start-up message use it."""
        node, task = self.node, self._node_task
        if node is None or task is None:
            return
        ready = asyncio.ensure_future(node.ready.wait())
        try:
            await asyncio.wait({ready, task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ready.cancel()

    def request_stop(self) -> None:
        if self.node is not None:
            self.node.request_stop()

    async def stop(self) -> None:
        """Stop the node gracefully (its open orders per `on_stop`), then the monitor, backtests, notifier."""
        task = self._node_task
        if task is not None and not task.done():
            self.request_stop()
            done, _ = await asyncio.wait({task}, timeout=_STOP_TIMEOUT)
            if not done:
                log.error("the trading node did not stop within %.0f s; cancelling it", _STOP_TIMEOUT)
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.monitor.stop()
        await self.backtests.shutdown()
        if self.notifier is not None:
            await asyncio.to_thread(self.notifier.close, 10.0)
