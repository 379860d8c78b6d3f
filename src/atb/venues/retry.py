"""Retries with exponential backoff and full jitter, for venue calls that are safe to repeat.

Only idempotent calls (reads, cancels) go through here. Resending `create_order`
after a lost answer can buy twice (VENUE_NOTES, "Order identity"); the node must
look the order up by client order id instead. `is_idempotent(method_name)`
tells the caller which is which, and the helpers refuse a callable whose name is
a known mutating ccxt method.

A call is retried when `classify(exc, idempotent=True)` is RETRY_SAFE: network
errors, timeouts, 5xx, -1000/-1001/-1006 and rate limits. Rejections, unknown
orders, clock and key errors are raised at once. A CircuitOpenError is raised
at once too: failing fast is the breaker's point.

Delay before retry n (n = 1, 2, ...): uniform(0, min(max_delay, base * 2**(n-1)))
with jitter ("full jitter"), the upper bound without. When the error carries a
Retry-After (see `errors.retry_after_seconds`) the delay is at least that long —
never sooner, even beyond `max_delay`; if it exceeds `max_retry_after` the error
is raised instead of sleeping, so a 418 ban does not freeze the caller for
minutes. A rate-limit error without Retry-After waits at least
`rate_limit_min_delay`, because an immediate jittered retry into a 429 is how an
IP gets banned.

tenacity is imported on first use; without the `live` extra the helpers raise
MissingExtraError.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import sys
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from atb.errors import MissingExtraError
from atb.venues.errors import CircuitOpenError, VenueErrorKind, classify, describe, retry_after_seconds

if TYPE_CHECKING:
    import tenacity

__all__ = ["aretry_idempotent", "backoff_delay", "is_idempotent", "retry_idempotent"]

log = logging.getLogger(__name__)

T = TypeVar("T")

RetryAfterReader = Callable[[BaseException], float | None]

# ccxt method names (snake_case after normalising camelCase) whose repetition cannot change venue state twice.
_IDEMPOTENT_PREFIXES = ("fetch_", "load_", "watch_")
_IDEMPOTENT_NAMES = frozenset({"cancel_order", "cancel_orders", "cancel_all_orders"})
_MUTATING_PREFIXES = (
    "create_",
    "edit_",
    "withdraw",
    "transfer",
    "borrow",
    "repay",
    "set_",
    "add_margin",
    "reduce_margin",
)


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def is_idempotent(method_name: str) -> bool:
    """Whether repeating a ccxt call by this name can never double its effect on the venue.

    Allow-list: reads (`fetch_*`, `load_*`) and cancels (a second cancel of a cancelled order only
    answers OrderNotFound, which the node treats as "check the order"). Everything else — orders,
    edits, transfers, names we do not know — is not idempotent. camelCase names are accepted.
    """
    name = _snake(method_name.rsplit(".", 1)[-1])
    return name in _IDEMPOTENT_NAMES or name.startswith(_IDEMPOTENT_PREFIXES)


def _refuse_mutating(fn: Callable[..., Any]) -> None:
    name = getattr(fn, "__name__", None)
    if isinstance(name, str) and _snake(name).startswith(_MUTATING_PREFIXES):
        raise ValueError(
            f"refusing to retry {name}: it is not idempotent; after an unknown outcome look the order up by "
            "client order id instead"
        )


def backoff_delay(
    attempt: int, *, base: float, max_delay: float, jitter: bool, uniform: Callable[[float, float], float]
) -> float:
    """Delay after the `attempt`-th failure (1-based), before any Retry-After floor."""
    cap = min(max_delay, base * 2.0 ** (attempt - 1))
    return uniform(0.0, cap) if jitter else cap


def _is_rate_limit(exc: BaseException) -> bool:
    mod = sys.modules.get("ccxt.base.errors")
    if mod is None:
        return False
    classes = tuple(c for c in (getattr(mod, "DDoSProtection", None), getattr(mod, "RateLimitExceeded", None)) if c)
    return isinstance(exc, classes)


def _should_retry(exc: BaseException) -> bool:
    if isinstance(exc, CircuitOpenError):
        return False
    return classify(exc, idempotent=True) is VenueErrorKind.RETRY_SAFE


def _tenacity() -> Any:
    try:
        import tenacity
    except ImportError as err:  # pragma: no cover - the dev environment has it
        raise MissingExtraError("venue retries", "live", "tenacity") from err
    return tenacity


class _Policy:
    """The stop, wait and logging rules shared by the sync and async helpers."""

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        attempts: int,
        base: float,
        max_delay: float,
        jitter: bool,
        max_retry_after: float,
        rate_limit_min_delay: float,
        retry_after: RetryAfterReader,
        uniform: Callable[[float, float], float],
    ) -> None:
        if attempts < 1 or base < 0 or max_delay < 0 or max_retry_after < 0 or rate_limit_min_delay < 0:
            raise ValueError("attempts must be >= 1 and delays must be >= 0")
        _refuse_mutating(fn)
        self.label = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or type(fn).__name__
        self.attempts = attempts
        self.base = base
        self.max_delay = max_delay
        self.jitter = jitter
        self.max_retry_after = max_retry_after
        self.rate_limit_min_delay = rate_limit_min_delay
        self.retry_after = retry_after
        self.uniform = uniform

    @staticmethod
    def _error(state: tenacity.RetryCallState) -> BaseException:
        outcome = state.outcome
        exc = outcome.exception() if outcome is not None else None
        assert exc is not None, "tenacity only consults stop/wait after a failure here"
        return exc

    def stop(self, state: tenacity.RetryCallState) -> bool:
        if state.attempt_number >= self.attempts:
            return True
        wait = self.retry_after(self._error(state))
        if wait is not None and wait > self.max_retry_after:
            log.warning(
                "not retrying %s: venue asks to wait %.1f s, more than max_retry_after=%.1f s",
                self.label,
                wait,
                self.max_retry_after,
            )
            return True
        return False

    def wait(self, state: tenacity.RetryCallState) -> float:
        exc = self._error(state)
        delay = backoff_delay(
            state.attempt_number, base=self.base, max_delay=self.max_delay, jitter=self.jitter, uniform=self.uniform
        )
        asked = self.retry_after(exc)
        if asked is not None:
            delay = max(delay, asked)
        elif _is_rate_limit(exc):
            delay = max(delay, self.rate_limit_min_delay)
        return delay

    def before_sleep(self, state: tenacity.RetryCallState) -> None:
        exc = self._error(state)
        delay = state.next_action.sleep if state.next_action is not None else float("nan")
        log.warning(
            "retrying %s: attempt %d/%d failed (%s, %s); next try in %.3f s",
            self.label,
            state.attempt_number,
            self.attempts,
            classify(exc, idempotent=True).value,
            describe(exc),
            delay,
        )

    def kwargs(self) -> dict[str, Any]:
        t = _tenacity()
        return {
            "stop": self.stop,
            "wait": self.wait,
            "retry": t.retry_if_exception(_should_retry),
            "before_sleep": self.before_sleep,
            "reraise": True,
        }


def retry_idempotent(
    fn: Callable[..., T],
    *args: Any,
    attempts: int = 5,
    base: float = 0.2,
    max_delay: float = 10.0,
    jitter: bool = True,
    max_retry_after: float = 60.0,
    rate_limit_min_delay: float = 1.0,
    retry_after: RetryAfterReader = retry_after_seconds,
    sleep: Callable[[float], None] = time.sleep,
    uniform: Callable[[float, float], float] = random.uniform,
) -> T:
    """Call `fn(*args)` (bind keyword arguments with functools.partial), retrying venue trouble.

    `attempts` counts calls, not retries. The last error is re-raised unchanged. `retry_after` reads
    the venue's requested delay from an error (e.g. from `exchange.last_response_headers`);
    `sleep` and `uniform` are injectable for tests.
    """
    policy = _Policy(
        fn,
        attempts=attempts,
        base=base,
        max_delay=max_delay,
        jitter=jitter,
        max_retry_after=max_retry_after,
        rate_limit_min_delay=rate_limit_min_delay,
        retry_after=retry_after,
        uniform=uniform,
    )
    retrying = _tenacity().Retrying(sleep=sleep, **policy.kwargs())
    result: T = retrying(fn, *args)
    return result


async def aretry_idempotent(
    fn: Callable[..., Awaitable[T]],
    *args: Any,
    attempts: int = 5,
    base: float = 0.2,
    max_delay: float = 10.0,
    jitter: bool = True,
    max_retry_after: float = 60.0,
    rate_limit_min_delay: float = 1.0,
    retry_after: RetryAfterReader = retry_after_seconds,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    uniform: Callable[[float, float], float] = random.uniform,
) -> T:
    """Async twin of `retry_idempotent`: awaits `fn(*args)` and sleeps with `sleep` (asyncio.sleep)."""
    policy = _Policy(
        fn,
        attempts=attempts,
        base=base,
        max_delay=max_delay,
        jitter=jitter,
        max_retry_after=max_retry_after,
        rate_limit_min_delay=rate_limit_min_delay,
        retry_after=retry_after,
        uniform=uniform,
    )
    retrying = _tenacity().AsyncRetrying(sleep=sleep, **policy.kwargs())
    result: T = await retrying(fn, *args)
    return result
