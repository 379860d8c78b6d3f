"""Arrow columns to numpy, and time columns to UTC epoch nanoseconds.

Kept apart from the loader because it is the part that must know Arrow's
memory layout: pyarrow's own `to_numpy` imports pandas (0.4 s), more than
loading a million rows costs, so columns are read straight from their
buffers. Time columns may be Arrow timestamps/dates, ISO text (naive = UTC),
or epoch numbers whose unit is read from their magnitude.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from atb.data.bars import FloatArray, IntArray
from atb.data.validation import BoolArray, Detail, Problem, RowLabels
from atb.errors import DataValidationError

_EPOCH_UNITS = ("s", "ms", "us", "ns")
_EPOCH_SCALE = np.array([1e9, 1e6, 1e3, 1.0])
_EPOCH_LIMITS = np.array([1e11, 1e14, 1e17])  # magnitude class edges between the units above
_INT64_LIMIT = 9.2e18
_UTC_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)


@dataclass(frozen=True, slots=True)
class Times:
    """Parsed time column: `missing` rows are reported as missing; `unusable` ones already
    have a problem of their own. Both are kept out of the time-order checks."""

    ns: IntArray
    missing: BoolArray | None = None
    unusable: BoolArray | None = None
    problems: list[Problem] = field(default_factory=list)


def quoted(texts: list[str | None]) -> Detail:
    """Problem detail showing the offending cell's text as written in the file."""

    def detail(p: int, _: RowLabels) -> str:
        return repr(texts[p])

    return detail


def parse_floats(texts: list[str | None]) -> tuple[FloatArray, npt.NDArray[np.intp]]:
    """Error path only: Python float() per cell, NaN where it fails (and those positions)."""
    out = np.full(len(texts), np.nan)
    bad: list[int] = []
    for i, s in enumerate(texts):
        if s is None or s.strip() in ("", "NaN", "nan", "NA", "N/A", "null", "NULL"):
            continue
        try:
            out[i] = float(s)
        except ValueError:
            bad.append(i)
    return out, np.array(bad, dtype=np.intp)


def numpy_column(col: Any, dtype: type[np.generic]) -> tuple[npt.NDArray[Any], BoolArray | None]:
    """Arrow column of a fixed-width type matching `dtype` -> (values, null mask or None).

    Reads the Arrow buffers directly: pyarrow's own `to_numpy` imports pandas
    (0.4 s), which would cost more than the whole load. Values in null slots
    are undefined; callers overwrite them.
    """
    size = np.dtype(dtype).itemsize
    parts: list[npt.NDArray[Any]] = []
    masks: list[BoolArray] = []
    chunks = col.chunks if hasattr(col, "chunks") else [col]
    for chunk in chunks:
        n, off = len(chunk), chunk.offset
        if n == 0:
            continue
        validity, data = chunk.buffers()[:2]
        parts.append(np.frombuffer(data, dtype=dtype, count=n, offset=off * size))
        if chunk.null_count:
            bits = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little")
            masks.append(~bits[off : off + n].astype(bool))
        else:
            masks.append(np.zeros(n, dtype=bool))
    if not parts:
        return np.zeros(0, dtype=dtype), None
    values = parts[0] if len(parts) == 1 else np.concatenate(parts)
    if not col.null_count:
        return values, None
    return values, masks[0] if len(masks) == 1 else np.concatenate(masks)


def float_column(col: Any) -> FloatArray:
    """Any numeric Arrow column -> float64 with NaN for nulls."""
    import pyarrow as pa

    if col.type != pa.float64():
        import pyarrow.compute as pc  # 0.06 s to import: only for columns that need a cast

        try:
            col = pc.cast(col, pa.float64())
        except pa.ArrowException as exc:
            raise DataValidationError(f"column of type {col.type} is not numeric: {exc}") from exc
    values, nulls = numpy_column(col, np.float64)
    if nulls is not None:
        values = np.where(nulls, np.nan, values)
    out: FloatArray = values
    return out


# ---------------------------------------------------------------- time


def time_to_ns(col: Any) -> Times:
    """Any supported time column -> UTC epoch ns (plus missing / unusable rows)."""
    import pyarrow as pa

    t = col.type
    missing: BoolArray | None = None
    if pa.types.is_timestamp(t):
        return _timestamp_to_ns(col, t.unit)
    import pyarrow.compute as pc  # 0.06 s to import: not needed for the usual timestamp column

    try:
        if pa.types.is_date32(t):
            days, missing = int64_column(pc.cast(col, pa.int32()).cast(pa.int64()))
            return Times(days * np.int64(86_400_000_000_000), missing)
        if pa.types.is_date64(t):
            ms, missing = int64_column(pc.cast(col, pa.int64()))
            return Times(ms * np.int64(1_000_000), missing)
    except pa.ArrowInvalid as exc:
        raise DataValidationError(f"timestamp out of range: {exc}") from exc
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        if pa.types.is_floating(t):
            values = float_column(col)
            nan = np.isnan(values)
            return epoch_to_ns(values, nan if nan.any() else None)
        return epoch_to_ns(*int64_column(pc.cast(col, pa.int64())))
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return text_to_ns(col)
    if pa.types.is_null(t):
        n = len(col)
        return Times(np.zeros(n, dtype=np.int64), np.ones(n, dtype=bool))
    raise DataValidationError(f"unsupported time column type {t}")


_UNIT_NS = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}


def _timestamp_to_ns(col: Any, unit: str) -> Times:
    """Arrow timestamps (int64 counts of `unit` since the epoch, UTC) → ns, refusing any that overflow."""
    values, missing = int64_column(col)
    scale = _UNIT_NS[unit]
    if scale != 1 and values.size:
        limit = np.iinfo(np.int64).max // scale
        if int(values.max()) > limit or int(values.min()) < -limit:
            raise DataValidationError(f"timestamp out of range: more than {limit} {unit} from 1970")
        if values.flags.owndata:  # a fresh concatenation of the chunks: scale it where it is
            values *= np.int64(scale)
        else:  # a view of the Arrow buffer, which is not ours to change
            values = values * np.int64(scale)
    return Times(values, missing)


def int64_column(arr: Any) -> tuple[IntArray, BoolArray | None]:
    """int64 Arrow column -> (values with 0 in null slots, null mask or None)."""
    values, nulls = numpy_column(arr, np.int64)
    if nulls is not None:
        values = np.where(nulls, 0, values)
    return values, nulls


def epoch_to_ns(values: npt.NDArray[Any], missing: BoolArray | None) -> Times:
    """Epoch numbers -> ns. The unit is the most common magnitude class (s ~1e9, ms ~1e12,
    us ~1e15, ns ~1e18); rows in another class are named rather than silently scaled."""
    mag = np.abs(values.astype(np.float64))
    if missing is not None:
        mag[missing] = 0.0
    cls = np.searchsorted(_EPOCH_LIMITS, mag, side="right")
    present = cls if missing is None else cls[~missing]
    unit = int(np.argmax(np.bincount(present, minlength=4))) if len(present) else 0
    scale = float(_EPOCH_SCALE[unit])
    problems: list[Problem] = []
    odd = cls != unit
    if missing is not None:
        odd &= ~missing
    too_big = mag * scale > _INT64_LIMIT
    if odd.any():
        problems.append(
            Problem(
                f"epoch timestamp in a different unit from the rest ({_EPOCH_UNITS[unit]})",
                np.flatnonzero(odd),
            )
        )
    elif too_big.any():
        problems.append(Problem("timestamp out of range", np.flatnonzero(too_big)))
    unusable = odd | too_big
    safe = np.where(unusable | np.isnan(mag), 0, values)
    if np.issubdtype(safe.dtype, np.integer):
        ns = safe.astype(np.int64) * np.int64(int(scale))
    else:
        ns = np.rint(safe * scale).astype(np.int64)
    return Times(ns, missing, unusable if unusable.any() else None, problems)


def text_to_ns(col: Any) -> Times:
    """ISO text (or epoch numbers as text). Arrow parses uniform naive or uniform zoned text
    fast; anything mixed goes through Python's parser row by row (rare), which also names the
    rows nothing can parse."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for target in (pa.timestamp("ns"), pa.timestamp("ns", tz="UTC")):
        try:
            parsed = pc.cast(col, target)
        except pa.ArrowException:
            continue
        return Times(*int64_column(parsed.cast(pa.int64())))
    for number in (pa.int64(), pa.float64()):  # epoch numbers read as text (see `atb.data.loader`)
        try:
            values = pc.cast(col, number)
        except pa.ArrowException:
            continue
        return time_to_ns(values)

    texts = col.to_pylist()
    n = len(texts)
    ns = np.zeros(n, dtype=np.int64)
    miss = np.zeros(n, dtype=bool)
    bad: list[int] = []
    for i, s in enumerate(texts):
        if s is None or not s.strip():
            miss[i] = True
            continue
        try:
            when = _dt.datetime.fromisoformat(s.strip())
        except ValueError:
            bad.append(i)
            continue
        if when.tzinfo is None:
            when = when.replace(tzinfo=_dt.UTC)
        ns[i] = (when - _UTC_EPOCH) // _dt.timedelta(microseconds=1) * 1000
    if not bad:
        return Times(ns, miss if miss.any() else None)
    positions = np.array(bad, dtype=np.intp)
    unusable = np.zeros(n, dtype=bool)
    unusable[positions] = True
    return Times(
        ns,
        miss if miss.any() else None,
        unusable,
        [Problem("unparseable timestamp", positions, quoted(texts))],
    )
