"""Circuit breaker for venue calls: stop hammering a venue that is failing or crawling.

Hand-written on purpose: pybreaker (the usual Python choice) counts consecutive
failures only and has no slow-call rate, yet a venue that answers in 8 s is as
unusable for a trading loop as one that does not answer. The model follows
Resilience4j: a sliding window of outcomes (the last `window` calls, optionally
also limited to the last `window_seconds`), a failure rate and a slow-call rate,
an open period, then a few half-open probes.

Only errors the classifier calls venue trouble count as failures (by default
`is_venue_trouble`: network errors, timeouts, 5xx, rate limits). A rejected
order is the venue working correctly, so it is recorded as a healthy call.

Concurrency: built for one asyncio event loop (one per node, see ARCHITECTURE
"Live runtime") or one thread. There are no locks; state changes happen between
awaits only, so concurrent coroutines on the same loop are safe. Do not share a
breaker between threads.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import ParamSpec, TypeVar

from atb.venues.errors import CircuitOpenError, describe, is_venue_trouble

__all__ = ["BreakerListener", "BreakerState", "BreakerStats", "CircuitBreaker"]

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


BreakerListener = Callable[[str, BreakerState, BreakerState], None]
"""Called as `listener(name, old_state, new_state)` on every transition."""


@dataclass(frozen=True, slots=True)
class BreakerStats:
    """A snapshot for metrics and health checks; rates are over the current window (closed state only)."""

    name: str
    state: BreakerState
    calls: int
    failures: int
    slow_calls: int
    failure_rate: float
    slow_call_rate: float
    rejected_calls: int
    """Calls refused locally (fail-fast) since the breaker was created."""
    times_opened: int


@dataclass(frozen=True, slots=True)
class _Outcome:
    at: float
    failed: bool
    slow: bool


class CircuitBreaker:
    """Closed → open when the failure or slow-call rate reaches its threshold; open → half-open after
    `open_seconds`; half-open → closed after `half_open_probes` healthy probes, → open on any bad one.

    A probe that is slow counts as bad: a venue that still crawls should stay fenced off.
    The open → half-open move is made lazily, when `state` is read or a call arrives.
    """

    def __init__(
        self,
        name: str,
        *,
        window: int = 50,
        window_seconds: float | None = None,
        failure_rate_threshold: float = 0.5,
        slow_call_rate_threshold: float = 0.5,
        slow_call_seconds: float = 2.0,
        minimum_calls: int = 10,
        open_seconds: float = 30.0,
        half_open_probes: int = 3,
        classifier: Callable[[BaseException], bool] = is_venue_trouble,
        listener: BreakerListener | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if window < 1:
            raise ValueError("window must be at least 1 call")
        if window_seconds is not None and window_seconds <= 0:
            raise ValueError("window_seconds must be positive")
        if not 1 <= minimum_calls <= window:
            raise ValueError("minimum_calls must be between 1 and window, or the breaker could never open")
        for label, rate in (
            ("failure_rate_threshold", failure_rate_threshold),
            ("slow_call_rate_threshold", slow_call_rate_threshold),
        ):
            if not 0.0 < rate <= 1.0:
                raise ValueError(f"{label} must be in (0, 1]")
        if slow_call_seconds <= 0 or open_seconds < 0 or half_open_probes < 1:
            raise ValueError("slow_call_seconds must be > 0, open_seconds >= 0, half_open_probes >= 1")
        self.name = name
        self.window = window
        self.window_seconds = window_seconds
        self.failure_rate_threshold = failure_rate_threshold
        self.slow_call_rate_threshold = slow_call_rate_threshold
        self.slow_call_seconds = slow_call_seconds
        self.minimum_calls = minimum_calls
        self.open_seconds = open_seconds
        self.half_open_probes = half_open_probes
        self.classifier = classifier
        self.listener = listener
        self._clock = clock

        self._state = BreakerState.CLOSED
        self._generation = 0  # bumped on every transition; results from an earlier phase are dropped
        self._opened_at = 0.0
        self._outcomes: deque[_Outcome] = deque()
        self._failures = 0
        self._slow = 0
        self._probes_admitted = 0
        self._probe_successes = 0
        self._rejected = 0
        self._times_opened = 0

    # ------------------------------------------------------------------ public view

    @property
    def state(self) -> BreakerState:
        return self._current_state()

    @property
    def remaining_open_seconds(self) -> float:
        if self._current_state() is not BreakerState.OPEN:
            return 0.0
        return max(0.0, self._opened_at + self.open_seconds - self._clock())

    def stats(self) -> BreakerStats:
        state = self._current_state()
        self._evict_old()
        n = len(self._outcomes)
        return BreakerStats(
            name=self.name,
            state=state,
            calls=n,
            failures=self._failures,
            slow_calls=self._slow,
            failure_rate=self._failures / n if n else 0.0,
            slow_call_rate=self._slow / n if n else 0.0,
            rejected_calls=self._rejected,
            times_opened=self._times_opened,
        )

    def reset(self) -> None:
        """Force the breaker closed with an empty window (operator action, tests)."""
        if self._state is not BreakerState.CLOSED:
            self._transition(BreakerState.CLOSED, reason="reset")
        else:
            self._clear_window()

    # ------------------------------------------------------------------ calls

    def call(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a synchronous venue call through the breaker; raises CircuitOpenError without calling when open."""
        ticket = self._admit()
        started = self._clock()
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:
            self._record(ticket, started, exc)
            raise
        except BaseException:  # KeyboardInterrupt, SystemExit: the call did not finish, judge nothing
            self._abandon(ticket)
            raise
        self._record(ticket, started, None)
        return result

    async def acall(self, fn: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Await a venue coroutine through the breaker; a cancelled call is neither a success nor a failure."""
        ticket = self._admit()
        started = self._clock()
        try:
            result = await fn(*args, **kwargs)
        except Exception as exc:
            self._record(ticket, started, exc)
            raise
        except BaseException:  # asyncio.CancelledError and friends
            self._abandon(ticket)
            raise
        self._record(ticket, started, None)
        return result

    # ------------------------------------------------------------------ machinery

    def _current_state(self) -> BreakerState:
        if self._state is BreakerState.OPEN and self._clock() - self._opened_at >= self.open_seconds:
            self._transition(BreakerState.HALF_OPEN, reason=f"{self.open_seconds:g} s elapsed")
        return self._state

    def _admit(self) -> tuple[int, bool]:
        """Let a call through or raise; returns (generation, is_probe) to match the result to its phase."""
        state = self._current_state()
        if state is BreakerState.CLOSED:
            return self._generation, False
        if state is BreakerState.HALF_OPEN and self._probes_admitted < self.half_open_probes:
            self._probes_admitted += 1
            return self._generation, True
        self._rejected += 1
        raise CircuitOpenError(self.name, self.remaining_open_seconds, state.value)

    def _abandon(self, ticket: tuple[int, bool]) -> None:
        generation, is_probe = ticket
        if is_probe and generation == self._generation:
            self._probes_admitted -= 1  # free the slot for another probe

    def _record(self, ticket: tuple[int, bool], started: float, exc: Exception | None) -> None:
        generation, is_probe = ticket
        now = self._clock()
        if generation != self._generation:
            return  # admitted before the last transition: says nothing about the current phase
        slow = now - started >= self.slow_call_seconds
        failed = exc is not None and self.classifier(exc)
        if exc is not None and failed:
            log.debug("breaker %s: venue failure %s", self.name, describe(exc))
        if is_probe:
            if failed or slow:
                self._transition(BreakerState.OPEN, reason="half-open probe " + ("failed" if failed else "was slow"))
                return
            self._probe_successes += 1
            if self._probe_successes >= self.half_open_probes:
                self._transition(BreakerState.CLOSED, reason=f"{self._probe_successes} probes succeeded")
            return
        self._outcomes.append(_Outcome(now, failed, slow))
        self._failures += failed
        self._slow += slow
        self._evict_old()
        n = len(self._outcomes)
        if n < self.minimum_calls:
            return
        failure_rate, slow_rate = self._failures / n, self._slow / n
        if failure_rate >= self.failure_rate_threshold or slow_rate >= self.slow_call_rate_threshold:
            self._transition(
                BreakerState.OPEN,
                reason=f"failure rate {failure_rate:.0%}, slow-call rate {slow_rate:.0%} over {n} calls",
            )

    def _evict_old(self) -> None:
        outcomes = self._outcomes
        horizon = None if self.window_seconds is None else self._clock() - self.window_seconds
        while outcomes and (len(outcomes) > self.window or (horizon is not None and outcomes[0].at < horizon)):
            gone = outcomes.popleft()
            self._failures -= gone.failed
            self._slow -= gone.slow

    def _clear_window(self) -> None:
        self._outcomes.clear()
        self._failures = 0
        self._slow = 0

    def _transition(self, new: BreakerState, *, reason: str) -> None:
        old = self._state
        self._state = new
        self._generation += 1
        self._probes_admitted = 0
        self._probe_successes = 0
        self._clear_window()
        if new is BreakerState.OPEN:
            self._opened_at = self._clock()
            self._times_opened += 1
            log.warning(
                "circuit %s %s -> %s (%s); failing fast for %g s", self.name, old, new, reason, self.open_seconds
            )
        else:
            log.info("circuit %s %s -> %s (%s)", self.name, old, new, reason)
        if self.listener is not None:
            try:
                self.listener(self.name, old, new)
            except Exception:  # a broken metrics hook must not break order flow
                log.exception("circuit %s: transition listener failed", self.name)
