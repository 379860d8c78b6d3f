"""How far the local clock is from the venue's, measured NTP-style.

Signed Binance requests carry a local timestamp; one that is more than 1 s ahead
of the venue or older than recvWindow is refused with -1021 (ccxt InvalidNonce).
A node must therefore know its offset before trading and re-measure after a
CLOCK error.

Each sample brackets one server-time request between two local readings t0 and
t1. The server stamped its time somewhere in [t0, t1], so assuming the midpoint
(symmetric network paths) leaves an error of at most half the round trip. Of
several samples the one with the shortest round trip is kept — the classic NTP
clock filter: queueing delay only ever lengthens a round trip, so the shortest is
the least distorted.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from atb.venues.errors import ClockSkewError

__all__ = ["ClockOffset", "ClockSample", "wall_clock_ms"]


def wall_clock_ms() -> float:
    """Local wall-clock time in epoch milliseconds (what signed requests carry)."""
    return time.time() * 1000.0


@dataclass(frozen=True, slots=True)
class ClockSample:
    """One bracketed reading: local time before the request, venue time, local time after (all epoch ms)."""

    sent_ms: float
    server_ms: float
    received_ms: float

    @property
    def round_trip_ms(self) -> float:
        return self.received_ms - self.sent_ms

    @property
    def offset_ms(self) -> float:
        return self.server_ms - (self.sent_ms + self.received_ms) / 2.0


@dataclass(frozen=True, slots=True)
class ClockOffset:
    """Venue time minus local time. Positive: the local clock is behind the venue's."""

    offset_ms: float
    uncertainty_ms: float
    """Bound on the estimate's error: half the round trip of the sample used (plus the venue's resolution)."""
    round_trip_ms: float
    samples: int

    @classmethod
    def from_samples(cls, samples: Sequence[ClockSample], *, resolution_ms: float = 1.0) -> ClockOffset:
        """Pick the shortest-round-trip sample. `resolution_ms` is the venue's time granularity (Binance: 1 ms).

        Samples whose local clock went backwards during the request (negative round trip) are dropped.
        """
        usable = [s for s in samples if s.round_trip_ms >= 0]
        if not usable:
            raise ValueError("no usable clock sample (none given, or the local clock stepped back during each)")
        best = min(usable, key=lambda s: s.round_trip_ms)
        return cls(
            offset_ms=best.offset_ms,
            uncertainty_ms=best.round_trip_ms / 2.0 + resolution_ms,
            round_trip_ms=best.round_trip_ms,
            samples=len(usable),
        )

    @classmethod
    def measure(
        cls,
        fetch_time_ms: Callable[[], float],
        *,
        now_ms: Callable[[], float] = wall_clock_ms,
        samples: int = 5,
        resolution_ms: float = 1.0,
    ) -> ClockOffset:
        """Measure with a synchronous venue-time reader, e.g. `exchange.fetch_time` (epoch ms)."""
        if samples < 1:
            raise ValueError("samples must be at least 1")
        taken = []
        for _ in range(samples):
            sent = now_ms()
            server = float(fetch_time_ms())
            taken.append(ClockSample(sent, server, now_ms()))
        return cls.from_samples(taken, resolution_ms=resolution_ms)

    @classmethod
    async def ameasure(
        cls,
        fetch_time_ms: Callable[[], Awaitable[float]],
        *,
        now_ms: Callable[[], float] = wall_clock_ms,
        samples: int = 5,
        resolution_ms: float = 1.0,
    ) -> ClockOffset:
        """Async twin of `measure`, for `ccxt.async_support` exchanges."""
        if samples < 1:
            raise ValueError("samples must be at least 1")
        taken = []
        for _ in range(samples):
            sent = now_ms()
            server = float(await fetch_time_ms())
            taken.append(ClockSample(sent, server, now_ms()))
        return cls.from_samples(taken, resolution_ms=resolution_ms)

    def venue_time_ms(self, local_ms: float) -> float:
        """Estimate of the venue's clock at local time `local_ms`."""
        return local_ms + self.offset_ms

    def check(self, max_offset_ms: float = 500.0) -> ClockOffset:
        """Raise ClockSkewError when the estimated offset exceeds `max_offset_ms`; return self otherwise.

        Judged on the estimate, not on estimate + uncertainty: a slow network would otherwise halt a
        node whose clock is fine. The error reports the uncertainty so a person can tell the two apart.
        """
        if abs(self.offset_ms) > max_offset_ms:
            raise ClockSkewError(self.offset_ms, self.uncertainty_ms, max_offset_ms)
        return self
