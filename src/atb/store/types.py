"""Column types that keep money exact on every backend.

`ExactDecimal` is ``NUMERIC(38, 18)`` on PostgreSQL. SQLite has no decimal
type: a ``NUMERIC`` column there turns ``'0.3'`` into the binary float 0.3
(type affinity), so on SQLite the same column is fixed-point text with
exactly 18 decimals. Reading gives the same `Decimal` on both backends. The
price on SQLite: SQL arithmetic and ordering on these columns are not
numeric there; aggregate money in Python (or on PostgreSQL).

Writing never rounds: a value with more than 18 decimals or more than 20
integer digits is refused, and so is a float.
"""

from __future__ import annotations

from decimal import Context, Decimal, Inexact, InvalidOperation, Overflow
from typing import Any

from sqlalchemy import JSON, Numeric, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

PRECISION = 38
SCALE = 18
_QUANTUM = Decimal(1).scaleb(-SCALE)
_LIMIT = Decimal(10) ** (PRECISION - SCALE)
EXACT = Context(prec=2 * PRECISION, traps=[Inexact, InvalidOperation, Overflow])
"""Arithmetic that raises instead of rounding (the global context may be 28 digits, or lowered)."""


def exact(value: Decimal | int) -> Decimal:
    """`value` on the 18-decimal grid, or `ValueError` if that would lose a digit."""
    if isinstance(value, bool) or not isinstance(value, (Decimal, int)):
        raise TypeError(f"money columns take Decimal or int, not {type(value).__name__}")
    d = Decimal(value)
    if not d.is_finite():
        raise ValueError(f"cannot store {d}: not finite")
    if d.copy_abs() >= _LIMIT:  # copy_abs: abs() would round to the context precision
        raise ValueError(f"cannot store {d}: more than {PRECISION - SCALE} integer digits")
    try:
        return EXACT.quantize(d, _QUANTUM)
    except Inexact:
        raise ValueError(f"cannot store {d} exactly: more than {SCALE} decimals") from None


class ExactDecimal(TypeDecorator[Decimal]):
    """NUMERIC(38, 18) on PostgreSQL, 18-decimal fixed-point text on SQLite; never a float."""

    impl = Numeric(PRECISION, SCALE)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(PRECISION + 3))  # sign, point, one spare
        return dialect.type_descriptor(Numeric(PRECISION, SCALE, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        d = exact(value)
        return format(d, "f") if dialect.name == "sqlite" else d

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if isinstance(value, float):  # only if someone wrote a float behind our back
            raise TypeError("a money column held a float; refusing to guess its exact value")
        return Decimal(value)

    @property
    def python_type(self) -> type[Decimal]:
        return Decimal


JSONType = JSON().with_variant(JSONB(), "postgresql")
"""JSON on SQLite, JSONB on PostgreSQL."""
