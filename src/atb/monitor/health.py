"""Health checks: is the process up (`live`), can it trade right now (`ready`), and why not.

Every check returns a `ComponentStatus` and never raises: a health endpoint that answers 500 with a
traceback tells the orchestrator nothing, one that says "database: cannot connect: connection
refused" tells the person on call where to look. `HealthChecker` runs the registered checks
concurrently, each under its own timeout, so one hung dependency (a database that accepts the TCP
connection and never answers) turns into a "no answer within 3 s" line instead of a hung
`/health/ready`.

"warn" counts as ready: it marks a component that works but needs attention soon (disk filling up,
a half-open breaker probing a venue), which should page nobody and stop no traffic.

Blocking checks run on daemon threads, not on the loop's default executor: a thread stuck in a
driver cannot be killed, and a stuck executor thread would also hang `asyncio.run` at exit.
sqlalchemy is imported inside `check_database` so this module works without the `live` extra.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import os
import platform
import shutil
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

from atb.errors import MissingExtraError

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = [
    "GIB",
    "BreakerLike",
    "CheckFn",
    "ComponentStatus",
    "HealthChecker",
    "HealthReport",
    "Status",
    "VenueActivity",
    "check_breakers",
    "check_data_freshness",
    "check_database",
    "check_disk",
    "check_venue",
]

log = logging.getLogger(__name__)

Status = Literal["ok", "warn", "fail"]
GIB = 1024**3
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ComponentStatus:
    """One component's verdict; `ok` is False only for "fail" ("warn" is still ready)."""

    name: str
    status: Status
    reason: str
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status != "fail"

    @classmethod
    def passed(cls, name: str, reason: str, **details: Any) -> ComponentStatus:
        return cls(name, "ok", reason, details)

    @classmethod
    def warning(cls, name: str, reason: str, **details: Any) -> ComponentStatus:
        return cls(name, "warn", reason, details)

    @classmethod
    def failed(cls, name: str, reason: str, **details: Any) -> ComponentStatus:
        return cls(name, "fail", reason, details)

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "ok": self.ok, "reason": self.reason, "details": dict(self.details)}


@dataclass(frozen=True, slots=True)
class HealthReport:
    components: tuple[ComponentStatus, ...]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.components)

    @property
    def status(self) -> Status:
        statuses = {c.status for c in self.components}
        return "fail" if "fail" in statuses else "warn" if "warn" in statuses else "ok"

    @property
    def http_status(self) -> int:
        """200 when ready, 503 when not: what load balancers and Kubernetes probes read."""
        return 200 if self.ok else 503

    def component(self, name: str) -> ComponentStatus:
        for c in self.components:
            if c.name == name:
                return c
        raise KeyError(name)

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "ok": self.ok,
            "components": {c.name: c.as_dict() for c in self.components},
        }


# ---------------------------------------------------------------------------------------------- checks


def _describe(exc: BaseException) -> str:
    """The first line of an error, with its type: driver messages run to several lines of hints."""
    first = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _connect_args(backend: str, timeout: float) -> dict[str, Any]:
    """Driver options bounding connect and query time, so the check ends by itself where it can."""
    if backend == "sqlite":
        return {"timeout": timeout}
    if backend == "postgresql":  # libpq: connect_timeout is whole seconds, 2 at least
        return {"connect_timeout": max(2, math.ceil(timeout)), "options": f"-c statement_timeout={int(timeout * 1000)}"}
    if backend in ("mysql", "mariadb"):
        return {"connect_timeout": max(1, math.ceil(timeout))}
    return {}


def check_database(
    target: str | Engine, *, timeout: float = 3.0, missing_ok: bool = False, name: str = "database"
) -> ComponentStatus:
    """`SELECT 1` on the database, plus its Alembic revision (a reachable but unmigrated database warns).

    A URL gets a throw-away engine without a pool and with driver timeouts; an `Engine` (the app's
    own) is used as is. A SQLite file that does not exist fails (or warns with `missing_ok`) instead
    of being created empty by the connection attempt. Passwords never appear in the result.
    """
    try:
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import DBAPIError
        from sqlalchemy.pool import NullPool
    except ImportError:
        return ComponentStatus.failed(name, str(MissingExtraError("the database check", "live", "sqlalchemy")))
    if isinstance(target, str):
        try:
            url = make_url(target)
        except Exception:  # the text may hold a password: do not echo it
            return ComponentStatus.failed(name, "invalid database URL (expected e.g. sqlite:///atb.db)")
        shown = url.render_as_string(hide_password=True)
        database = url.database or ""
        is_file_db = url.get_backend_name() == "sqlite" and database not in ("", ":memory:")
        if is_file_db and not database.startswith("file:") and not Path(database).is_file():
            verdict = ComponentStatus.warning if missing_ok else ComponentStatus.failed
            return verdict(name, f"database file {database} does not exist yet", url=shown)
        try:
            engine = create_engine(url, poolclass=NullPool, connect_args=_connect_args(url.get_backend_name(), timeout))
        except ModuleNotFoundError as exc:  # the URL's driver (psycopg is in the live extra; others are not ours)
            missing = exc.name or "?"
            hint = (
                str(MissingExtraError(shown, "live", missing))
                if missing.startswith("psycopg")
                else f"{shown} needs the database driver {missing!r}, which is not installed"
            )
            return ComponentStatus.failed(name, hint, url=shown)
        except Exception as exc:
            return ComponentStatus.failed(name, f"cannot open {shown}: {_describe(exc)}", url=shown)
        owned = True
    else:
        engine, owned = target, False
        shown = engine.url.render_as_string(hide_password=True)
    password = engine.url.password
    started = time.perf_counter()
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            latency_ms = round((time.perf_counter() - started) * 1000, 1)
            try:
                revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
            except DBAPIError:
                revision = None
    except Exception as exc:
        reason = f"cannot reach {shown}: {_describe(exc)}"
        if password:
            reason = reason.replace(str(password), "***")
        return ComponentStatus.failed(name, reason, url=shown)
    finally:
        if owned:
            engine.dispose()
    if revision is None:
        return ComponentStatus.warning(
            name, "reachable but not migrated (no alembic_version)", url=shown, latency_ms=latency_ms
        )
    return ComponentStatus.passed(
        name, f"reachable, schema {revision}", url=shown, latency_ms=latency_ms, revision=revision
    )


def check_data_freshness(
    age_seconds: float | Mapping[str, float | None] | None, max_age: float, *, name: str = "data"
) -> ComponentStatus:
    """Fail when the newest bar is older than `max_age` seconds (or none came yet); per symbol given a mapping."""
    ages = dict(age_seconds) if isinstance(age_seconds, Mapping) else {"": age_seconds}
    if not ages:
        return ComponentStatus.failed(name, "no symbols subscribed")
    never = sorted(s for s, a in ages.items() if a is None)
    stale = sorted((s for s, a in ages.items() if a is not None and a > max_age), key=lambda s: -(ages[s] or 0.0))
    known = [a for a in ages.values() if a is not None]
    details: dict[str, Any] = {"max_age_seconds": max_age, "worst_age_seconds": max(known) if known else None}
    if never:
        label = f" for {', '.join(never)}" if never != [""] else ""
        return ComponentStatus.failed(name, f"no data received yet{label}", **details)
    if stale:
        label = "".join(f" {s}" for s in stale if s)
        return ComponentStatus.failed(
            name, f"stale{label}: newest bar {max(known):.0f} s old (limit {max_age:g} s)", **details
        )
    return ComponentStatus.passed(name, f"fresh: newest bar at most {max(known):.0f} s old", **details)


@dataclass(frozen=True, slots=True)
class VenueActivity:
    """What the node saw of the venue recently, for a readiness verdict without an extra request."""

    last_success_age_seconds: float | None
    max_age_seconds: float = 60.0
    last_error: str | None = None


async def check_venue(
    probe: Callable[[], object] | Awaitable[object] | VenueActivity, *, timeout: float = 5.0, name: str = "venue"
) -> ComponentStatus:
    """Venue reachability from a ping (sync or async callable, or an awaitable) or from `VenueActivity`.

    A sync ping runs on a daemon thread (ccxt's sync client blocks). Any error or a timeout is a "fail".
    """
    if isinstance(probe, VenueActivity):
        age, error = probe.last_success_age_seconds, probe.last_error
        tail = f" (last error: {error})" if error else ""
        if age is None:
            return ComponentStatus.failed(name, f"no successful call yet{tail}")
        if age > probe.max_age_seconds:
            return ComponentStatus.failed(name, f"no successful call for {age:.0f} s{tail}", last_error=error)
        return ComponentStatus.passed(name, f"last successful call {age:.0f} s ago", last_error=error)
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            if inspect.isawaitable(probe):
                await probe
            else:
                result = await (probe() if inspect.iscoroutinefunction(probe) else _in_daemon_thread(probe, name))
                if inspect.isawaitable(result):
                    await result
    except TimeoutError:
        return ComponentStatus.failed(name, f"no answer within {timeout:g} s")
    except Exception as exc:
        return ComponentStatus.failed(name, f"ping failed: {_describe(exc)}")
    latency_ms = round((time.perf_counter() - started) * 1000, 1)
    return ComponentStatus.passed(name, f"reachable in {latency_ms:g} ms", latency_ms=latency_ms)


class BreakerLike(Protocol):
    """What `check_breakers` reads of `atb.venues.breaker.CircuitBreaker` (monitor may not import venues)."""

    name: str

    @property
    def state(self) -> str: ...

    @property
    def remaining_open_seconds(self) -> float: ...


def check_breakers(breakers: Iterable[BreakerLike], *, name: str = "breakers") -> ComponentStatus:
    """Fail while any circuit is open (its venue is fenced off), warn while one is half-open (probing).

    Reads breaker state, which may move open → half-open: call it on the breakers' event loop
    (register with `inline=True`), as they are not thread-safe.
    """
    states: dict[str, str] = {}
    open_: list[str] = []
    for breaker in breakers:
        state = str(breaker.state)
        states[breaker.name] = state
        if state == "open":
            open_.append(f"{breaker.name} (retry in {breaker.remaining_open_seconds:.0f} s)")
    half_open = [n for n, s in states.items() if s == "half_open"]
    if open_:
        return ComponentStatus.failed(name, "circuit open: " + ", ".join(open_), states=states)
    if half_open:
        return ComponentStatus.warning(name, "half-open, probing: " + ", ".join(half_open), states=states)
    if not states:
        return ComponentStatus.passed(name, "no circuit breakers registered", states=states)
    return ComponentStatus.passed(name, f"{len(states)} closed", states=states)


def check_disk(
    path: str | Path, *, min_free_pct: float = 5.0, min_free_bytes: int = GIB, name: str = "disk"
) -> ComponentStatus:
    """Fail below either free-space floor, warn below twice a floor (time to clean up before it stops)."""
    try:
        usage = shutil.disk_usage(path)
    except OSError as exc:
        return ComponentStatus.failed(name, f"cannot read disk usage of {path}: {exc.strerror or exc}", path=str(path))
    free_pct = usage.free / usage.total * 100.0 if usage.total else 0.0
    details = {"path": str(path), "free_bytes": usage.free, "free_pct": round(free_pct, 2)}
    text = f"{usage.free / GIB:.1f} GiB ({free_pct:.1f} %) free on {path}"
    if usage.free < min_free_bytes or free_pct < min_free_pct:
        return ComponentStatus.failed(
            name, f"{text}; need {min_free_bytes / GIB:g} GiB and {min_free_pct:g} %", **details
        )
    if usage.free < 2 * min_free_bytes or free_pct < 2 * min_free_pct:
        return ComponentStatus.warning(name, f"{text}; getting low", **details)
    return ComponentStatus.passed(name, text, **details)


# ---------------------------------------------------------------------------------------------- runner

CheckFn = Callable[[], ComponentStatus | Awaitable[ComponentStatus]]


def _in_daemon_thread(fn: Callable[[], T], name: str) -> asyncio.Future[T]:
    """Run `fn` on a new daemon thread; a thread that never returns is abandoned, not waited for at exit."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def deliver(value: T | None, error: BaseException | None) -> None:
        if future.done():  # the caller gave up (timeout) before the answer came
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)  # type: ignore[arg-type]

    def target() -> None:
        try:
            value, error = fn(), None
        except Exception as exc:
            value, error = None, exc
        try:
            loop.call_soon_threadsafe(deliver, value, error)
        except RuntimeError:  # the loop has closed: nobody is waiting for this answer any more
            log.debug("health check %s answered after its loop closed", name)

    threading.Thread(target=target, name=f"atb-health-{name}", daemon=True).start()
    return future


@dataclass(frozen=True, slots=True)
class _Registered:
    check: CheckFn
    timeout: float
    inline: bool


class HealthChecker:
    """Holds named checks and runs them for `/health/ready`; `live()` answers for `/health/live`.

    Checks may be sync or async callables returning a `ComponentStatus`. Sync ones run on a daemon
    thread unless registered `inline=True` (cheap in-memory reads that must happen on the loop's
    thread, like breaker state). A check that raises or returns something else becomes a "fail".
    Threaded checks run at the same time, so import what they need before `ready()`: two threads
    importing the same modules for the first time can fail with Python's `_DeadlockError`.
    """

    def __init__(self, *, timeout: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.timeout = timeout
        self._clock = clock
        self._started = clock()
        self._checks: dict[str, _Registered] = {}

    @property
    def names(self) -> list[str]:
        return list(self._checks)

    def register(self, name: str, check: CheckFn, *, timeout: float | None = None, inline: bool = False) -> None:
        if name in self._checks:
            raise ValueError(f"a health check named {name!r} is already registered")
        limit = self.timeout if timeout is None else timeout
        if limit <= 0:
            raise ValueError("timeout must be positive")
        self._checks[name] = _Registered(check, limit, inline)

    def live(self) -> HealthReport:
        """The process is up and its loop answered this call: nothing else is checked, by design."""
        return HealthReport(
            (
                ComponentStatus.passed(
                    "process",
                    "up",
                    pid=os.getpid(),
                    uptime_seconds=round(self._clock() - self._started, 3),
                    python=platform.python_version(),
                ),
            )
        )

    async def ready(self) -> HealthReport:
        results = await asyncio.gather(*(self._run(name, reg) for name, reg in self._checks.items()))
        return HealthReport(tuple(results))

    async def _run(self, name: str, reg: _Registered) -> ComponentStatus:
        check = reg.check
        try:
            async with asyncio.timeout(reg.timeout):
                if inspect.iscoroutinefunction(check) or reg.inline:
                    result: object = check()
                else:
                    result = await _in_daemon_thread(check, name)
                if inspect.isawaitable(result):
                    result = await result
        except TimeoutError:
            return ComponentStatus.failed(name, f"no answer within {reg.timeout:g} s")
        except Exception as exc:
            log.exception("health check %s raised", name)
            return ComponentStatus.failed(name, f"check raised {_describe(exc)}")
        if not isinstance(result, ComponentStatus):
            return ComponentStatus.failed(name, f"check returned {type(result).__name__}, not a ComponentStatus")
        return result if result.name == name else replace(result, name=name)
