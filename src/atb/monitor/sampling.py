"""The asyncio tasks that keep the metrics current: event-loop lag and adaptive system sampling.

Kept apart from `metrics.py` (which re-exports both) so that module stays about the registry.

Event-loop lag is the one process figure that says whether the node is keeping up: a callback that
blocks (a sync database call, a heavy computation on the loop) delays every order and every feed
message behind it, and nothing else shows it.

Sampling adapts: every `interval` normally, every `fast_interval` while an alert is firing, so that
the figures around an incident are dense when someone looks at them and cheap the rest of the time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from atb.monitor.metrics import AtbMetrics

__all__ = ["EventLoopLagMonitor", "MetricsSampler"]

log = logging.getLogger(__name__)


class _Task:
    """Start/stop of one background task on the running loop, shared by both monitors."""

    _task: asyncio.Task[None] | None = None

    def _start(self, coro: Callable[[], Coroutine[Any, Any, None]], name: str) -> None:
        if self._task is not None and not self._task.done():
            raise RuntimeError(f"{name} is already running")
        self._task = asyncio.get_running_loop().create_task(coro(), name=name)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def stop(self) -> None:
        """Cancel the task and wait for it; safe to call twice or before `start`."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            if not task.cancelled():  # we were cancelled ourselves while waiting: pass it on
                raise


class EventLoopLagMonitor(_Task):
    """Sleeps `interval` seconds in a loop and reports how much later than asked it woke up.

    The lag is the time other callbacks held the loop past the timer's deadline. `on_lag` is called
    after every measurement (e.g. `AtbMetrics.observe_event_loop_lag`); `max_lag` keeps the worst one.
    """

    def __init__(
        self,
        on_lag: Callable[[float], None],
        *,
        interval: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.interval = interval
        self._on_lag = on_lag
        self._clock = clock
        self.last_lag = 0.0
        self.max_lag = 0.0
        self.measurements = 0

    def start(self) -> None:
        self._start(self._run, "atb-event-loop-lag")

    async def _run(self) -> None:
        while True:
            started = self._clock()
            await asyncio.sleep(self.interval)
            lag = max(0.0, self._clock() - started - self.interval)
            self.last_lag = lag
            self.max_lag = max(self.max_lag, lag)
            self.measurements += 1
            try:
                self._on_lag(lag)
            except Exception:  # a broken hook must not end the measurement
                log.exception("event-loop lag hook failed")


class MetricsSampler(_Task):
    """Samples system metrics (and any `collectors`) every `interval`, or `fast_interval` while alerting.

    `alert_firing` is asked before every pause; if it raises, the sampler samples fast (an unknown
    alert state is treated as an incident) and logs the error. `wake()` ends the current pause at
    once, for the alert manager to call when an alert starts firing, so the fast rate begins now
    rather than after a slow interval. A sample that raises is logged and counted in
    `atb_metrics_sample_errors_total`; the next one still runs. `sleep` replaces the pause in tests.
    """

    def __init__(
        self,
        metrics: AtbMetrics,
        *,
        interval: float = 15.0,
        fast_interval: float = 2.0,
        alert_firing: Callable[[], bool] | None = None,
        collectors: Sequence[Callable[[], object]] = (),
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        if not 0 < fast_interval <= interval:
            raise ValueError("need 0 < fast_interval <= interval")
        self.metrics = metrics
        self.interval = interval
        self.fast_interval = fast_interval
        self._alert_firing = alert_firing
        self._collectors: tuple[Callable[[], object], ...] = (metrics.sample_system, *collectors)
        self._sleep = sleep or self._pause
        self._wake = asyncio.Event()
        self.samples = 0

    def start(self) -> None:
        self._start(self._run, "atb-metrics-sampler")

    def wake(self) -> None:
        self._wake.set()

    def current_interval(self) -> float:
        if self._alert_firing is None:
            return self.interval
        try:
            firing = bool(self._alert_firing())
        except Exception:
            log.exception("alert_firing() failed; sampling at the fast rate")
            firing = True
        return self.fast_interval if firing else self.interval

    def sample_once(self) -> None:
        for collect in self._collectors:
            try:
                collect()
            except Exception:
                self.metrics.sample_failed()
                log.exception("metrics sample %s failed", getattr(collect, "__qualname__", collect))
        self.samples += 1

    async def _run(self) -> None:
        while True:
            self.sample_once()
            interval = self.current_interval()
            self.metrics.set_sample_interval(interval)
            await self._sleep(interval)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):  # the interval ran out without a wake(): the usual case
            await asyncio.wait_for(self._wake.wait(), seconds)
        self._wake.clear()
