"""`atb doctor` as a user runs it (a real subprocess, exit codes, table and JSON), and `run_doctor` itself."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from atb.data.sample import sample_path
from atb.monitor.doctor import check_extra, run_doctor


def atb(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "atb.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        env={"COLUMNS": "250", "PATH": "/usr/bin:/bin"},
    )


def rows(stdout: str) -> dict[str, tuple[str, str]]:
    """component -> (status, reason) from the Rich table."""
    found: dict[str, tuple[str, str]] = {}
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.strip().strip("│").split("│")]
        if len(cells) == 3 and cells[1] in ("ok", "warn", "fail"):
            found[cells[0]] = (cells[1], cells[2])
    return found


@pytest.fixture(scope="module")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    from atb.store.db import upgrade

    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'state.db'}"
    upgrade(url)
    return url


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """A market-data store holding one dataset (the bundled BTC/USDT 2h file in the store layout)."""
    root = tmp_path / "market"
    (root / "binance" / "BTC_USDT").mkdir(parents=True)
    shutil.copy(sample_path("BTC_USDT_2h"), root / "binance" / "BTC_USDT" / "2h.parquet")
    return root


def test_fresh_folder_is_ready_with_warnings_and_nothing_is_created(tmp_path: Path) -> None:
    proc = atb("doctor", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    table = rows(proc.stdout)
    assert table["database"] == ("warn", "database file atb.db does not exist yet")
    assert table["market_data"][0] == "warn"
    assert table["bundled_data"][0] == "ok" and "BTC_USDT_2h loads" in table["bundled_data"][1]
    assert table["disk"][0] == "ok"
    assert {"extra:live", "extra:api", "extra:ml", "extra:distributed"} <= set(table)
    for status, reason in (table[k] for k in table if k.startswith("extra:")):
        assert status == "ok" or "pip install 'atb[" in reason  # brackets survive Rich markup
    assert "ready (warn)" in proc.stdout
    assert list(tmp_path.iterdir()) == []  # the check did not create atb.db


def test_configured_database_and_store_are_ok(tmp_path: Path, migrated_db: str, store: Path) -> None:
    proc = atb("doctor", "--db", migrated_db, "--store", str(store), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    table = rows(proc.stdout)
    assert table["database"][0] == "ok" and "reachable, schema" in table["database"][1]
    assert table["market_data"] == ("ok", f"1 datasets in {store}")
    assert str(store) in table["disk"][1]  # disk space measured where the market data lives


def test_unreachable_database_fails_with_exit_1_and_no_secret(tmp_path: Path, closed_port: int) -> None:
    url = f"postgresql+psycopg://atb:hunter2@127.0.0.1:{closed_port}/atb"
    proc = atb("doctor", "--db", url, cwd=tmp_path)
    assert proc.returncode == 1
    status, reason = rows(proc.stdout)["database"]
    assert status == "fail" and reason.startswith("cannot reach postgresql+psycopg://atb:***@")
    assert "not ready: database failed" in proc.stdout
    assert "hunter2" not in proc.stdout + proc.stderr and "Traceback" not in proc.stderr


def test_json_report(tmp_path: Path, migrated_db: str) -> None:
    proc = atb("doctor", "--db", migrated_db, "--store", str(tmp_path / "missing"), "--json", cwd=tmp_path)
    assert proc.returncode == 1  # a --store given explicitly must exist
    report = orjson.loads(proc.stdout)
    assert report["ok"] is False and report["status"] == "fail"
    components = report["components"]
    store_status = components["market_data"]
    assert store_status["status"] == "fail" and "no market-data store" in store_status["reason"]
    assert components["database"]["status"] == "ok" and components["database"]["details"]["revision"]
    assert set(components["database"]) == {"status", "ok", "reason", "details"}


def test_venue_is_pinged_only_when_asked(tmp_path: Path, fake_venue: Any, closed_port: int) -> None:
    offline = atb("doctor", cwd=tmp_path)
    assert not [name for name in rows(offline.stdout) if name.startswith("venue")]
    assert fake_venue.calls("time") == []
    online = atb("doctor", "--exchange", "binance", "--api-url", fake_venue.base_url, cwd=tmp_path)
    assert online.returncode == 0, online.stdout + online.stderr
    assert rows(online.stdout)["venue:binance"][0] == "ok"
    assert len(fake_venue.calls("time")) == 1
    down = atb("doctor", "--exchange", "binance", "--api-url", f"http://127.0.0.1:{closed_port}", cwd=tmp_path)
    assert down.returncode == 1
    status, reason = rows(down.stdout)["venue:binance"]
    assert status == "fail" and reason.startswith("ping failed:")


def test_user_mistakes_exit_2_in_one_line(tmp_path: Path) -> None:
    proc = atb("doctor", "--api-url", "http://127.0.0.1:1", cwd=tmp_path)
    assert proc.returncode == 2 and "--api-url needs --exchange" in proc.stderr and "Traceback" not in proc.stderr
    unknown = atb("doctor", "--exchange", "no_such_exchange", cwd=tmp_path)
    assert unknown.returncode == 2 and "unknown exchange" in unknown.stderr


# ------------------------------------------------------------------------------------------- run_doctor


def test_run_doctor_with_an_injected_ping(tmp_path: Path, migrated_db: str, store: Path) -> None:
    calls: list[int] = []

    def ping() -> int:
        calls.append(1)
        return 1

    report = run_doctor(migrated_db, store, "paper-venue", venue_ping=ping, disk_path=tmp_path)
    assert report.component("venue:paper-venue").status == "ok" and calls == [1]
    assert report.component("disk").details["path"] == str(tmp_path)
    with pytest.raises(ValueError, match="both exchange and venue_ping"):
        run_doctor(migrated_db, store, "paper-venue")


def test_missing_extra_names_the_pip_command() -> None:
    status = check_extra("live", ("json", "atb_no_such_module_xyz"))
    assert status.status == "warn" and status.ok
    assert status.reason == "missing atb_no_such_module_xyz: pip install 'atb[live]'"
    assert check_extra("api", ("json",)).status == "ok"


def test_outdated_schema_warns(tmp_path: Path) -> None:
    from alembic.script import ScriptDirectory

    from atb.store.db import alembic_config, upgrade

    script = ScriptDirectory.from_config(alembic_config())
    base, head = script.get_base(), script.get_current_head()
    if base == head:
        pytest.skip("a single migration: no older schema to test with")
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, base)
    status = run_doctor(url, tmp_path).component("database")
    assert status.status == "warn" and f"schema {base} but this version expects {head}" in status.reason


def test_tiny_disk_floor_fails(tmp_path: Path) -> None:
    report = run_doctor(None, tmp_path, min_free_bytes=2**60)
    assert not report.ok and report.component("disk").status == "fail"
