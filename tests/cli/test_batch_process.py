"""The one-command process helpers: the forked worker and what the CLI builds with it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from atb.batch_process import ForkedBytes
from atb.services.backtest import BacktestRequest, run_backtest_request

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "src" / "atb" / "data" / "sample" / "BTC_USDT_2h.parquet"

linux_only = pytest.mark.skipif(not ForkedBytes.available(), reason="fork + memfd_create (Linux)")


@linux_only
def test_the_child_hands_back_its_bytes_and_the_parent_its_own_memory() -> None:
    parent_pid = os.getpid()
    big = bytes(range(256)) * 40_000  # 10 MB: more than any pipe or single write holds
    job = ForkedBytes(lambda: big + str(os.getpid() != parent_pid).encode())
    assert job.result() == big + b"True"


@linux_only
def test_a_failing_child_gives_none() -> None:
    def boom() -> bytes:
        raise RuntimeError("the child fails")

    assert ForkedBytes(boom).result() is None
    assert ForkedBytes(lambda: os._exit(3)).result() is None


@linux_only
@pytest.mark.parametrize("minimum", [0, 10**9])
def test_the_json_with_forked_order_rows_is_the_serial_json_byte_for_byte(
    minimum: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    import atb.services.backtest as service

    monkeypatch.setattr(service, "FORK_MIN_ORDERS", minimum)
    request = BacktestRequest(data=[SAMPLE], params={"fast": "5", "slow": "30"})
    serial = run_backtest_request(request).json_bytes()
    outcome = run_backtest_request(request)
    outcome.start_order_rows()
    assert (outcome._orders_job is not None) == (minimum == 0)
    assert outcome.json_bytes() == serial
    assert outcome.json_bytes() == serial  # the job is used once; later calls build the dict
    assert outcome.result_dict()["orders"][0]["id"] == "bt-1"


@linux_only
def test_a_failed_worker_falls_back_to_making_the_rows_here(monkeypatch: pytest.MonkeyPatch) -> None:
    import atb.services.backtest as service

    monkeypatch.setattr(service, "FORK_MIN_ORDERS", 0)
    request = BacktestRequest(data=[SAMPLE], params={"fast": "5", "slow": "30"})
    serial = run_backtest_request(request).json_bytes()
    outcome = run_backtest_request(request)
    outcome.start_order_rows()
    job = outcome._orders_job
    assert job is not None
    real_result = job.result
    monkeypatch.setattr(job, "result", lambda: None)
    assert outcome.json_bytes() == serial
    assert real_result() is not None  # the child is reaped all the same


def test_no_fork_off_linux(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")
    assert not ForkedBytes.available()


@linux_only
def test_a_refused_fork_leaves_the_rows_to_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    import atb.services.backtest as service

    def no_fork() -> int:
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(service, "FORK_MIN_ORDERS", 0)
    request = BacktestRequest(data=[SAMPLE], params={"fast": "5", "slow": "30"})
    serial = run_backtest_request(request).json_bytes()
    outcome = run_backtest_request(request)
    monkeypatch.setattr(os, "fork", no_fork)
    outcome.start_order_rows()
    assert outcome._orders_job is None
    assert outcome.json_bytes() == serial
