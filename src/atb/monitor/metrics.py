"""Prometheus metrics of a node: system, process and business figures on one private registry.

Each `AtbMetrics` owns its `CollectorRegistry` rather than using prometheus_client's global one:
the global registry is process-wide, so two apps in one process (the test suite, an API next to a
node) would collide on metric names ("Duplicated timeseries"). `render()` exposes exactly this
registry, for the `/metrics` endpoint.

prometheus_client and psutil belong to the `api` extra. They are imported in the constructor, so
importing this module (for `BusinessSnapshot`, say) costs nothing and a missing extra is named in a
`MissingExtraError` instead of failing at import time somewhere else.

Every label value creates a time series that lives for the life of the process here and for the
retention period in Prometheus, so every label is kept to a small bounded set: order statuses come
from `OrderStatus`, reject reasons are normalised and capped (`normalise_reason`), symbols and
venues are the node's configured ones.

`values()` gives the same figures as a flat dict under the names the alert rules use, so the rules
read plain numbers instead of parsing the exposition text.
"""

from __future__ import annotations

import importlib
import logging
import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from atb.domain.enums import OrderStatus
from atb.errors import MissingExtraError

if TYPE_CHECKING:
    from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "BREAKER_STATE_VALUES",
    "MAX_REASON_CHARS",
    "MAX_REJECT_REASONS",
    "ROUNDTRIP_BUCKETS",
    "AtbMetrics",
    "BusinessSnapshot",
    "EventLoopLagMonitor",
    "MetricsSampler",
    "normalise_reason",
]

log = logging.getLogger(__name__)

BREAKER_STATE_VALUES: dict[str, int] = {"closed": 0, "half_open": 1, "open": 2}
"""Gauge value of `atb_circuit_breaker_state` per `BreakerState` value (ordered by severity)."""

ORDER_STATUSES = frozenset(status.value for status in OrderStatus)
MAX_REASON_CHARS = 40
MAX_REJECT_REASONS = 32
OTHER = "other"
ROUNDTRIP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
"""Seconds; a REST venue answers in tens to hundreds of milliseconds, a struggling one in seconds."""

_NOT_LETTERS = re.compile(r"[^a-z]+")


def normalise_reason(reason: str) -> str:
    """A reject reason reduced to a bounded label value: lower-case letters and `_`, at most 40 chars.

    Venue messages embed order ids, quantities, prices and error codes ("Order 8123 would trigger
    immediately", "need 0.0123 BTC"); used raw as a label, every reject would open a new time series.
    Dropping digits folds those variants into one value and the length cut keeps long messages from
    differing only in their tails. Pass a short machine reason when there is one (the risk check name,
    the ccxt exception class): this is the safety net, not the place to parse messages.
    """
    text = _NOT_LETTERS.sub("_", reason.lower()).strip("_")
    return text[:MAX_REASON_CHARS].rstrip("_") or "unknown"


@dataclass(frozen=True, slots=True)
class BusinessSnapshot:
    """The trading figures the node publishes, as floats (Prometheus stores float64 only).

    `drawdown_pct` is the fall from peak equity in percent, positive (as in `atb.risk`).
    `var_95_pct` is None until there is enough history to estimate it. `day_start_equity` (equity
    at the start of the trading day, as the risk engine keeps it) lets the daily loss be computed
    here with one definition instead of by every caller.
    """

    equity: float
    realised_pnl: float
    unrealised_pnl: float
    drawdown_pct: float
    gross_exposure: float
    var_95_pct: float | None
    open_orders: int
    day_start_equity: float | None = None

    @property
    def daily_loss_pct(self) -> float | None:
        """Loss since the start of the day in percent of that day's starting equity; 0 when up."""
        if self.day_start_equity is None or self.day_start_equity <= 0:
            return None
        return max(0.0, (self.day_start_equity - self.equity) / self.day_start_equity * 100.0)


class AtbMetrics:
    """All metrics of one node (see the module docstring); safe to call from several threads.

    `clock` (monotonic seconds) times the reject-rate window; tests pass a fake one.
    """

    def __init__(
        self,
        *,
        disk_path: str | Path = ".",
        reject_window_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        try:
            from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
        except ImportError as exc:
            raise MissingExtraError("metrics", "api", "prometheus-client") from exc
        try:
            psutil: Any = importlib.import_module("psutil")  # untyped package: kept as Any
        except ImportError as exc:
            raise MissingExtraError("metrics", "api", "psutil") from exc
        if reject_window_seconds <= 0:
            raise ValueError("reject_window_seconds must be positive")
        self._psutil = psutil
        self._process: Any = psutil.Process()
        psutil.cpu_percent(interval=None)  # the first call only starts the measurement and returns 0.0
        self._clock = clock
        self._lock = threading.Lock()
        self.disk_path = Path(disk_path)
        self.reject_window_seconds = reject_window_seconds
        self.registry = CollectorRegistry(auto_describe=True)
        self.content_type: str = CONTENT_TYPE_LATEST

        def gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> Gauge:
            return Gauge(name, doc, labels, registry=self.registry)

        def counter(name: str, doc: str, labels: tuple[str, ...] = ()) -> Counter:
            return Counter(name, doc, labels, registry=self.registry)

        # system
        self._cpu = gauge("atb_system_cpu_percent", "Machine CPU use since the previous sample, percent of all cores.")
        self._mem_used = gauge("atb_system_memory_used_bytes", "Machine memory in use (total - available).")
        self._mem_available = gauge("atb_system_memory_available_bytes", "Memory available without swapping.")
        self._mem_pct = gauge("atb_system_memory_used_percent", "Machine memory in use, percent of total.")
        self._disk_free = gauge("atb_system_disk_free_bytes", "Free bytes on the disk holding path.", ("path",))
        self._disk_pct = gauge("atb_system_disk_free_percent", "Free space on the disk holding path, %.", ("path",))
        self._net_sent = counter("atb_system_network_sent_bytes_total", "Bytes sent on all interfaces since boot.")
        self._net_recv = counter("atb_system_network_received_bytes_total", "Bytes received on all interfaces.")
        # process
        self._rss = gauge("atb_process_rss_bytes", "Resident memory of this process.")
        self._open_files = gauge("atb_process_open_files", "Open descriptors (files, sockets, pipes): vs ulimit -n.")
        self._loop_lag = gauge("atb_event_loop_lag_seconds", "How late the event loop woke a timer, last sample.")
        # business
        self._equity = gauge("atb_equity", "Account equity in the quote currency.")
        self._realised = gauge("atb_realised_pnl", "Realised profit and loss, fees included.")
        self._unrealised = gauge("atb_unrealised_pnl", "Unrealised profit and loss at the marks.")
        self._drawdown = gauge("atb_drawdown_pct", "Fall from peak equity, percent (positive).")
        self._daily_loss = gauge("atb_daily_loss_pct", "Loss since the start of the day, percent; NaN if unknown.")
        self._gross = gauge("atb_gross_exposure", "Sum of absolute position values.")
        self._var95 = gauge("atb_var_95_pct", "One-period 95 % value at risk, percent; NaN until estimable.")
        self._open_orders = gauge("atb_open_orders", "Orders working at the venue.")
        self._orders = counter("atb_orders_total", "Order events by status (submitted, filled, ...).", ("status",))
        self._fills = counter("atb_fills_total", "Fills (executions) received.")
        self._rejects = counter("atb_order_rejects_total", "Orders refused, by normalised reason.", ("reason",))
        self._roundtrip: Histogram = Histogram(
            "atb_order_roundtrip_seconds",
            "Time from sending an order to the venue's acknowledgement.",
            buckets=ROUNDTRIP_BUCKETS,
            registry=self.registry,
        )
        self._staleness = gauge("atb_feed_staleness_seconds", "Age of the newest bar or tick.", ("symbol",))
        self._breaker = gauge("atb_circuit_breaker_state", "0 closed, 1 half-open, 2 open.", ("venue",))
        # the sampler itself
        self._interval = gauge("atb_metrics_sample_interval_seconds", "Current system sampling interval.")
        self._sample_errors = counter("atb_metrics_sample_errors_total", "Samples that raised (see the log).")

        self._values: dict[str, float] = {}
        self._staleness_by_symbol: dict[str, float] = {}
        self._breaker_by_venue: dict[str, int] = {}
        self._reject_times: deque[float] = deque()
        self._reasons: set[str] = set()
        self._net_last: tuple[int, int] | None = None
        self._unknown_statuses: set[str] = set()

    # ------------------------------------------------------------------ system and process

    def sample_system(self) -> None:
        """Read CPU, memory, disk, network and this process's RSS and descriptors once."""
        ps = self._psutil
        cpu = float(ps.cpu_percent(interval=None))
        memory = ps.virtual_memory()
        disk = ps.disk_usage(str(self.disk_path))
        net = ps.net_io_counters()
        rss = float(self._process.memory_info().rss)
        proc = self._process
        open_files = float(proc.num_fds() if hasattr(proc, "num_fds") else proc.num_handles())  # Unix / Windows
        used = float(memory.total - memory.available)
        mem_pct = used / memory.total * 100.0 if memory.total else 0.0
        disk_pct = disk.free / disk.total * 100.0 if disk.total else 0.0
        path = str(self.disk_path)
        self._cpu.set(cpu)
        self._mem_used.set(used)
        self._mem_available.set(float(memory.available))
        self._mem_pct.set(mem_pct)
        self._disk_free.labels(path=path).set(float(disk.free))
        self._disk_pct.labels(path=path).set(disk_pct)
        self._rss.set(rss)
        self._open_files.set(open_files)
        if net is not None:  # None on a machine without network interfaces
            self._count_network(int(net.bytes_sent), int(net.bytes_recv))
        with self._lock:
            self._values.update(
                cpu_percent=cpu,
                memory_used_pct=mem_pct,
                disk_free_pct=disk_pct,
                disk_free_bytes=float(disk.free),
                process_rss_bytes=rss,
                process_open_files=open_files,
            )

    def _count_network(self, sent: int, received: int) -> None:
        """Add the bytes since the previous sample; the first sample adds the total since boot.

        That makes the counters read like node_exporter's (bytes since boot). A counter that went
        backwards (interface reset, 32-bit wrap) restarted from zero, so its whole new value is new.
        """
        last_sent, last_received = self._net_last or (None, None)
        self._net_last = (sent, received)
        for metric, now, before in ((self._net_sent, sent, last_sent), (self._net_recv, received, last_received)):
            metric.inc(now if before is None or now < before else now - before)

    def observe_event_loop_lag(self, seconds: float) -> None:
        self._loop_lag.set(seconds)
        with self._lock:
            self._values["event_loop_lag_seconds"] = seconds

    def set_sample_interval(self, seconds: float) -> None:
        self._interval.set(seconds)

    def sample_failed(self) -> None:
        self._sample_errors.inc()

    # ------------------------------------------------------------------ business

    def observe_business(self, snapshot: BusinessSnapshot) -> None:
        """Publish the node's trading figures; None values become NaN (Prometheus for "unknown")."""
        daily = snapshot.daily_loss_pct
        self._equity.set(snapshot.equity)
        self._realised.set(snapshot.realised_pnl)
        self._unrealised.set(snapshot.unrealised_pnl)
        self._drawdown.set(snapshot.drawdown_pct)
        self._daily_loss.set(math.nan if daily is None else daily)
        self._gross.set(snapshot.gross_exposure)
        self._var95.set(math.nan if snapshot.var_95_pct is None else snapshot.var_95_pct)
        self._open_orders.set(snapshot.open_orders)
        with self._lock:
            self._values.update(
                equity=snapshot.equity,
                realised_pnl=snapshot.realised_pnl,
                unrealised_pnl=snapshot.unrealised_pnl,
                drawdown_pct=snapshot.drawdown_pct,
                gross_exposure=snapshot.gross_exposure,
                open_orders=float(snapshot.open_orders),
            )
            # unknown figures are left out of values(): an alert rule must not read "no data" as 0
            for key, value in (("daily_loss_pct", daily), ("var_95_pct", snapshot.var_95_pct)):
                if value is None:
                    self._values.pop(key, None)
                else:
                    self._values[key] = value

    def order_submitted(self) -> None:
        self._orders.labels(status=OrderStatus.SUBMITTED.value).inc()

    def order_status(self, status: str) -> None:
        """Count an order reaching `status` (an `OrderStatus` value); anything else counts as "other".

        A metrics hook sits in the order path, so an unexpected status is logged once, not raised.
        """
        label = status.lower()
        if label not in ORDER_STATUSES:
            if label not in self._unknown_statuses:
                self._unknown_statuses.add(label)
                log.warning("metrics: unknown order status %r counted as %r", status, OTHER)
            label = OTHER
        self._orders.labels(status=label).inc()

    def order_rejected(self, reason: str) -> None:
        """Count a reject under its normalised reason (and as status "rejected": do not also call order_status).

        After `MAX_REJECT_REASONS` distinct reasons, new ones count as "other": a hard bound on series
        even if messages vary in ways `normalise_reason` cannot fold.
        """
        label = normalise_reason(reason)
        with self._lock:
            if label not in self._reasons:
                if len(self._reasons) >= MAX_REJECT_REASONS:
                    label = OTHER
                else:
                    self._reasons.add(label)
            self._reject_times.append(self._clock())
        self._rejects.labels(reason=label).inc()
        self._orders.labels(status=OrderStatus.REJECTED.value).inc()

    def fill(self) -> None:
        self._fills.inc()

    def order_roundtrip(self, seconds: float) -> None:
        self._roundtrip.observe(seconds)

    def feed_staleness(self, symbol: str, seconds: float) -> None:
        self._staleness.labels(symbol=symbol).set(seconds)
        with self._lock:
            self._staleness_by_symbol[symbol] = seconds

    def breaker_state(self, venue: str, state: str) -> None:
        """Publish a breaker state: a `BreakerState` (a str enum) or its value ("closed", "half_open", "open")."""
        value = BREAKER_STATE_VALUES.get(str(state))
        if value is None:
            raise ValueError(f"unknown breaker state {state!r}; expected one of {sorted(BREAKER_STATE_VALUES)}")
        self._breaker.labels(venue=venue).set(value)
        with self._lock:
            self._breaker_by_venue[venue] = value

    def breaker_listener(self, name: str, old: str, new: str) -> None:
        """Matches `CircuitBreaker(listener=...)`, so every transition reaches the gauge without polling."""
        self.breaker_state(name, new)

    # ------------------------------------------------------------------ reading

    def rejected_order_rate(self) -> float:
        """Rejects per minute over the last `reject_window_seconds`."""
        with self._lock:
            horizon = self._clock() - self.reject_window_seconds
            times = self._reject_times
            while times and times[0] <= horizon:
                times.popleft()
            count = len(times)
        return count * 60.0 / self.reject_window_seconds

    def values(self) -> dict[str, float]:
        """Current figures under the alert rules' names.

        Always present: `breaker_open` (1 if any breaker is open), `rejected_order_rate`. Present once
        observed: `drawdown_pct`, `daily_loss_pct`, `feed_staleness_seconds` (worst symbol),
        `disk_free_pct`, `memory_used_pct`, `cpu_percent`, `equity`, `var_95_pct`, ... A figure never
        observed is absent rather than 0, so a rule cannot fire or resolve on missing data.
        """
        rate = self.rejected_order_rate()
        with self._lock:
            result = dict(self._values)
            if self._staleness_by_symbol:
                result["feed_staleness_seconds"] = max(self._staleness_by_symbol.values())
            open_value = BREAKER_STATE_VALUES["open"]
            result["breaker_open"] = 1.0 if open_value in self._breaker_by_venue.values() else 0.0
        result["rejected_order_rate"] = rate
        return result

    def render(self) -> bytes:
        """The Prometheus text exposition of this registry (serve it with `content_type`)."""
        from prometheus_client import generate_latest

        return generate_latest(self.registry)


# The asyncio tasks live in their own module to keep this one about the registry; re-exported here
# because they are part of the metrics API (imported last: sampling.py refers back to AtbMetrics).
from atb.monitor.sampling import EventLoopLagMonitor, MetricsSampler  # noqa: E402
