"""Health checks: every failure is a status with a reason, never an exception or a hang."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from atb.monitor.health import (
    ComponentStatus,
    HealthChecker,
    HealthReport,
    VenueActivity,
    check_breakers,
    check_data_freshness,
    check_database,
    check_disk,
    check_venue,
)
from atb.venues.breaker import BreakerState, CircuitBreaker


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    from atb.store.db import upgrade

    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'state.db'}"
    upgrade(url)
    return url


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts TCP connections and never says a word: a hung database."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    from atb.store.db import alembic_config

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


# ------------------------------------------------------------------------------------------- database


def test_migrated_sqlite_database_is_ok_with_its_revision(migrated_db: str) -> None:
    status = check_database(migrated_db)
    assert status.status == "ok", status.reason
    assert status.details["revision"] == head_revision()
    assert status.details["latency_ms"] >= 0


def test_reachable_but_unmigrated_database_warns(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE unrelated (x INTEGER)")
    status = check_database(f"sqlite:///{path}")
    assert status.status == "warn" and status.ok
    assert "not migrated" in status.reason


def test_missing_sqlite_file_fails_and_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "nope.db"
    status = check_database(f"sqlite:///{path}")
    assert status.status == "fail" and "does not exist" in status.reason
    assert not path.exists()  # connecting would have created an empty database
    assert check_database(f"sqlite:///{path}", missing_ok=True).status == "warn"


def test_an_engine_is_checked_as_is() -> None:
    from atb.store.db import make_engine, upgrade

    engine = make_engine("sqlite://")
    assert check_database(engine).status == "warn"  # in memory, no schema yet
    upgrade(engine)
    status = check_database(engine)
    assert status.status == "ok" and status.details["revision"] == head_revision()
    engine.dispose()


def test_unreachable_postgres_fails_with_a_reason_and_no_password(closed_port: int) -> None:
    status = check_database(f"postgresql+psycopg://atb:hunter2@127.0.0.1:{closed_port}/atb", timeout=2)
    assert status.status == "fail"
    assert status.reason.startswith(f"cannot reach postgresql+psycopg://atb:***@127.0.0.1:{closed_port}/atb:")
    assert "OperationalError" in status.reason
    assert "hunter2" not in repr(status)


def test_bad_urls_and_missing_drivers_are_reasons_not_exceptions() -> None:
    garbage = check_database("postgres is at db.internal with password hunter2")
    assert garbage.status == "fail" and "invalid database URL" in garbage.reason and "hunter2" not in repr(garbage)
    driver = check_database("mysql+pymysql://u:p@127.0.0.1/x")
    assert driver.status == "fail" and "'pymysql'" in driver.reason and "not installed" in driver.reason


def test_a_hung_database_times_out_instead_of_hanging_ready(silent_server: int) -> None:
    checker = HealthChecker(timeout=0.5)
    checker.register("database", lambda: check_database(f"postgresql+psycopg://u:p@127.0.0.1:{silent_server}/x"))
    checker.register("disk", lambda: ComponentStatus.passed("disk", "fine"))
    report = asyncio.run(checker.ready())
    assert report.component("database").status == "fail"
    assert report.component("database").reason == "no answer within 0.5 s"
    assert report.component("disk").ok  # the other checks still answered
    assert not report.ok and report.http_status == 503


# ------------------------------------------------------------------------------------------- data, venue


def test_data_freshness() -> None:
    assert check_data_freshness(None, 60).reason == "no data received yet"
    assert check_data_freshness(30.0, 60).status == "ok"
    stale = check_data_freshness(90.0, 60)
    assert stale.status == "fail" and "90 s old (limit 60 s)" in stale.reason
    per_symbol = check_data_freshness({"BTC/USDT": 5.0, "ETH/USDT": 120.0}, 60)
    assert per_symbol.status == "fail" and "ETH/USDT" in per_symbol.reason and "BTC/USDT" not in per_symbol.reason
    assert per_symbol.details["worst_age_seconds"] == 120.0
    never = check_data_freshness({"BTC/USDT": 5.0, "SOL/USDT": None}, 60)
    assert never.status == "fail" and never.reason == "no data received yet for SOL/USDT"
    assert check_data_freshness({}, 60).status == "fail"


def test_venue_ping_outcomes() -> None:
    async def pong() -> str:
        return "pong"

    async def never() -> None:
        await asyncio.sleep(3600)

    def refused() -> None:
        raise ConnectionError("connection refused")

    release = threading.Event()

    async def scenario() -> list[ComponentStatus]:
        try:
            return [
                await check_venue(pong),
                await check_venue(pong()),  # an awaitable, e.g. a call already started
                await check_venue(lambda: 1_700_000_000_000),  # a sync ping (ccxt's fetch_time)
                await check_venue(refused),
                await check_venue(never, timeout=0.05),
                await check_venue(lambda: release.wait(30), timeout=0.05),  # a sync ping that hangs
            ]
        finally:
            release.set()

    ok, awaited, sync, failed, hung, hung_sync = asyncio.run(scenario())
    assert ok.status == awaited.status == sync.status == "ok"
    assert ok.details["latency_ms"] >= 0
    assert failed.status == "fail" and failed.reason == "ping failed: ConnectionError: connection refused"
    assert hung.reason == hung_sync.reason == "no answer within 0.05 s"


def test_venue_from_recent_activity() -> None:
    recent = asyncio.run(check_venue(VenueActivity(5.0, max_age_seconds=60)))
    assert recent.status == "ok"
    never = asyncio.run(check_venue(VenueActivity(None, last_error="RequestTimeout")))
    assert never.status == "fail" and "RequestTimeout" in never.reason
    old = asyncio.run(check_venue(VenueActivity(120.0, max_age_seconds=60, last_error="ExchangeNotAvailable")))
    assert old.status == "fail" and "120 s" in old.reason and "ExchangeNotAvailable" in old.reason


# ------------------------------------------------------------------------------------------- breakers, disk


def test_breakers_open_fails_half_open_warns() -> None:
    clock = FakeClock()
    binance, kraken = (
        CircuitBreaker(name, window=1, minimum_calls=1, open_seconds=30, classifier=lambda e: True, clock=clock)
        for name in ("binance", "kraken")
    )
    assert check_breakers([]).status == "ok"
    closed = check_breakers([binance, kraken])
    assert closed.status == "ok" and closed.reason == "2 closed"

    def boom() -> None:
        raise TimeoutError("venue slow")

    with pytest.raises(TimeoutError):
        kraken.call(boom)
    assert kraken.state is BreakerState.OPEN
    opened = check_breakers([binance, kraken])
    assert opened.status == "fail" and opened.reason == "circuit open: kraken (retry in 30 s)"
    assert opened.details["states"] == {"binance": "closed", "kraken": "open"}
    clock.now += 30
    probing = check_breakers([binance, kraken])
    assert probing.status == "warn" and "kraken" in probing.reason


def test_breaker_open_makes_ready_fail() -> None:
    breaker = CircuitBreaker("binance", window=1, minimum_calls=1, classifier=lambda e: True)
    checker = HealthChecker()
    checker.register("breakers", lambda: check_breakers([breaker]), inline=True)
    assert asyncio.run(checker.ready()).ok
    with pytest.raises(OSError):
        breaker.call(lambda: (_ for _ in ()).throw(OSError("reset")))
    report = asyncio.run(checker.ready())
    assert not report.ok and report.http_status == 503 and report.status == "fail"
    assert report.as_dict()["components"]["breakers"]["reason"].startswith("circuit open: binance")


def test_disk_thresholds(tmp_path: Path) -> None:
    free = shutil.disk_usage(tmp_path).free
    ok = check_disk(tmp_path, min_free_pct=0, min_free_bytes=0)
    assert ok.status == "ok" and abs(ok.details["free_bytes"] - free) < 0.01 * shutil.disk_usage(tmp_path).total
    assert check_disk(tmp_path, min_free_pct=0, min_free_bytes=int(free * 0.75)).status == "warn"
    short = check_disk(tmp_path, min_free_pct=0, min_free_bytes=2**60)
    assert short.status == "fail" and "need" in short.reason
    assert check_disk(tmp_path, min_free_pct=100.0, min_free_bytes=0).status == "fail"
    missing = check_disk(tmp_path / "nope")
    assert missing.status == "fail" and "cannot read disk usage" in missing.reason


# ------------------------------------------------------------------------------------------- the runner


def test_runner_turns_every_misbehaving_check_into_a_failure() -> None:
    release = threading.Event()
    threads: dict[str, int] = {}

    async def hangs() -> ComponentStatus:
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    def blocks() -> ComponentStatus:
        release.wait(30)
        return ComponentStatus.passed("blocks", "late")

    def raises() -> ComponentStatus:
        raise ValueError("bad config")

    def on_thread(name: str) -> ComponentStatus:
        threads[name] = threading.get_ident()
        return ComponentStatus.passed("renamed-by-runner", "fine")

    checker = HealthChecker(timeout=0.2)
    checker.register("hangs", hangs)
    checker.register("blocks", blocks)
    checker.register("raises", raises)
    checker.register("wrong_type", lambda: "yes")  # type: ignore[arg-type, return-value]
    checker.register("threaded", lambda: on_thread("threaded"), timeout=5)
    checker.register("inline", lambda: on_thread("inline"), inline=True)
    with pytest.raises(ValueError, match="already registered"):
        checker.register("hangs", hangs)
    try:
        report = asyncio.run(checker.ready())
    finally:
        release.set()
    by_name = {c.name: c for c in report.components}
    assert list(by_name) == ["hangs", "blocks", "raises", "wrong_type", "threaded", "inline"]
    assert by_name["hangs"].reason == by_name["blocks"].reason == "no answer within 0.2 s"
    assert by_name["raises"].reason == "check raised ValueError: bad config"
    assert by_name["wrong_type"].reason == "check returned str, not a ComponentStatus"
    assert by_name["threaded"].ok and by_name["inline"].ok
    assert threads["inline"] == threading.get_ident() != threads["threaded"]  # blocking checks leave the loop


def test_warnings_are_ready_and_report_shape() -> None:
    report = HealthReport(
        (ComponentStatus.passed("database", "reachable", latency_ms=1.5), ComponentStatus.warning("disk", "low"))
    )
    assert report.ok and report.status == "warn" and report.http_status == 200
    assert report.as_dict() == {
        "status": "warn",
        "ok": True,
        "components": {
            "database": {"status": "ok", "ok": True, "reason": "reachable", "details": {"latency_ms": 1.5}},
            "disk": {"status": "warn", "ok": True, "reason": "low", "details": {}},
        },
    }
    assert asyncio.run(HealthChecker().ready()).ok  # nothing registered: nothing wrong


def test_live_reports_pid_and_uptime() -> None:
    clock = FakeClock()
    checker = HealthChecker(clock=clock)
    clock.now += 12.5
    report = checker.live()
    process = report.component("process")
    assert report.ok and process.details["pid"] == os.getpid() and process.details["uptime_seconds"] == 12.5
