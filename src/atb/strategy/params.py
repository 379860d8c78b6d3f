"""Typed strategy parameters declared as class attributes.

    class SmaCross(Strategy):
        fast = Param(10, ge=2, le=500, doc="fast SMA length in bars")

A parameter knows its type (from the default), bounds and choices, so the
CLI can parse `-p fast=12`, the optimiser can read a search range, and a
misspelt name fails with a "did you mean" hint instead of being ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast, overload

from atb.errors import UserInputError

T = TypeVar("T")

_TRUE = {"1", "true", "yes", "on", "y"}
_FALSE = {"0", "false", "no", "off", "n"}


class ParameterError(UserInputError):
    """A strategy parameter that is unknown, of the wrong type or out of range."""


@dataclass(frozen=True, slots=True)
class ParamSpec:
    name: str
    type: type
    default: Any
    ge: float | None
    le: float | None
    choices: tuple[Any, ...] | None
    doc: str

    def describe(self) -> str:
        bits = [f"{self.type.__name__} = {self.default!r}"]
        if self.ge is not None or self.le is not None:
            bits.append(f"range [{'' if self.ge is None else self.ge}, {'' if self.le is None else self.le}]")
        if self.choices:
            bits.append("one of " + ", ".join(map(str, self.choices)))
        return "; ".join(bits)


class Param(Generic[T]):
    """A strategy parameter with a default, optional bounds/choices and a description."""

    def __init__(
        self,
        default: T,
        *,
        ge: float | None = None,
        le: float | None = None,
        choices: tuple[T, ...] | None = None,
        doc: str = "",
    ) -> None:
        if not isinstance(default, (int, float, bool, str)):
            raise TypeError("Param default must be int, float, bool or str")
        self.default: T = default
        self.type: type = type(default)
        self.ge = ge
        self.le = le
        self.choices: tuple[T, ...] | None = choices
        self.doc = doc
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type) -> Param[T]: ...
    @overload
    def __get__(self, obj: object, owner: type) -> T: ...
    def __get__(self, obj: object | None, owner: type) -> Param[T] | T:
        # A non-data descriptor: `Strategy.__init__` stores every validated value in the
        # instance dict, which then shadows this, so reading `self.fast` in `on_bar` is a
        # plain attribute load.
        if obj is None:
            return self
        return self.default

    @property
    def spec(self) -> ParamSpec:
        return ParamSpec(self.name, self.type, self.default, self.ge, self.le, self.choices, self.doc)

    def parse(self, text: str) -> T:
        """Convert a command-line string to the parameter's type, then validate it."""
        raw = text.strip()
        value: Any
        try:
            if self.type is bool:
                low = raw.lower()
                if low not in _TRUE | _FALSE:
                    raise ValueError
                value = low in _TRUE
            elif self.type is int:
                value = int(raw)
            elif self.type is float:
                value = float(raw)
            else:
                value = raw
        except ValueError:
            raise ParameterError(f"parameter {self.name!r} expects {self.type.__name__}, got {text!r}") from None
        return self.validate(value)

    def validate(self, value: Any) -> T:
        expected = self.type
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if type(value) is not expected:
            raise ParameterError(
                f"parameter {self.name!r} expects {expected.__name__}, got {type(value).__name__} {value!r}"
            )
        if expected is float and value != value:
            raise ParameterError(f"parameter {self.name!r} must not be NaN")
        number: Any = value  # bounds apply to int/float parameters only
        if self.ge is not None and number < self.ge:
            raise ParameterError(f"parameter {self.name!r} must be >= {self.ge}, got {value}")
        if self.le is not None and number > self.le:
            raise ParameterError(f"parameter {self.name!r} must be <= {self.le}, got {value}")
        if self.choices is not None and value not in self.choices:
            raise ParameterError(f"parameter {self.name!r} must be one of {list(self.choices)}, got {value!r}")
        return cast(T, value)


def params_of(cls: type) -> dict[str, Param[Any]]:
    """All parameters of a strategy class, base classes first, in declaration order."""
    found: dict[str, Param[Any]] = {}
    for klass in reversed(cls.__mro__):
        for name, value in vars(klass).items():
            if isinstance(value, Param):
                found[name] = value
    return found


def unknown_parameter(cls: type, name: str) -> ParameterError:
    known = list(params_of(cls))
    import difflib  # only for a mistake: not worth importing on every run

    hint = difflib.get_close_matches(name, known, n=1)
    extra = f"; did you mean {hint[0]!r}?" if hint else ""
    listing = ", ".join(known) or "none"
    return ParameterError(f"{cls.__name__} has no parameter {name!r}{extra} (parameters: {listing})")
