"""Errors every layer may raise, grouped by what the caller should do about them.

`UserInputError` subclasses are a user's mistake (bad file, bad parameter):
the CLI prints their message in one line and exits with code 2, never a
traceback. Domain-level order/ledger errors live in `atb.domain.errors`.
"""

from __future__ import annotations


class AtbError(Exception):
    """Base of every ATB error."""


class UserInputError(AtbError):
    """Bad input from a person: shown as one clear line, exit code 2."""


class DataValidationError(UserInputError):
    """Market data that cannot be used as is (NaN, bad prices, duplicates, disorder)."""


class MissingExtraError(UserInputError):
    """An optional feature was used without its extra installed."""

    def __init__(self, feature: str, extra: str, module: str) -> None:
        super().__init__(f"{feature} needs the optional package {module!r}: pip install 'atb[{extra}]'")
        self.extra = extra
        self.module = module
