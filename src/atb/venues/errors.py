"""What a venue error means for the node: one remedy group per ccxt exception.

The groups follow the table in VENUE_NOTES ("What ccxt raises"). The single
fact that shapes them: after a timeout, a dropped connection or a 5xx, Binance
documents the execution status as *unknown* — the order may have been placed.
So the same `ExchangeNotAvailable` is harmless to repeat on a read and
dangerous to repeat on `create_order`; `classify` therefore takes the call's
idempotency, and defaults to the safe answer (not idempotent) so that a caller
who forgets it is told to look the order up rather than to resend it.

ccxt is never imported here. A ccxt exception can only exist once ccxt's error
module is loaded, so the classes are taken from `sys.modules`; without ccxt (or
before anything imported it) only the built-in timeout/connection errors are
recognised. This keeps the breaker and retry helpers usable, and cheap to
import, on a machine without the `live` extra.
"""

from __future__ import annotations

import math
import re
import sys
from enum import StrEnum
from types import ModuleType

from atb.errors import AtbError

__all__ = [
    "CircuitOpenError",
    "ClockSkewError",
    "VenueErrorKind",
    "classify",
    "describe",
    "is_venue_trouble",
    "parse_retry_after",
    "retry_after_seconds",
]

_CCXT_ERRORS_MODULE = "ccxt.base.errors"


class VenueErrorKind(StrEnum):
    """The remedy a venue error calls for."""

    RETRY_SAFE = "retry_safe"
    """Repeating the call cannot duplicate an effect: retry with backoff (after Retry-After for rate limits)."""
    UNKNOWN_OUTCOME = "unknown_outcome"
    """The venue may have acted: look the order up by client order id before sending anything again."""
    REJECTED = "rejected"
    """The venue refused the request: do not retry; fix the request (rounding, balance) or drop it."""
    NOT_FOUND = "not_found"
    """The order is unknown to the venue. On a cancel it may already be gone: check its status."""
    CLOCK = "clock"
    """Timestamp outside recvWindow: re-sync the clock offset, then retry."""
    AUTH = "auth"
    """Bad key, signature or permission: halt the node, a person must act."""
    UNCLASSIFIED = "unclassified"
    """Not a known venue error (a bug, or an exchange error code ccxt has no class for): no automatic remedy."""


class CircuitOpenError(AtbError):
    """A call was refused locally because the venue's circuit breaker is open; nothing was sent."""

    def __init__(self, name: str, remaining_seconds: float, state: str) -> None:
        wait = f"for another {remaining_seconds:.1f} s" if remaining_seconds > 0 else "until its probes finish"
        super().__init__(f"circuit {name!r} is {state}: calls refused {wait}")
        self.name = name
        self.remaining_seconds = remaining_seconds
        self.state = state


class ClockSkewError(AtbError):
    """The local clock is too far from the venue's for signed requests to be accepted."""

    def __init__(self, offset_ms: float, uncertainty_ms: float, max_offset_ms: float) -> None:
        direction = "behind" if offset_ms > 0 else "ahead of"
        super().__init__(
            f"local clock is {abs(offset_ms):.0f} ms (± {uncertainty_ms:.0f} ms) {direction} the venue's, "
            f"more than the {max_offset_ms:.0f} ms allowed: sync the system clock (NTP) before trading"
        )
        self.offset_ms = offset_ms
        self.uncertainty_ms = uncertainty_ms
        self.max_offset_ms = max_offset_ms


def _ccxt_errors() -> ModuleType | None:
    return sys.modules.get(_CCXT_ERRORS_MODULE)


def _isinstance_named(exc: BaseException, mod: ModuleType, *names: str) -> bool:
    classes = tuple(c for c in (getattr(mod, n, None) for n in names) if isinstance(c, type))
    return bool(classes) and isinstance(exc, classes)


def classify(exc: BaseException, *, idempotent: bool = False) -> VenueErrorKind:
    """Map an exception raised by a venue call to its remedy group.

    `idempotent` says whether repeating the call is harmless (reads, cancels);
    then every "did it arrive?" error is simply RETRY_SAFE.
    """
    if isinstance(exc, CircuitOpenError):
        return VenueErrorKind.RETRY_SAFE  # nothing left the process
    uncertain = VenueErrorKind.RETRY_SAFE if idempotent else VenueErrorKind.UNKNOWN_OUTCOME
    mod = _ccxt_errors()
    if mod is None or not isinstance(exc, getattr(mod, "BaseError", ())):
        if isinstance(exc, TimeoutError | ConnectionError):  # e.g. asyncio.wait_for around a call
            return uncertain
        return VenueErrorKind.UNCLASSIFIED
    # Most specific first: OrderNotFound is an InvalidOrder, InvalidNonce and the rate limits are NetworkErrors.
    if _isinstance_named(exc, mod, "AuthenticationError"):  # includes PermissionDenied, AccountSuspended
        return VenueErrorKind.AUTH
    if _isinstance_named(exc, mod, "OrderNotFound"):
        return VenueErrorKind.NOT_FOUND
    if _isinstance_named(exc, mod, "ChecksumError"):  # websocket order-book checksum: resubscribe, a read
        return VenueErrorKind.RETRY_SAFE
    if _isinstance_named(exc, mod, "InvalidNonce"):
        return VenueErrorKind.CLOCK
    if _isinstance_named(exc, mod, "DDoSProtection", "RateLimitExceeded"):
        return VenueErrorKind.RETRY_SAFE  # 429/418: refused before processing, so never placed
    if _isinstance_named(
        exc,
        mod,
        "InsufficientFunds",
        "InvalidOrder",
        "BadRequest",
        "OperationRejected",
        "ArgumentsRequired",
        "NotSupported",
        "InvalidAddress",
    ):
        return VenueErrorKind.REJECTED
    # NetworkError (reset, timeout, 5xx) and OperationFailed (-1000/-1001/-1006: "execution status unknown").
    if _isinstance_named(exc, mod, "NetworkError", "OperationFailed"):
        return uncertain
    return VenueErrorKind.UNCLASSIFIED  # plain ExchangeError: a code ccxt could not map


def is_venue_trouble(exc: BaseException) -> bool:
    """Whether an error says the venue (or the path to it) is unhealthy — what a circuit breaker should count.

    Network errors, timeouts, 5xx answers and rate limits count; a rejected order, an unknown order, a
    clock or key problem do not: the venue answered correctly and the fault is ours.
    """
    if isinstance(exc, CircuitOpenError):
        return False
    kind = classify(exc, idempotent=False)
    if kind is VenueErrorKind.UNKNOWN_OUTCOME:
        return True
    mod = _ccxt_errors()
    return mod is not None and _isinstance_named(exc, mod, "DDoSProtection", "RateLimitExceeded")


_RETRY_AFTER_IN_TEXT = re.compile(r"retry[-_ ]?after\W{0,3}(\d+(?:\.\d+)?)", re.IGNORECASE)


def parse_retry_after(value: object) -> float | None:
    """Seconds from a `Retry-After` header value (Binance sends delta-seconds); None if absent or not a number.

    The HTTP-date form is not accepted: Binance does not use it, and guessing would risk retrying too soon.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str | bytes):
        text = value.decode() if isinstance(value, bytes) else value
        try:
            seconds = float(text.strip())
        except ValueError:
            return None
    else:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def retry_after_seconds(exc: BaseException) -> float | None:
    """How long the venue asked us to wait, if the exception says so.

    ccxt keeps response headers on the exchange object (`last_response_headers`), not on the
    exception, so the caller attaches them: set `exc.retry_after` (seconds, or the raw header) or
    pass its own reader to the retry helpers. Failing that, an explicit "Retry-After: N" in the
    message is used. Other numbers in the message are ignored on purpose: Binance's 429 text
    mentions the weight limit ("6000 request weight per 1 MINUTE") and a 418 the ban's end as epoch
    milliseconds, and neither is a delay in seconds.
    """
    explicit = parse_retry_after(getattr(exc, "retry_after", None))
    if explicit is not None:
        return explicit
    match = _RETRY_AFTER_IN_TEXT.search(str(exc))
    return float(match.group(1)) if match else None


_QUERY = re.compile(r"\?\S*")
_SECRETISH = re.compile(r"(?i)(signature|api[-_]?key|secret|x-mbx-apikey)([\"']?\s*[:=]\s*[\"']?)[^\s\"'&,}]+")


def describe(exc: BaseException, *, limit: int = 200) -> str:
    """A log-safe one-line description: class name and message without query strings or key material.

    ccxt messages embed the request URL, whose query string of a signed call carries the signature.
    """
    text = _SECRETISH.sub(r"\1\2***", _QUERY.sub("?…", str(exc)))
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
