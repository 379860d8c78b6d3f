"""Exact decimal strings from scaled integers, without building Decimal objects.

The result JSON of a long backtest holds tens of thousands of prices and
amounts; formatting them from integers is exact and about ten times faster
than going through `Decimal` and `quantize`.
"""

from __future__ import annotations

from decimal import Decimal


def scaled_str(value: int, decimals: int) -> str:
    """`value × 10^-decimals` as a plain decimal string, trailing zeros trimmed (1234500, 4 → "123.45")."""
    if decimals <= 0:
        return str(value * 10 ** (-decimals))
    sign = "-" if value < 0 else ""
    digits = str(abs(value)).rjust(decimals + 1, "0")
    whole, frac = digits[:-decimals], digits[-decimals:].rstrip("0")
    return f"{sign}{whole}.{frac}" if frac else f"{sign}{whole}"


def div_round_half_even(num: int, den: int) -> int:
    """num / den rounded half-to-even, exact for integers of any size (den > 0)."""
    q, r = divmod(num, den)
    twice = 2 * r
    if twice > den or (twice == den and q % 2 == 1):
        q += 1
    return q


class Grid:
    """An instrument step (tick or lot) as integer × 10^-decimals, for fast exact formatting."""

    __slots__ = ("_p", "decimals", "step_int")

    def __init__(self, step: Decimal) -> None:
        exponent = step.normalize().as_tuple().exponent
        assert isinstance(exponent, int)
        self.decimals = max(0, -exponent)
        self.step_int = int(step.scaleb(self.decimals))
        self._p = 10**self.decimals

    def format(self, units: int) -> str:
        """`units` steps as a decimal string with the step's decimals ("0.01" grid: 12 → "0.12")."""
        value = units * self.step_int
        if not self.decimals:
            return str(value)
        q, r = divmod(abs(value), self._p)
        return f"{'-' if value < 0 else ''}{q}.{r:0{self.decimals}d}"


def scaled_strs(values: list[int], decimals: int) -> list[str]:
    """Many `value × 10^-decimals` strings with exactly `decimals` digits after the point.

    Fixed decimals (the grid's precision) rather than trimmed zeros: the digits
    say how precise the number is, and the formatting runs as one list
    comprehension over integer pairs, a few hundred ns per value.
    """
    if decimals <= 0:
        mult = 10 ** (-decimals)
        return [str(v * mult) for v in values]
    p = 10**decimals
    pattern = f"%d.%0{decimals}d"  # %-formatting of a divmod pair: the cheapest exact way found (~0.25 µs)
    split = divmod
    return [pattern % split(v, p) if v >= 0 else "-" + pattern % split(-v, p) for v in values]


def scaled_strs_or_none(values: list[int | None], decimals: int, step: int = 1) -> list[str | None]:
    """`scaled_strs` of value × `step`, None where the value is None, in one pass (order columns are mostly one or
    the other: market orders have no limit price, unfilled ones no fill price)."""
    if decimals <= 0:
        mult = step * 10 ** (-decimals)
        return [None if v is None else str(v * mult) for v in values]
    p = 10**decimals
    pattern = f"%d.%0{decimals}d"
    split = divmod
    return [
        None if v is None else pattern % split(v * step, p) if v >= 0 else "-" + pattern % split(-v * step, p)
        for v in values
    ]


def fixed_str(value: int, decimals: int) -> str:
    return scaled_strs([value], decimals)[0]
