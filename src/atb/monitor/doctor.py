"""`atb doctor`: the readiness checks a person can run before starting a node, offline by default.

It answers "will this installation work here?": the state database at the configured URL, free disk
space, the bundled data loading (which exercises pyarrow), the market-data store, and which optional
extras are installed. The venue is contacted only when asked (`exchange` plus a `venue_ping`): the
monitor package may not import `atb.venues`, so the caller builds the ping (the CLI uses ccxt's
public time endpoint, no keys needed).

Absent things that a fresh install legitimately lacks (no `atb.db` yet, no market-data folder, an
optional extra) warn; things that were asked for and do not work (a `--db` that cannot be reached,
a `--store` that does not exist, a venue that does not answer) fail.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
from collections.abc import Callable
from pathlib import Path

from atb.data.sample import list_samples, load_sample
from atb.data.store import OhlcvStore
from atb.errors import MissingExtraError
from atb.monitor.health import (
    GIB,
    ComponentStatus,
    HealthChecker,
    HealthReport,
    check_database,
    check_disk,
    check_venue,
)

__all__ = ["DEFAULT_STORE", "EXTRAS", "build_doctor", "check_bundled_data", "check_extra", "check_store", "run_doctor"]

DEFAULT_STORE = Path("market-data")
"""The Parquet store `atb data download` fills when given no `--store`."""

EXTRAS: dict[str, tuple[str, ...]] = {
    "live": ("ccxt", "sqlalchemy", "alembic", "psycopg"),
    "api": ("fastapi", "uvicorn", "prometheus_client", "psutil", "apprise", "tenacity", "websockets"),
    "ml": ("sklearn", "lightgbm", "pandas"),
    "distributed": ("ray", "optuna"),
}
"""Import names of each extra's packages (pyproject.toml `optional-dependencies`)."""


def check_extra(extra: str, modules: tuple[str, ...]) -> ComponentStatus:
    """Warn, naming the pip command, when a module of an optional extra is not installed.

    `find_spec` looks a module up without importing it, so this costs no import time.
    """
    name = f"extra:{extra}"
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        return ComponentStatus.warning(
            name, f"missing {', '.join(missing)}: pip install 'atb[{extra}]'", missing=missing
        )
    return ComponentStatus.passed(name, "installed: " + ", ".join(modules))


def check_bundled_data(name: str = "bundled_data") -> ComponentStatus:
    """The sample data ships inside the package; loading one file proves the install and pyarrow work."""
    samples = list_samples()
    if not samples:
        return ComponentStatus.failed(name, "no bundled sample data: the package is installed incompletely")
    try:
        bars = load_sample("BTC_USDT_2h").bars
    except Exception as exc:
        return ComponentStatus.failed(name, f"BTC_USDT_2h does not load: {type(exc).__name__}: {exc}")
    return ComponentStatus.passed(
        name, f"{len(samples)} samples; BTC_USDT_2h loads ({len(bars):,} bars)", samples=len(samples)
    )


def check_store(root: Path, *, explicit: bool, name: str = "market_data") -> ComponentStatus:
    """Datasets in the Parquet store; a missing default folder only warns (nothing was downloaded yet)."""
    if not root.is_dir():
        verdict = ComponentStatus.failed if explicit else ComponentStatus.warning
        return verdict(name, f"no market-data store at {root} (atb data download --store {root} fills it)")
    try:
        datasets = OhlcvStore(root).list()
    except Exception as exc:
        return ComponentStatus.failed(name, f"cannot read the store at {root}: {type(exc).__name__}: {exc}")
    if not datasets:
        return ComponentStatus.warning(name, f"store at {root} holds no datasets", path=str(root))
    return ComponentStatus.passed(name, f"{len(datasets)} datasets in {root}", path=str(root), datasets=len(datasets))


def _database(db_url: str | None, timeout: float) -> ComponentStatus:
    """The configured database, or the default SQLite file (which may not exist before the first run)."""
    try:
        from atb.store.db import DEFAULT_URL
    except ImportError:
        message = str(MissingExtraError("the state database", "live", "sqlalchemy"))
        if db_url is None:
            return ComponentStatus.warning("database", f"skipped: {message}")
        return ComponentStatus.failed("database", message)
    status = check_database(db_url or DEFAULT_URL, timeout=timeout, missing_ok=db_url is None)
    revision = status.details.get("revision")
    if status.status != "ok" or revision is None:
        return status
    try:
        from alembic.script import ScriptDirectory
    except ImportError:
        missing = MissingExtraError("comparing the schema with this version", "live", "alembic")
        return ComponentStatus.warning("database", f"{status.reason}; {missing}", **status.details)
    from atb.store.db import alembic_config

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if revision != head:
        return ComponentStatus.warning(
            "database",
            f"reachable, schema {revision} but this version expects {head}: run the migrations",
            **status.details,
            head=head,
        )
    return status


def _import_database_modules() -> None:
    """Import the optional database modules here, on the calling thread, before the checks start.

    The checks run concurrently on threads; two threads importing overlapping modules for the first
    time can trip Python's import-lock deadlock detection (`_DeadlockError`). The module-level
    imports above cover the data checks; these are optional, so a missing one is left for the
    database check to report.
    """
    for module in ("atb.store.db", "alembic.script"):
        try:
            importlib.import_module(module)
        except ImportError:
            continue  # reported by _database(), with the pip command


def build_doctor(
    db_url: str | None = None,
    data_dir: Path | None = None,
    exchange: str | None = None,
    *,
    venue_ping: Callable[[], object] | None = None,
    disk_path: Path | None = None,
    min_free_pct: float = 5.0,
    min_free_bytes: int = GIB,
    timeout: float = 10.0,
) -> HealthChecker:
    """The doctor's checks as a `HealthChecker`, for a caller that has an event loop (the API).

    Disk space is measured where the market data lives (`disk_path`, else `data_dir` when it
    exists, else the working directory, where the default database lives).
    """
    if (exchange is None) != (venue_ping is None):
        raise ValueError("give both exchange and venue_ping, or neither")
    _import_database_modules()
    store = data_dir if data_dir is not None else DEFAULT_STORE
    disk = disk_path or (store if store.is_dir() else Path.cwd())
    checker = HealthChecker(timeout=timeout)
    checker.register("database", lambda: _database(db_url, min(3.0, timeout)))
    checker.register("disk", lambda: check_disk(disk, min_free_pct=min_free_pct, min_free_bytes=min_free_bytes))
    checker.register("bundled_data", check_bundled_data)
    checker.register("market_data", lambda: check_store(store, explicit=data_dir is not None))
    if exchange is not None and venue_ping is not None:
        ping = venue_ping
        name = f"venue:{exchange}"
        # inline: the lambda only creates the coroutine; check_venue itself puts a sync ping on a thread
        checker.register(
            name, lambda: check_venue(ping, timeout=timeout, name=name), timeout=timeout + 1.0, inline=True
        )
    for extra, modules in EXTRAS.items():
        checker.register(f"extra:{extra}", functools.partial(check_extra, extra, modules), inline=True)
    return checker


def run_doctor(
    db_url: str | None = None,
    data_dir: Path | None = None,
    exchange: str | None = None,
    *,
    venue_ping: Callable[[], object] | None = None,
    disk_path: Path | None = None,
    min_free_pct: float = 5.0,
    min_free_bytes: int = GIB,
    timeout: float = 10.0,
) -> HealthReport:
    """Run every doctor check once (starts its own event loop: not for use inside a running one)."""
    checker = build_doctor(
        db_url,
        data_dir,
        exchange,
        venue_ping=venue_ping,
        disk_path=disk_path,
        min_free_pct=min_free_pct,
        min_free_bytes=min_free_bytes,
        timeout=timeout,
    )
    return asyncio.run(checker.ready())
