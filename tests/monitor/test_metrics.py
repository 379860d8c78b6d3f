"""AtbMetrics read back through the Prometheus text format, plus the lag monitor and adaptive sampler."""

from __future__ import annotations

import asyncio
import logging
import math
import os
import shutil
import string
import sys
import time
from pathlib import Path

import psutil
import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from atb.domain.enums import OrderStatus
from atb.errors import MissingExtraError
from atb.monitor.metrics import (
    MAX_REASON_CHARS,
    MAX_REJECT_REASONS,
    AtbMetrics,
    BusinessSnapshot,
    EventLoopLagMonitor,
    MetricsSampler,
    normalise_reason,
)
from atb.venues.breaker import BreakerState, CircuitBreaker

Key = tuple[str, frozenset[tuple[str, str]]]


def scrape(metrics: AtbMetrics) -> dict[Key, float]:
    samples: dict[Key, float] = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(metrics: AtbMetrics, name: str, **labels: str) -> float:
    return scrape(metrics)[(name, frozenset(labels.items()))]


def label_values(metrics: AtbMetrics, name: str, label: str) -> set[str]:
    return {dict(labels)[label] for (sample, labels) in scrape(metrics) if sample == name}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


SNAPSHOT = BusinessSnapshot(
    equity=9_500.0,
    realised_pnl=-300.5,
    unrealised_pnl=-199.5,
    drawdown_pct=7.25,
    gross_exposure=12_000.0,
    var_95_pct=2.5,
    open_orders=3,
    day_start_equity=10_000.0,
)


def test_each_instance_has_its_own_registry_and_the_global_one_stays_empty() -> None:
    a, b = AtbMetrics(), AtbMetrics()
    a.fill()
    assert value(a, "atb_fills_total") == 1.0
    assert value(b, "atb_fills_total") == 0.0
    assert not [m.name for m in REGISTRY.collect() if m.name.startswith("atb_")]
    assert a.content_type.startswith("text/plain") and "version=" in a.content_type


def test_business_snapshot_is_published_and_readable_by_the_alert_names() -> None:
    m = AtbMetrics()
    m.observe_business(SNAPSHOT)
    for name, expected in {
        "atb_equity": 9_500.0,
        "atb_realised_pnl": -300.5,
        "atb_unrealised_pnl": -199.5,
        "atb_drawdown_pct": 7.25,
        "atb_gross_exposure": 12_000.0,
        "atb_var_95_pct": 2.5,
        "atb_open_orders": 3.0,
        "atb_daily_loss_pct": 5.0,  # (10 000 - 9 500) / 10 000 * 100
    }.items():
        assert value(m, name) == expected, name
    values = m.values()
    assert values["drawdown_pct"] == 7.25
    assert values["daily_loss_pct"] == 5.0
    assert values["breaker_open"] == 0.0 and values["rejected_order_rate"] == 0.0
    assert "feed_staleness_seconds" not in values  # never observed: absent, not 0


def test_unknown_figures_are_nan_in_prometheus_and_absent_from_values() -> None:
    m = AtbMetrics()
    m.observe_business(SNAPSHOT)
    later = BusinessSnapshot(10_100.0, 0.0, 100.0, 0.0, 5_000.0, None, 0, day_start_equity=None)
    m.observe_business(later)
    assert math.isnan(value(m, "atb_var_95_pct")) and math.isnan(value(m, "atb_daily_loss_pct"))
    assert "var_95_pct" not in m.values() and "daily_loss_pct" not in m.values()
    up = BusinessSnapshot(10_100.0, 0.0, 100.0, 0.0, 5_000.0, None, 0, day_start_equity=10_000.0)
    assert up.daily_loss_pct == 0.0  # a gain is no loss


def test_order_counters_by_status(caplog: pytest.LogCaptureFixture) -> None:
    m = AtbMetrics()
    for _ in range(3):
        m.order_submitted()
    m.order_status("filled")
    m.order_status(OrderStatus.CANCELED)
    m.fill()
    m.fill()
    m.order_rejected("Insufficient balance: need 0.0123 BTC")
    with caplog.at_level(logging.WARNING, logger="atb.monitor.metrics"):
        m.order_status("teleported")
        m.order_status("teleported")
    assert value(m, "atb_orders_total", status="submitted") == 3.0
    assert value(m, "atb_orders_total", status="filled") == 1.0
    assert value(m, "atb_orders_total", status="canceled") == 1.0
    assert value(m, "atb_orders_total", status="rejected") == 1.0  # counted by order_rejected
    assert value(m, "atb_orders_total", status="other") == 2.0
    assert value(m, "atb_fills_total") == 2.0
    assert value(m, "atb_order_rejects_total", reason="insufficient_balance_need_btc") == 1.0
    assert sum("teleported" in r.getMessage() for r in caplog.records) == 1  # warned once, not per order


def test_normalise_reason_examples() -> None:
    assert normalise_reason("Order 8123 would trigger immediately (code -2021)") == (
        "order_would_trigger_immediately_code"
    )
    assert normalise_reason("12345") == "unknown"
    assert normalise_reason("x" * 100) == "x" * MAX_REASON_CHARS
    assert normalise_reason("a" * 39 + " tail") == "a" * 39  # cut, then no dangling "_"


@given(st.text(), st.text(), st.text(alphabet=string.digits, min_size=1), st.text(alphabet=string.digits, min_size=1))
def test_normalised_reasons_are_short_plain_and_ignore_numbers(a: str, b: str, d1: str, d2: str) -> None:
    label = normalise_reason(a + d1 + b)
    assert 1 <= len(label) <= MAX_REASON_CHARS
    assert set(label) <= set(string.ascii_lowercase + "_") and not label.startswith("_") and not label.endswith("_")
    assert label == normalise_reason(a + d2 + b)


def test_reject_reason_label_cardinality_is_bounded() -> None:
    m = AtbMetrics()
    for i in range(500):  # one template, numbers vary: one series
        m.order_rejected(f"Order {i} rejected: price {i * 1.5} outside band")
    assert label_values(m, "atb_order_rejects_total", "reason") == {"order_rejected_price_outside_band"}

    def word(i: int) -> str:
        return "".join(string.ascii_lowercase[int(d)] for d in str(i))

    for i in range(200):  # 200 different wordings: capped
        m.order_rejected(f"reason {word(i)}")
    reasons = label_values(m, "atb_order_rejects_total", "reason")
    assert len(reasons) == MAX_REJECT_REASONS + 1 and "other" in reasons
    total = sum(v for (name, _), v in scrape(m).items() if name == "atb_order_rejects_total")
    assert total == 700.0  # nothing lost, only folded
    assert value(m, "atb_orders_total", status="rejected") == 700.0


def test_roundtrip_histogram_buckets() -> None:
    m = AtbMetrics()
    for seconds in (0.003, 0.2, 4.0):
        m.order_roundtrip(seconds)
    assert value(m, "atb_order_roundtrip_seconds_bucket", le="0.005") == 1.0
    assert value(m, "atb_order_roundtrip_seconds_bucket", le="0.25") == 2.0
    assert value(m, "atb_order_roundtrip_seconds_bucket", le="2.5") == 2.0
    assert value(m, "atb_order_roundtrip_seconds_bucket", le="5.0") == 3.0
    assert value(m, "atb_order_roundtrip_seconds_bucket", le="+Inf") == 3.0
    assert value(m, "atb_order_roundtrip_seconds_count") == 3.0
    assert value(m, "atb_order_roundtrip_seconds_sum") == pytest.approx(4.203)


def test_feed_staleness_and_breaker_states() -> None:
    m = AtbMetrics()
    m.feed_staleness("BTC/USDT", 3.5)
    m.feed_staleness("ETH/USDT", 42.0)
    assert value(m, "atb_feed_staleness_seconds", symbol="ETH/USDT") == 42.0
    assert m.values()["feed_staleness_seconds"] == 42.0  # the worst symbol
    m.breaker_state("binance", BreakerState.HALF_OPEN)
    assert value(m, "atb_circuit_breaker_state", venue="binance") == 1.0
    assert m.values()["breaker_open"] == 0.0
    m.breaker_state("kraken", BreakerState.OPEN)
    assert value(m, "atb_circuit_breaker_state", venue="kraken") == 2.0
    assert m.values()["breaker_open"] == 1.0
    m.breaker_state("kraken", "closed")
    assert m.values()["breaker_open"] == 0.0
    with pytest.raises(ValueError, match="unknown breaker state"):
        m.breaker_state("kraken", "ajar")


def test_breaker_listener_follows_a_real_breaker() -> None:
    m, clock = AtbMetrics(), FakeClock()
    breaker = CircuitBreaker(
        "binance", window=1, minimum_calls=1, open_seconds=10, half_open_probes=1,
        classifier=lambda exc: True, listener=m.breaker_listener, clock=clock,
    )  # fmt: skip

    def boom() -> None:
        raise ConnectionError("down")

    with pytest.raises(ConnectionError):
        breaker.call(boom)
    assert value(m, "atb_circuit_breaker_state", venue="binance") == 2.0
    clock.now += 10
    assert breaker.state is BreakerState.HALF_OPEN
    assert value(m, "atb_circuit_breaker_state", venue="binance") == 1.0
    breaker.call(lambda: None)
    assert value(m, "atb_circuit_breaker_state", venue="binance") == 0.0


def test_rejected_order_rate_is_per_minute_over_the_last_minute() -> None:
    clock = FakeClock()
    m = AtbMetrics(clock=clock)
    for _ in range(3):
        m.order_rejected("risk: max_open_orders")
    clock.now += 30
    m.order_rejected("risk: max_open_orders")
    m.order_rejected("risk: max_open_orders")
    assert m.values()["rejected_order_rate"] == 5.0
    clock.now += 31  # the first three are now 61 s old
    assert m.rejected_order_rate() == 2.0
    clock.now += 30
    assert m.values()["rejected_order_rate"] == 0.0
    half = AtbMetrics(clock=clock, reject_window_seconds=30)
    half.order_rejected("x")
    assert half.rejected_order_rate() == 2.0  # one in 30 s is two a minute


def test_sample_system_against_independent_readings(tmp_path: Path) -> None:
    m = AtbMetrics(disk_path=tmp_path)
    net_before = psutil.net_io_counters()
    m.sample_system()
    net_after = psutil.net_io_counters()
    path = str(tmp_path)
    disk = shutil.disk_usage(tmp_path)
    assert abs(value(m, "atb_system_disk_free_bytes", path=path) - disk.free) < 0.01 * disk.total
    assert value(m, "atb_system_disk_free_percent", path=path) == pytest.approx(disk.free / disk.total * 100, abs=1)
    values = m.values()
    assert values["memory_used_pct"] == pytest.approx(psutil.virtual_memory().percent, abs=2)
    assert values["disk_free_pct"] == value(m, "atb_system_disk_free_percent", path=path)
    assert 0.0 <= value(m, "atb_system_cpu_percent") <= 100.0
    assert value(m, "atb_system_memory_used_bytes") + value(m, "atb_system_memory_available_bytes") == pytest.approx(
        psutil.virtual_memory().total
    )
    sent = value(m, "atb_system_network_sent_bytes_total")
    assert net_before.bytes_sent <= sent <= net_after.bytes_sent  # first sample: bytes since boot
    m.sample_system()
    assert value(m, "atb_system_network_sent_bytes_total") >= sent
    if sys.platform.startswith("linux"):
        status = Path("/proc/self/status").read_text()
        vm_rss = int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1]) * 1024
        assert abs(value(m, "atb_process_rss_bytes") - vm_rss) < 64 * 1024**2
        assert abs(value(m, "atb_process_open_files") - len(os.listdir("/proc/self/fd"))) <= 2


@pytest.mark.parametrize(("module", "pip_name"), [("prometheus_client", "prometheus-client"), ("psutil", "psutil")])
def test_missing_extra_is_named(monkeypatch: pytest.MonkeyPatch, module: str, pip_name: str) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # makes the import raise ImportError
    with pytest.raises(MissingExtraError, match=r"atb\[api\]") as info:
        AtbMetrics()
    assert info.value.module == pip_name


def test_event_loop_lag_is_measured_when_a_task_blocks_the_loop() -> None:
    m = AtbMetrics()
    seen: list[float] = []

    def record(lag: float) -> None:
        seen.append(lag)
        m.observe_event_loop_lag(lag)

    async def scenario() -> tuple[EventLoopLagMonitor, int]:
        monitor = EventLoopLagMonitor(record, interval=0.01)
        blocked_at: list[int] = []

        async def hog() -> None:
            blocked_at.append(monitor.measurements)  # the monitor is suspended in a timer started before now
            time.sleep(0.3)  # a blocking call on the loop: the bug this monitor exists to show

        monitor.start()
        async with asyncio.timeout(30):  # a dead monitor must fail the test, not hang it
            while monitor.measurements < 2:
                await asyncio.sleep(0.01)
            await asyncio.create_task(hog())
            while monitor.measurements <= blocked_at[0]:
                await asyncio.sleep(0.01)
        await monitor.stop()
        assert not monitor.running
        return monitor, blocked_at[0]

    monitor, before = asyncio.run(scenario())
    # that timer was pending when the 0.3 s block began, so it fired at least 0.29 s late
    assert seen[before] > 0.2
    assert monitor.max_lag >= seen[before]
    assert value(m, "atb_event_loop_lag_seconds") == seen[-1]
    assert m.values()["event_loop_lag_seconds"] == seen[-1]


def test_sampler_switches_to_the_fast_interval_while_an_alert_fires() -> None:
    m = AtbMetrics()
    state = {"firing": False}
    asked: list[float] = []
    done = asyncio.Event()

    async def fake_sleep(seconds: float) -> None:
        asked.append(seconds)
        if len(asked) == 2:
            state["firing"] = True
        elif len(asked) == 4:
            state["firing"] = False
        elif len(asked) == 6:
            done.set()
        await asyncio.sleep(0)

    async def scenario() -> MetricsSampler:
        sampler = MetricsSampler(
            m, interval=15, fast_interval=2, alert_firing=lambda: state["firing"], sleep=fake_sleep
        )
        sampler.start()
        with pytest.raises(RuntimeError, match="already running"):
            sampler.start()
        await asyncio.wait_for(done.wait(), 30)
        await sampler.stop()
        await sampler.stop()  # twice is fine
        return sampler

    sampler = asyncio.run(scenario())
    assert asked[:6] == [15, 15, 2, 2, 15, 15]
    assert sampler.samples == len(asked)
    assert value(m, "atb_metrics_sample_interval_seconds") == asked[-1]
    assert "memory_used_pct" in m.values()  # the samples were real


def test_sampler_wake_ends_a_slow_pause_at_once() -> None:
    m = AtbMetrics()
    state = {"firing": False}

    async def scenario() -> MetricsSampler:
        sampled = asyncio.Event()
        sampler = MetricsSampler(
            m, interval=3600, fast_interval=1, alert_firing=lambda: state["firing"], collectors=[sampled.set]
        )
        sampler.start()
        await asyncio.wait_for(sampled.wait(), 30)
        sampled.clear()
        state["firing"] = True
        sampler.wake()  # without it the next sample would come in an hour
        await asyncio.wait_for(sampled.wait(), 30)
        await sampler.stop()
        return sampler

    sampler = asyncio.run(scenario())
    assert sampler.samples == 2
    assert value(m, "atb_metrics_sample_interval_seconds") == 1.0


def test_sampler_survives_failing_collectors_and_alert_state(caplog: pytest.LogCaptureFixture) -> None:
    m = AtbMetrics()
    asked: list[float] = []

    def broken() -> None:
        raise RuntimeError("feed gone")

    def alert_state() -> bool:
        raise RuntimeError("alert store down")

    three = asyncio.Event()

    async def fake_sleep(seconds: float) -> None:
        asked.append(seconds)
        if len(asked) == 3:
            three.set()
        await asyncio.sleep(0)

    async def scenario() -> MetricsSampler:
        sampler = MetricsSampler(
            m, interval=15, fast_interval=2, alert_firing=alert_state, collectors=[broken], sleep=fake_sleep
        )
        sampler.start()
        await asyncio.wait_for(three.wait(), 30)
        await sampler.stop()
        return sampler

    with caplog.at_level(logging.ERROR):
        sampler = asyncio.run(scenario())
    assert sampler.samples >= 3
    assert value(m, "atb_metrics_sample_errors_total") == float(sampler.samples)  # one failing collector each
    assert set(asked) == {2}  # unknown alert state: sample fast
    assert any("feed gone" in (r.exc_text or "") or "broken" in r.getMessage() for r in caplog.records)
    with pytest.raises(ValueError):
        MetricsSampler(m, interval=1, fast_interval=2)
