"""Timeframe text <-> nanoseconds, and aggregation of bars to a coarser timeframe.

Buckets are aligned to UTC epoch multiples of the target timeframe (plus an
optional offset) so that the same bar always lands in the same bucket no
matter where a file starts: resampling a slice gives the same bars as slicing
the resampled whole. Buckets without input bars are left out rather than
invented; a bucket with some input bars missing is still built from the bars
that exist (and counted in `meta["incomplete_bars"]`).
"""

from __future__ import annotations

import re
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from atb.data.bars import NS_PER_SECOND, Bars
from atb.errors import UserInputError

_T = TypeVar("_T", bound=np.generic)

_UNIT_NS: dict[str, int] = {
    "s": NS_PER_SECOND,
    "m": 60 * NS_PER_SECOND,
    "h": 3_600 * NS_PER_SECOND,
    "d": 86_400 * NS_PER_SECOND,
    "w": 7 * 86_400 * NS_PER_SECOND,
}
_TIMEFRAME_RE = re.compile(r"^\s*(\d+)\s*([a-zA-Z])\s*$")


def parse_timeframe(text: str) -> int:
    """Parse "5m", "1h", "4h", "1d", "1w" (units s, m, h, d, w) into nanoseconds.

    Upper-case "M" is refused rather than guessed: it means months in some
    tools and minutes in others, and a silent wrong guess is a wrong backtest.
    """
    match = _TIMEFRAME_RE.match(text) if isinstance(text, str) else None
    hint = "expected a whole number followed by s, m, h, d or w (e.g. 5m, 1h, 4h, 1d, 1w)"
    if match is None:
        raise UserInputError(f"invalid timeframe {text!r}: {hint}")
    count, unit = int(match.group(1)), match.group(2)
    if unit == "M":
        raise UserInputError(
            f"invalid timeframe {text!r}: 'M' is ambiguous (months are not supported); use 'm' for minutes"
        )
    unit = unit.lower()
    if unit not in _UNIT_NS:
        raise UserInputError(f"invalid timeframe {text!r}: unknown unit {unit!r}; {hint}")
    if count <= 0:
        raise UserInputError(f"invalid timeframe {text!r}: must be greater than zero")
    return count * _UNIT_NS[unit]


def format_timeframe(ns: int) -> str:
    """The shortest "<n><unit>" spelling of a timeframe ("2h", "1d", "90s"); exact inverse of
    `parse_timeframe` for every value it can produce."""
    if ns > 0:
        for unit in ("w", "d", "h", "m", "s"):
            if ns % _UNIT_NS[unit] == 0:
                return f"{ns // _UNIT_NS[unit]}{unit}"
    return f"{ns}ns"


def format_duration(ns: int) -> str:
    """A human duration such as "1d 6h" or "5m 30s" for reports (weeks shown as days)."""
    if ns <= 0:
        return "0s" if ns == 0 else f"-{format_duration(-ns)}"
    parts: list[str] = []
    rest = ns
    for unit in ("d", "h", "m", "s"):
        size = _UNIT_NS[unit]
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    if rest:
        parts.append(f"{rest}ns")
    return " ".join(parts)


def resample(bars: Bars, timeframe_ns: int, *, offset_ns: int = 0) -> Bars:
    """Aggregate `bars` to `timeframe_ns` (open=first, high=max, low=min, close=last,
    volume=sum), buckets starting at `offset_ns + k * timeframe_ns` UTC.

    The target must be a whole multiple of the source timeframe: otherwise
    source bars would straddle bucket edges and their range be split by a
    guess. Weekly buckets on the plain epoch grid start on Thursday
    (1970-01-01); pass `offset_ns=4 * NS_PER_DAY` for Monday-based weeks.
    """
    source_tf = bars.timeframe_ns
    if timeframe_ns <= 0:
        raise UserInputError(f"cannot resample to a timeframe of {timeframe_ns} ns")
    if source_tf > 0 and (timeframe_ns < source_tf or timeframe_ns % source_tf != 0):
        raise UserInputError(
            f"cannot resample {format_timeframe(source_tf)} bars to "
            f"{format_timeframe(timeframe_ns)}: the target timeframe must be a whole "
            "multiple of the source timeframe"
        )
    if timeframe_ns == source_tf and offset_ns % timeframe_ns == 0:
        return bars

    n = len(bars)
    meta = dict(bars.meta)
    meta["resampled_from"] = format_timeframe(source_tf)
    if n == 0:
        meta["incomplete_bars"] = "0"
        return Bars(
            symbol=bars.symbol,
            ts=bars.ts.copy(),
            open=bars.open.copy(),
            high=bars.high.copy(),
            low=bars.low.copy(),
            close=bars.close.copy(),
            volume=bars.volume.copy(),
            timeframe_ns=timeframe_ns,
            meta=meta,
        )

    key = (bars.ts - np.int64(offset_ns)) // np.int64(timeframe_ns)
    if n > 1 and bool(np.any(key[1:] < key[:-1])):
        raise UserInputError("cannot resample bars that are not in time order")
    starts = np.flatnonzero(key[1:] != key[:-1]) + 1
    starts = np.concatenate((np.zeros(1, dtype=np.intp), starts))
    ends = np.append(starts[1:], n)
    per_bucket = timeframe_ns // source_tf if source_tf > 0 else 0
    incomplete = int(np.count_nonzero((ends - starts) < per_bucket))
    meta["incomplete_bars"] = str(incomplete)

    out = Bars(
        symbol=bars.symbol,
        ts=_readonly(key[starts] * np.int64(timeframe_ns) + np.int64(offset_ns)),
        open=_readonly(bars.open[starts]),
        high=_readonly(np.maximum.reduceat(bars.high, starts)),
        low=_readonly(np.minimum.reduceat(bars.low, starts)),
        close=_readonly(bars.close[ends - 1]),
        volume=_readonly(np.add.reduceat(bars.volume, starts)),
        timeframe_ns=timeframe_ns,
        meta=meta,
    )
    return out


def closed_index_map(bars: Bars, higher: Bars, higher_ns: int) -> npt.NDArray[np.int64]:
    """For each bar of `bars`, the last bar of `higher` that had closed by that bar's close (-1: none yet).

    Base bar i is complete at ts[i] + its timeframe, higher bar j at higher.ts[j] + `higher_ns`: this is
    what keeps an unfinished 1d bar invisible on the 1h bars inside it.
    """
    base_close = bars.ts + bars.timeframe_ns
    higher_close = higher.ts + higher_ns
    return (np.searchsorted(higher_close, base_close, side="right") - 1).astype(np.int64)


def _readonly(a: npt.NDArray[_T]) -> npt.NDArray[_T]:
    """Bars is frozen; read-only columns make an accidental in-place edit fail loudly."""
    out = np.ascontiguousarray(a)
    out.flags.writeable = False
    return out
