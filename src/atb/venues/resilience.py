"""One import for the venue-call safety net: circuit breaker, retries, error groups, clock offset.

Each piece lives in its own module (breaker, retry, errors, clock_sync); none imports ccxt, so this
is cheap to import and works without the `live` extra (retries then need tenacity on first use).
"""

from __future__ import annotations

from atb.venues.breaker import BreakerListener, BreakerState, BreakerStats, CircuitBreaker
from atb.venues.clock_sync import ClockOffset, ClockSample, wall_clock_ms
from atb.venues.errors import (
    CircuitOpenError,
    ClockSkewError,
    VenueErrorKind,
    classify,
    describe,
    is_venue_trouble,
    parse_retry_after,
    retry_after_seconds,
)
from atb.venues.retry import aretry_idempotent, backoff_delay, is_idempotent, retry_idempotent

__all__ = [
    "BreakerListener",
    "BreakerState",
    "BreakerStats",
    "CircuitBreaker",
    "CircuitOpenError",
    "ClockOffset",
    "ClockSample",
    "ClockSkewError",
    "VenueErrorKind",
    "aretry_idempotent",
    "backoff_delay",
    "classify",
    "describe",
    "is_idempotent",
    "is_venue_trouble",
    "parse_retry_after",
    "retry_after_seconds",
    "retry_idempotent",
    "wall_clock_ms",
]
