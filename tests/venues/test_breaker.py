"""Circuit breaker state machine, driven by a fake clock."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import ccxt
import pytest

from atb.venues.breaker import BreakerState, CircuitBreaker
from atb.venues.errors import CircuitOpenError

CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Harness:
    """A breaker plus helpers that make calls taking a chosen (fake) time."""

    def __init__(self, **kwargs: Any) -> None:
        self.clock = FakeClock()
        self.transitions: list[tuple[str, BreakerState, BreakerState]] = []
        kwargs.setdefault("listener", lambda name, old, new: self.transitions.append((name, old, new)))
        self.breaker = CircuitBreaker("binance", clock=self.clock, **kwargs)
        self.calls = 0

    def ok(self, seconds: float = 0.01) -> str:
        def fn() -> str:
            self.calls += 1
            self.clock.advance(seconds)
            return "ok"

        return self.breaker.call(fn)

    def fail(self, exc: Exception | None = None, seconds: float = 0.01) -> None:
        error = exc if exc is not None else ccxt.ExchangeNotAvailable("binance 503")

        def fn() -> None:
            self.calls += 1
            self.clock.advance(seconds)
            raise error

        with pytest.raises(type(error)):
            self.breaker.call(fn)

    @property
    def state(self) -> BreakerState:
        return self.breaker.state


def test_minimum_calls_before_judging() -> None:
    h = Harness(minimum_calls=10, window=50)
    for _ in range(9):
        h.fail()
    assert h.state is CLOSED  # 100 % failures, but only 9 calls
    h.fail()
    assert h.state is OPEN
    assert h.transitions == [("binance", CLOSED, OPEN)]


def test_failure_rate_threshold_is_inclusive() -> None:
    h = Harness(window=10, minimum_calls=10, failure_rate_threshold=0.5)
    for _ in range(6):
        h.ok()
    for _ in range(4):
        h.fail()
    stats = h.breaker.stats()
    assert (stats.calls, stats.failures, stats.failure_rate) == (10, 4, 0.4)
    assert h.state is CLOSED
    h.fail()  # window now 5 ok + 5 failed: the oldest ok fell out
    assert h.state is OPEN


def test_window_slides_over_the_last_n_calls() -> None:
    h = Harness(window=10, minimum_calls=10)
    for _ in range(4):
        h.fail()
    for _ in range(10):
        h.ok()
    assert h.breaker.stats().failures == 0  # the early failures slid out
    for _ in range(4):
        h.fail()
    assert h.state is CLOSED
    assert h.breaker.stats().failure_rate == pytest.approx(0.4)


def test_time_window_forgets_old_failures() -> None:
    h = Harness(window=50, window_seconds=60.0, minimum_calls=4)
    for _ in range(3):
        h.fail()
    h.clock.advance(61.0)
    h.ok()
    stats = h.breaker.stats()
    assert (stats.calls, stats.failures) == (1, 0)
    for _ in range(2):
        h.fail()
    assert h.state is CLOSED  # 2 failures of 3 calls: below minimum_calls
    h.fail()
    assert h.state is OPEN  # 3 of 4 within 60 s


def test_slow_calls_open_the_circuit() -> None:
    h = Harness(window=10, minimum_calls=10, slow_call_seconds=2.0, slow_call_rate_threshold=0.5)
    for _ in range(6):
        h.ok(seconds=0.1)
    for _ in range(3):
        h.ok(seconds=2.0)  # exactly the threshold counts as slow
    h.ok(seconds=1.99)
    stats = h.breaker.stats()
    assert (stats.slow_calls, stats.failures, stats.slow_call_rate) == (3, 0, 0.3)
    assert h.state is CLOSED
    h.ok(seconds=5.0)
    h.ok(seconds=5.0)  # 5 slow of the last 10
    assert h.state is OPEN


def test_open_fails_fast_with_remaining_time() -> None:
    h = Harness(window=4, minimum_calls=4, open_seconds=30.0)
    for _ in range(4):
        h.fail()
    assert h.state is OPEN
    calls_before = h.calls
    h.clock.advance(12.5)
    with pytest.raises(CircuitOpenError) as info:
        h.ok()
    assert h.calls == calls_before  # the venue was not called
    assert info.value.remaining_seconds == pytest.approx(17.5)
    assert info.value.name == "binance" and info.value.state == "open"
    assert "17.5 s" in str(info.value)
    assert h.breaker.remaining_open_seconds == pytest.approx(17.5)
    assert h.breaker.stats().rejected_calls == 1


def _open(h: Harness) -> None:
    for _ in range(h.breaker.minimum_calls):
        h.fail()
    assert h.state is OPEN


def test_half_open_probes_succeed_and_close() -> None:
    h = Harness(window=4, minimum_calls=4, open_seconds=30.0, half_open_probes=3)
    _open(h)
    h.clock.advance(29.99)
    assert h.state is OPEN
    h.clock.advance(0.01)
    assert h.state is HALF_OPEN
    h.ok()
    h.ok()
    assert h.state is HALF_OPEN
    h.ok()
    assert h.state is CLOSED
    assert h.breaker.stats().calls == 0  # a fresh window after closing
    assert [(o, n) for _, o, n in h.transitions] == [(CLOSED, OPEN), (OPEN, HALF_OPEN), (HALF_OPEN, CLOSED)]


def test_half_open_failure_reopens_for_a_full_period() -> None:
    h = Harness(window=4, minimum_calls=4, open_seconds=30.0, half_open_probes=3)
    _open(h)
    h.clock.advance(30.0)
    h.ok()
    h.fail()
    assert h.state is OPEN
    assert h.breaker.remaining_open_seconds == pytest.approx(30.0)
    h.clock.advance(30.0)
    assert h.state is HALF_OPEN
    for _ in range(3):
        h.ok()
    assert [(o, n) for _, o, n in h.transitions] == [
        (CLOSED, OPEN),
        (OPEN, HALF_OPEN),
        (HALF_OPEN, OPEN),
        (OPEN, HALF_OPEN),
        (HALF_OPEN, CLOSED),
    ]
    assert h.breaker.stats().times_opened == 2


def test_slow_probe_reopens() -> None:
    h = Harness(window=4, minimum_calls=4, open_seconds=10.0, slow_call_seconds=2.0)
    _open(h)
    h.clock.advance(10.0)
    h.ok(seconds=3.0)
    assert h.state is OPEN


def test_rejections_do_not_count_against_the_venue() -> None:
    h = Harness(window=10, minimum_calls=10)
    rejections = [
        ccxt.InsufficientFunds("-2010 insufficient balance"),
        ccxt.InvalidOrder("-2010 Duplicate order sent."),
        ccxt.BadRequest("-1013 Filter failure: NOTIONAL"),
        ccxt.OrderNotFound("-2013"),
        ccxt.InvalidNonce("-1021"),
        ValueError("our bug"),
    ]
    for _ in range(5):
        for exc in rejections:
            h.fail(exc)
    assert h.state is CLOSED
    stats = h.breaker.stats()
    assert (stats.calls, stats.failures) == (10, 0)
    for exc in (ccxt.RequestTimeout("t"), ccxt.DDoSProtection("429"), ccxt.NetworkError("reset"), TimeoutError()):
        h.fail(exc)
    h.fail(ccxt.OperationFailed("-1001"))
    assert h.state is OPEN  # 5 venue failures of the last 10


def test_custom_classifier() -> None:
    h = Harness(window=2, minimum_calls=2, classifier=lambda exc: isinstance(exc, KeyError))
    h.fail(ccxt.ExchangeNotAvailable("503"))
    h.fail(ccxt.ExchangeNotAvailable("503"))
    assert h.state is CLOSED
    h.fail(KeyError("x"))
    assert h.state is OPEN


def test_listener_failure_does_not_break_calls(caplog: pytest.LogCaptureFixture) -> None:
    def broken(name: str, old: BreakerState, new: BreakerState) -> None:
        raise RuntimeError("metrics down")

    h = Harness(window=2, minimum_calls=2, listener=broken)
    h.fail()
    with caplog.at_level(logging.INFO, logger="atb.venues.breaker"):
        h.fail()  # the opening transition calls the broken listener; the venue error still propagates
    assert h.state is OPEN
    assert any("listener failed" in r.getMessage() for r in caplog.records)


def test_transitions_are_logged_without_secrets(caplog: pytest.LogCaptureFixture) -> None:
    h = Harness(window=2, minimum_calls=2)
    secret_exc = ccxt.ExchangeNotAvailable("binance POST https://api/v3/order?timestamp=1&signature=S3CR3TSIG 503")
    with caplog.at_level(logging.DEBUG, logger="atb.venues.breaker"):
        h.fail(secret_exc)
        h.fail(secret_exc)
    opened = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(opened) == 1 and "binance" in opened[0].getMessage() and "open" in opened[0].getMessage()
    assert all("S3CR3TSIG" not in r.getMessage() for r in caplog.records)


def test_results_admitted_before_a_transition_are_ignored() -> None:
    h = Harness(window=2, minimum_calls=2, open_seconds=5.0, half_open_probes=1)
    b = h.breaker

    async def scenario() -> None:
        gate = asyncio.Event()

        async def slow_ok() -> str:
            await gate.wait()
            return "late"

        late = asyncio.create_task(b.acall(slow_ok))  # admitted while closed
        await asyncio.sleep(0)
        h.fail()
        h.fail()
        assert b.state is OPEN
        h.clock.advance(5.0)
        h.ok()  # the single probe succeeds
        assert b.state is CLOSED
        gate.set()
        assert await late == "late"
        assert b.stats().calls == 0  # the late result did not enter the new window

    asyncio.run(scenario())


def test_async_path() -> None:
    h = Harness(window=4, minimum_calls=4, open_seconds=10.0, half_open_probes=2)
    b = h.breaker

    async def venue(fail: bool, seconds: float = 0.01) -> str:
        await asyncio.sleep(0)
        h.clock.advance(seconds)
        if fail:
            raise ccxt.RequestTimeout("binance GET /api/v3/account timed out")
        return "ok"

    async def scenario() -> None:
        assert await b.acall(venue, False) == "ok"
        for _ in range(3):
            with pytest.raises(ccxt.RequestTimeout):
                await b.acall(venue, True)
        assert b.state is OPEN
        with pytest.raises(CircuitOpenError):
            await b.acall(venue, False)
        h.clock.advance(10.0)

        # two probes in flight use up the half-open allowance; a third caller fails fast
        gate = asyncio.Event()

        async def held() -> str:
            await gate.wait()
            return "probe"

        probes = [asyncio.create_task(b.acall(held)) for _ in range(2)]
        await asyncio.sleep(0)
        with pytest.raises(CircuitOpenError) as info:
            await b.acall(venue, False)
        assert info.value.state == "half_open"
        assert info.value.remaining_seconds == 0.0 and "until its probes finish" in str(info.value)
        gate.set()
        assert await asyncio.gather(*probes) == ["probe", "probe"]
        assert b.state is CLOSED

    asyncio.run(scenario())


def test_cancelled_probe_frees_its_slot() -> None:
    h = Harness(window=2, minimum_calls=2, open_seconds=1.0, half_open_probes=1)
    b = h.breaker

    async def scenario() -> None:
        h.fail()
        h.fail()
        h.clock.advance(1.0)
        never = asyncio.Event()

        async def hang() -> None:
            await never.wait()

        task = asyncio.create_task(b.acall(hang))
        await asyncio.sleep(0)
        with pytest.raises(CircuitOpenError):
            await b.acall(hang)  # the only probe slot is taken
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert b.state is HALF_OPEN  # cancellation is neither success nor failure
        h.ok()  # the slot is free again
        assert b.state is CLOSED

    asyncio.run(scenario())


def test_reset_closes() -> None:
    h = Harness(window=2, minimum_calls=2)
    _open(h)
    h.breaker.reset()
    assert h.state is CLOSED
    assert h.ok() == "ok"
    assert h.transitions[-1][1:] == (OPEN, CLOSED)


def test_call_passes_arguments_through() -> None:
    b = CircuitBreaker("x", clock=FakeClock())
    assert b.call(lambda a, *, k: a + k, 2, k=3) == 5


@pytest.mark.parametrize(
    "kwargs",
    [
        {"window": 0},
        {"window": 5, "minimum_calls": 6},
        {"minimum_calls": 0},
        {"failure_rate_threshold": 0.0},
        {"slow_call_rate_threshold": 1.5},
        {"slow_call_seconds": 0},
        {"open_seconds": -1},
        {"half_open_probes": 0},
        {"window_seconds": 0},
    ],
)
def test_rejects_nonsense_settings(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        CircuitBreaker("x", **kwargs)
