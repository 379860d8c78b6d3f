"""Faults a test queues on an endpoint: the venue answers the next matching request(s) with them.

Each fault reproduces one way a real Binance call goes wrong (VENUE_NOTES, "What ccxt raises").
Whether the venue *processed* the request before failing is part of the fault, because that is
what a node must find out afterwards: `drop_after()` places the order and never answers,
`reset_before()` never looks at it.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from enum import StrEnum


class FaultKind(StrEnum):
    DELAY = "delay"  # answer late (the client times out); processed unless process=False
    STATUS = "status"  # an HTTP error status with Binance's JSON body (500 -1001, 502, 503, 504)
    RATE_LIMIT = "rate_limit"  # 429, code -1003, Retry-After; never processed
    BAN = "ban"  # 418 IP ban, code -1003, Retry-After; never processed
    DROP_AFTER = "drop_after"  # processed, then the connection is closed without an answer
    RESET_BEFORE = "reset_before"  # the connection is reset (RST) before the request is looked at


@dataclass(frozen=True, slots=True)
class Fault:
    kind: FaultKind
    status: int = 0
    seconds: float = 0.0  # DELAY: how long; RATE_LIMIT/BAN: the Retry-After value
    process: bool = False  # DELAY/STATUS: whether the venue acts on the request anyway

    @property
    def processes(self) -> bool:
        return self.kind is FaultKind.DROP_AFTER or (self.kind in (FaultKind.DELAY, FaultKind.STATUS) and self.process)


def delay(seconds: float, *, process: bool = True) -> Fault:
    """Answer after `seconds` (longer than the client's timeout gives `RequestTimeout`)."""
    return Fault(FaultKind.DELAY, seconds=seconds, process=process)


def status(code: int, *, process: bool = False) -> Fault:
    """HTTP `code`: 500 carries {"code": -1001, ...}; 502/503/504 a plain gateway page like Binance's CDN."""
    if code < 500:
        raise ValueError("use rate_limited() / banned() for 4xx faults")
    return Fault(FaultKind.STATUS, status=code, process=process)


def rate_limited(retry_after: float = 1) -> Fault:
    return Fault(FaultKind.RATE_LIMIT, status=429, seconds=retry_after)


def banned(retry_after: float = 60) -> Fault:
    return Fault(FaultKind.BAN, status=418, seconds=retry_after)


def drop_after() -> Fault:
    """Process the request (e.g. accept the order), then close the connection without answering."""
    return Fault(FaultKind.DROP_AFTER)


def reset_before() -> Fault:
    """Reset the connection before the request is processed: nothing happened at the venue."""
    return Fault(FaultKind.RESET_BEFORE)


class Faults:
    """Per-endpoint FIFO queues of faults; each matching request consumes one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: dict[tuple[str, str | None], deque[Fault]] = {}
        self.fired: list[tuple[str, str, Fault]] = []  # (method, endpoint, fault) in the order they hit

    def next(self, endpoint: str, fault: Fault, *, method: str | None = None, times: int = 1) -> None:
        """Make the next `times` requests to `endpoint` ("order", "account", ...; `method` optional) fail so."""
        key = (endpoint.strip("/"), method.upper() if method else None)
        with self._lock:
            self._queues.setdefault(key, deque()).extend([fault] * times)

    def take(self, endpoint: str, method: str) -> Fault | None:
        with self._lock:
            for key in ((endpoint, method), (endpoint, None)):
                queue = self._queues.get(key)
                if queue:
                    fault = queue.popleft()
                    self.fired.append((method, endpoint, fault))
                    return fault
        return None

    def pending(self) -> int:
        with self._lock:
            return sum(len(q) for q in self._queues.values())

    def clear(self) -> None:
        with self._lock:
            self._queues.clear()
