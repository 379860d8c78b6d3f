"""Domain errors, each carrying a reason code and the remedy a caller should take.

The remedy tells an automated caller what to do without parsing messages:
`FIX` (the request is wrong: change it), `SKIP` (drop this action, carry on),
`RETRY` (try again later), `HALT` (stop and call a human).
"""

from __future__ import annotations

from enum import StrEnum


class Remedy(StrEnum):
    FIX = "fix"
    SKIP = "skip"
    RETRY = "retry"
    HALT = "halt"


class DomainError(Exception):
    """Base of every domain error: `reason` is a stable machine-readable code."""

    reason: str = "domain_error"
    remedy: Remedy = Remedy.FIX

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason


class InvalidValueError(DomainError, ValueError):
    """A price, quantity or amount that breaks an instrument rule (tick, lot, minimum)."""

    reason = "invalid_value"


class InvalidOrderError(DomainError, ValueError):
    """An order that can never be valid as written (no size, limit without price ...)."""

    reason = "invalid_order"


class InvalidTransitionError(DomainError):
    """An order event that its current status does not admit; it is never applied."""

    reason = "invalid_transition"
    remedy = Remedy.HALT


class InsufficientFundsError(DomainError):
    """Not enough cash or holdings for what a fill or order needs."""

    reason = "insufficient_funds"
    remedy = Remedy.SKIP


class CurrencyMismatchError(DomainError, TypeError):
    """Arithmetic between two different currencies."""

    reason = "currency_mismatch"
