"""Backtests started through the API: validated at once, run in the background, kept as result JSON files.

A request is checked before it is queued (strategy, parameters, sample names), so a mistake is a
422 answer rather than a job that fails later. At most `max_parallel` run at a time, each on its
own daemon thread: a backtest is CPU work that must not hold the event loop (the node and the
API share it), and a daemon thread never keeps `atb serve` from exiting when it is stopped in
the middle of a long run (asyncio's default executor would wait for it).

Each finished result is written as `<id>.json` — the same contract as `atb backtest --json`, so
`atb report <id>.json` and the dashboard's "open saved result" read it — with `<id>.job.json`
beside it describing the job, which is how jobs of earlier processes are listed.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import orjson

from atb.api.errors import ApiError
from atb.api.schemas import BacktestBody
from atb.errors import UserInputError

if TYPE_CHECKING:
    from atb.services.backtest import BacktestRequest

__all__ = ["BacktestJob", "BacktestRegistry"]

log = logging.getLogger("atb.api.backtests")
T = TypeVar("T")
JobStatus = Literal["queued", "running", "done", "failed"]
_ID = re.compile(r"^bt-[0-9a-f]{12}$")
_SUMMARY_STATS = ("return_pct", "sharpe", "max_drawdown_pct", "trades", "win_rate_pct")


@dataclass
class BacktestJob:
    id: str
    request: dict[str, Any]
    status: JobStatus = "queued"
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    title: str | None = None
    error: str | None = None
    stats: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _in_daemon_thread(fn: Callable[[], T]) -> asyncio.Future[T]:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def deliver(value: Any, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)

    def target() -> None:
        try:
            value, error = fn(), None
        except BaseException as exc:  # handed to the awaiting task, which decides what it means
            value, error = None, exc
        try:
            loop.call_soon_threadsafe(deliver, value, error)
        except RuntimeError:
            log.info("a backtest finished after the server stopped; its result is discarded")

    threading.Thread(target=target, name="atb-backtest", daemon=True).start()
    return future


class BacktestRegistry:
    """Queue, run, list and fetch API backtests (see the module docstring)."""

    def __init__(
        self,
        results_dir: Path,
        publish: Callable[[str, dict[str, Any]], None],
        *,
        max_parallel: int = 1,
        keep_in_memory: int = 8,
    ) -> None:
        if max_parallel < 1:
            raise UserInputError("at least one backtest must be allowed to run")
        self.results_dir = results_dir
        self._publish = publish
        self._slots = asyncio.Semaphore(max_parallel)
        self._jobs: dict[str, BacktestJob] = {}
        self._results: OrderedDict[str, bytes] = OrderedDict()
        self._keep = keep_in_memory
        self._tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ submit

    def submit(self, body: BacktestBody) -> BacktestJob:
        """Check the request now (422 on a mistake), queue it, and return the job."""
        request = self._request(body)
        job = BacktestJob(id="bt-" + secrets.token_hex(6), request=body.model_dump())
        self._jobs[job.id] = job
        task = asyncio.get_running_loop().create_task(self._run(job, request), name=f"atb-{job.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self._publish("backtest", {"id": job.id, "status": job.status})
        return job

    @staticmethod
    def _request(body: BacktestBody) -> BacktestRequest:
        from atb.data.sample import list_samples, sample_path
        from atb.services.backtest import BacktestRequest
        from atb.strategy.registry import builtin_names, resolve

        if body.strategy not in builtin_names():
            raise ApiError(
                422,
                f"unknown strategy {body.strategy!r}: the API runs built-in strategies only "
                f"({', '.join(builtin_names())})",
            )
        cls = resolve(body.strategy)
        params = body.param_text()
        cls(**cls.parse_params(params))  # raises UserInputError (-> 422) with a "did you mean"
        known = list_samples()
        unknown = [d for d in body.data if d not in known]
        if unknown:
            raise ApiError(422, f"unknown sample data {', '.join(unknown)} (bundled: {', '.join(known)})")
        return BacktestRequest(
            data=[sample_path(d) for d in body.data],
            symbol=body.symbol,
            strategy=body.strategy,
            params=params,
            cash=body.cash,
            commission=body.commission,
            fill=body.fill,
            slippage=body.slippage,
            latency=body.latency,
            account=body.account,
            leverage=body.leverage,
            equity_points=body.equity_points,
            engine=body.engine,
        )

    async def _run(self, job: BacktestJob, request: BacktestRequest) -> None:
        from atb.services.backtest import run_backtest_request

        async with self._slots:
            job.status, job.started = "running", time.time()
            self._publish("backtest", {"id": job.id, "status": job.status})
            try:
                outcome = await _in_daemon_thread(lambda: run_backtest_request(request))
                payload = outcome.json_bytes()
                stats = outcome.result_dict().get("stats", {})
                job.title = outcome.title
                job.stats = {k: stats.get(k) for k in _SUMMARY_STATS}
                self._remember(job.id, payload)  # before "done": a reader who sees "done" finds the result
                job.status, job.finished = "done", time.time()
                await asyncio.to_thread(self._save, job, payload)
            except UserInputError as exc:
                job.status, job.error, job.finished = "failed", str(exc), time.time()
            except Exception as exc:
                log.exception("backtest %s failed", job.id)
                job.status, job.finished = "failed", time.time()
                job.error = f"internal error ({type(exc).__name__}); see the server log"
            if job.status == "failed":
                self._write_job(job)
            self._publish("backtest", {"id": job.id, "status": job.status, "title": job.title, "error": job.error})

    def _save(self, job: BacktestJob, payload: bytes) -> None:
        self.results_dir.mkdir(parents=True, exist_ok=True)
        target = self.results_dir / f"{job.id}.json"
        partial = target.with_suffix(".json.partial")
        partial.write_bytes(payload)
        partial.replace(target)  # readers never see half a file
        self._write_job(job)

    def _write_job(self, job: BacktestJob) -> None:
        try:
            self.results_dir.mkdir(parents=True, exist_ok=True)
            (self.results_dir / f"{job.id}.job.json").write_bytes(orjson.dumps(job.as_dict()))
        except OSError as exc:
            log.error("cannot write the record of backtest %s: %s", job.id, exc)

    def _remember(self, job_id: str, payload: bytes) -> None:
        self._results[job_id] = payload
        while len(self._results) > self._keep:
            self._results.popitem(last=False)

    # ------------------------------------------------------------------ read

    @property
    def running(self) -> int:
        return sum(1 for j in self._jobs.values() if j.status == "running")

    @property
    def queued(self) -> int:
        return sum(1 for j in self._jobs.values() if j.status == "queued")

    def jobs(self) -> list[BacktestJob]:
        """This process's jobs and those recorded in the results folder by earlier ones, newest first."""
        found = dict(self._jobs)
        if self.results_dir.is_dir():
            for path in self.results_dir.glob("bt-*.job.json"):
                job_id = path.name.removesuffix(".job.json")
                if job_id in found or not _ID.match(job_id):
                    continue
                try:
                    found[job_id] = BacktestJob(**orjson.loads(path.read_bytes()))
                except (OSError, ValueError, TypeError) as exc:
                    log.warning("skipping unreadable backtest record %s: %s", path.name, exc)
        return sorted(found.values(), key=lambda j: j.created, reverse=True)

    def get(self, job_id: str) -> BacktestJob:
        if _ID.match(job_id):
            job = self._jobs.get(job_id)
            if job is not None:
                return job
            for candidate in self.jobs():
                if candidate.id == job_id:
                    return candidate
        raise ApiError(404, f"no backtest {job_id!r}")

    def result(self, job_id: str) -> bytes:
        """The result JSON of a finished job; 409 while it runs, 404 when unknown."""
        job = self.get(job_id)
        if job.status in ("queued", "running"):
            raise ApiError(409, f"backtest {job_id} is {job.status}; its result is not ready")
        if job.status == "failed":
            raise ApiError(409, f"backtest {job_id} failed: {job.error}")
        cached = self._results.get(job_id)
        if cached is not None:
            return cached
        path = self.results_dir / f"{job_id}.json"
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise ApiError(404, f"the result file of backtest {job_id} is gone from {self.results_dir}") from None

    async def shutdown(self) -> None:
        """Cancel queued and running jobs' waits (a running thread finishes on its own; it is a daemon)."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
