"""Load OHLCV bars from CSV / CSV.gz / Parquet into validated `Bars`.

pyarrow parses and numpy checks; pandas is never imported (its import alone
costs more than loading a million rows this way). pyarrow itself is imported
inside the reading functions so `bars_from_arrays` (used by engine tests and
benchmarks on synthetic data) does not pay for it.

Column names are matched case-insensitively after trimming whitespace; any
extra column is ignored. Times may be ISO text (naive = UTC), Arrow
timestamps/dates, or epoch numbers whose unit (s, ms, us, ns) is read from
their magnitude. Row numbers in error messages are file rows with the header
as row 1 (blank lines, which the CSV reader skips, are not counted).
"""

from __future__ import annotations

import csv
import datetime as _dt
import gzip
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from atb.data.bars import Bars, FloatArray, IntArray
from atb.data.resample import format_timeframe, parse_timeframe
from atb.data.validation import (
    ARRAY_INDICES,
    CSV_ROWS,
    PRICE_COLUMNS,
    TABLE_ROWS,
    BoolArray,
    Detail,
    GapReport,
    IndexArray,
    Problem,
    RowLabels,
    find_gaps,
    infer_timeframe,
    irregular_steps,
    validate_columns,
)
from atb.errors import DataValidationError, UserInputError

TIME_NAMES = ("timestamp", "datetime", "date", "time", "open_time", "ts")
VOLUME_NAMES = ("volume", "vol")
CSV_SUFFIXES = (".csv", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")

_EPOCH_UNITS = ("s", "ms", "us", "ns")
_EPOCH_SCALE = np.array([1e9, 1e6, 1e3, 1.0])
_EPOCH_LIMITS = np.array([1e11, 1e14, 1e17])  # magnitude class edges between the units above
_INT64_LIMIT = 9.2e18
_UTC_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)


@dataclass(frozen=True, slots=True)
class DataReport:
    """What loading found and did: shown to the user next to every backtest."""

    source: str
    rows_read: int
    rows_used: int
    repairs: list[str] = field(default_factory=list)
    gaps: GapReport = field(default_factory=lambda: GapReport(0, 0, 0, None, [], 0))
    warnings: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """A few lines for the CLI: rows, gaps, repairs, warnings."""
        lines = [f"{self.source}: {self.rows_read:,} rows read, {self.rows_used:,} used; {self.gaps.describe()}"]
        lines += [f"  repaired: {r}" for r in self.repairs]
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class LoadResult:
    bars: Bars
    report: DataReport


def load_ohlcv(
    path: str | Path,
    *,
    symbol: str | None = None,
    repair: bool = False,
    timeframe_ns: int | None = None,
) -> LoadResult:
    """Read, validate and (with `repair`) tidy one OHLCV file.

    `timeframe_ns` overrides the inferred timeframe (the most common step
    between bars); a single-bar file falls back to the file name ("_2h").
    Raises `UserInputError` for a missing/unsupported file and
    `DataValidationError` for content that cannot be used.
    """
    p = Path(path)
    if not p.is_file():
        raise UserInputError(f"data file not found: {p}")
    source = str(p)
    unparsed = _Unparsed()
    parsed: dict[str, FloatArray] = {}
    if _file_kind(p) == "parquet":
        table, roles = _read_parquet(p)
        labels = TABLE_ROWS
    else:
        roles = _map_columns(_csv_header(p), source)
        table, parsed, unparsed = _read_csv(p, roles)
        labels = CSV_ROWS

    def numbers(role: str) -> FloatArray:
        return parsed[role] if role in parsed else _float_column(table.column(roles[role]))

    n = table.num_rows
    if n == 0:
        raise DataValidationError(f"no data rows in {source}")
    times = _time_to_ns(table.column(roles["time"]))
    prices = {name: numbers(name) for name in PRICE_COLUMNS}
    warnings: list[str] = []
    if "volume" in roles:
        volume = numbers("volume")
    else:
        volume = np.zeros(n, dtype=np.float64)
        warnings.append("no volume column: volume set to 0 for every bar")

    bars, report = _build(
        times,
        prices,
        volume,
        unparsed=unparsed,
        symbol=symbol if symbol is not None else symbol_from_path(p),
        timeframe_ns=timeframe_ns,
        name_tf=_timeframe_from_name(p),
        repair=repair,
        labels=labels,
        source=source,
        warnings=warnings,
    )
    return LoadResult(bars, report)


def bars_from_arrays(
    ts: npt.ArrayLike,
    open: npt.ArrayLike,
    high: npt.ArrayLike,
    low: npt.ArrayLike,
    close: npt.ArrayLike,
    volume: npt.ArrayLike | None = None,
    *,
    symbol: str = "SYNTH",
    timeframe_ns: int | None = None,
    repair: bool = False,
    meta: dict[str, str] | None = None,
) -> Bars:
    """Validated `Bars` from in-memory arrays, with exactly the checks a file gets.

    `ts` is UTC epoch nanoseconds (integers) or numpy datetime64; there is no
    unit guessing here. Positions in error messages are 0-based indices.
    The arrays are copied, so later edits by the caller cannot reach the Bars.
    """
    return build_from_arrays(
        ts,
        open,
        high,
        low,
        close,
        volume,
        symbol=symbol,
        timeframe_ns=timeframe_ns,
        repair=repair,
        meta=meta,
    ).bars


def build_from_arrays(
    ts: npt.ArrayLike,
    open: npt.ArrayLike,
    high: npt.ArrayLike,
    low: npt.ArrayLike,
    close: npt.ArrayLike,
    volume: npt.ArrayLike | None = None,
    *,
    symbol: str = "SYNTH",
    timeframe_ns: int | None = None,
    repair: bool = False,
    meta: dict[str, str] | None = None,
) -> LoadResult:
    """`bars_from_arrays` that also returns the report (gaps, repairs, warnings)."""
    t = np.asarray(ts)
    if np.issubdtype(t.dtype, np.datetime64):
        t = t.astype("datetime64[ns]").view(np.int64)
    elif not np.issubdtype(t.dtype, np.integer):
        raise DataValidationError(f"ts must be integer epoch nanoseconds or datetime64, got dtype {t.dtype}")
    t = np.array(t, dtype=np.int64, copy=True)
    n = len(t)
    cols = {"open": open, "high": high, "low": low, "close": close}
    prices = {k: np.array(v, dtype=np.float64, copy=True) for k, v in cols.items()}
    vol = np.zeros(n, dtype=np.float64) if volume is None else np.array(volume, dtype=np.float64, copy=True)
    for k, v in (*prices.items(), ("volume", vol)):
        if v.shape != (n,):
            raise DataValidationError(f"column {k!r} has shape {v.shape}, ts has ({n},)")
    bars, report = _build(
        _Times(t),
        prices,
        vol,
        unparsed=_Unparsed(),
        symbol=symbol,
        timeframe_ns=timeframe_ns,
        name_tf=None,
        repair=repair,
        labels=ARRAY_INDICES,
        source="arrays",
        warnings=[],
        meta=meta,
    )
    return LoadResult(bars, report)


@dataclass(frozen=True, slots=True)
class _Times:
    """Parsed time column: `missing` rows are reported as missing; `unusable` ones already
    have a problem of their own. Both are kept out of the time-order checks."""

    ns: IntArray
    missing: BoolArray | None = None
    unusable: BoolArray | None = None
    problems: list[Problem] = field(default_factory=list)


def _build(
    times: _Times,
    prices: dict[str, FloatArray],
    volume: FloatArray,
    *,
    unparsed: _Unparsed,
    symbol: str,
    timeframe_ns: int | None,
    name_tf: int | None,
    repair: bool,
    labels: RowLabels,
    source: str,
    warnings: list[str],
    meta: dict[str, str] | None = None,
) -> tuple[Bars, DataReport]:
    """Shared tail of every loader: validate, infer the timeframe, report gaps."""
    n = len(times.ns)
    if n == 0:
        raise DataValidationError(f"no data rows in {source}")
    clean = validate_columns(
        times.ns,
        prices,
        volume,
        ts_missing=times.missing,
        ts_unusable=times.unusable,
        extra_problems=times.problems + unparsed.problems,
        reported=unparsed.cells,
        repair=repair,
        labels=labels,
        source=source,
    )
    warnings = warnings + clean.warnings
    steps = np.diff(clean.ts)
    tf = timeframe_ns
    if tf is None:
        tf = infer_timeframe(clean.ts, steps) or name_tf
        if tf and name_tf and tf != name_tf:
            warnings.append(
                f"the file name says {format_timeframe(name_tf)} but the most common step "
                f"between bars is {format_timeframe(tf)}; using {format_timeframe(tf)}"
            )
    if not tf or tf <= 0:
        raise DataValidationError(f"cannot infer the timeframe of {source} from a single bar: pass timeframe_ns")
    off_grid = irregular_steps(clean.ts, tf, steps)
    if off_grid:
        warnings.append(
            f"{off_grid} step{'s' if off_grid != 1 else ''} between bars "
            f"{'are' if off_grid != 1 else 'is'} not a whole multiple of the "
            f"{format_timeframe(tf)} timeframe"
        )
    gaps = find_gaps(clean.ts, tf, steps)
    bar_meta = dict(meta or {})
    bar_meta.setdefault("source", source)
    bars = Bars(
        symbol=symbol,
        ts=clean.ts,
        open=clean.open,
        high=clean.high,
        low=clean.low,
        close=clean.close,
        volume=clean.volume,
        timeframe_ns=tf,
        meta=bar_meta,
    )
    report = DataReport(
        source=source,
        rows_read=n,
        rows_used=len(clean.ts),
        repairs=clean.repairs,
        gaps=gaps,
        warnings=warnings,
    )
    return bars, report


# ---------------------------------------------------------------- names


_PAIR_RE = re.compile(r"^([A-Za-z0-9]+)[_\-]([A-Za-z0-9]+)(?:[_\-](\d+[A-Za-z]+))?$")
_TF_RE = re.compile(r"^\d+[A-Za-z]+$")


def _stem(path: Path) -> str:
    name = path.name
    if name.lower().endswith(".gz"):
        name = name[:-3]
    for suffix in (*CSV_SUFFIXES, *PARQUET_SUFFIXES):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem


def symbol_from_path(path: str | Path) -> str:
    """`BTC_USDT_2h.csv` -> "BTC/USDT" (also `-` separated); anything else: the stem upper-cased."""
    stem = _stem(Path(path))
    m = _PAIR_RE.match(stem)
    if m and not _TF_RE.match(m.group(2)):
        return f"{m.group(1).upper()}/{m.group(2).upper()}"
    return stem.upper()


def _timeframe_from_name(path: Path) -> int | None:
    m = _PAIR_RE.match(_stem(path))
    if m is None or m.group(3) is None:
        return None
    try:
        return parse_timeframe(m.group(3))
    except UserInputError:
        return None


def _file_kind(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(CSV_SUFFIXES) or name.endswith(tuple(s + ".gz" for s in CSV_SUFFIXES)):
        return "csv"
    raise UserInputError(f"unsupported data file {path.name!r}: use .csv, .csv.gz or .parquet")


def _map_columns(names: list[str], source: str) -> dict[str, str]:
    """Role ("time", "open", ..., "volume") -> the column's name as written in the file."""
    by_norm: dict[str, str] = {}
    for raw in names:
        norm = raw.strip().lower()
        if norm in by_norm:
            raise DataValidationError(f"{source}: columns {by_norm[norm]!r} and {raw!r} have the same name")
        by_norm[norm] = raw
    roles: dict[str, str] = {}
    for role, candidates in (
        ("time", TIME_NAMES),
        *((p, (p,)) for p in PRICE_COLUMNS),
        ("volume", VOLUME_NAMES),
    ):
        found = next((by_norm[c] for c in candidates if c in by_norm), None)
        if found is not None:
            roles[role] = found
    missing = [r for r in ("time", *PRICE_COLUMNS) if r not in roles]
    if missing:
        raise DataValidationError(
            f"{source}: missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}"
            f" (found: {', '.join(repr(n) for n in names) or 'none'}; the time column may be "
            f"called {', '.join(TIME_NAMES)})"
        )
    return roles


# ---------------------------------------------------------------- reading


def _csv_header(path: Path) -> list[str]:
    opener: Any = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8-sig", newline="") as f:
            line = f.readline()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataValidationError(f"cannot read {path}: {exc}") from exc
    if not line.strip():
        raise DataValidationError(f"{path} is empty: expected a header row")
    return next(csv.reader([line]))


def _read_csv(path: Path, roles: dict[str, str]) -> tuple[Any, dict[str, FloatArray], _Unparsed]:
    """Typed read. If a number does not parse, re-read the numeric columns as text and parse
    them in Python (error path) to name the rows; those columns come back as numpy arrays."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    numeric = [roles[r] for r in (*PRICE_COLUMNS, "volume") if r in roles]
    include = [roles["time"], *numeric]
    try:
        table = pacsv.read_csv(
            path,
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.float64() for c in numeric}, include_columns=include
            ),
        )
        return table, {}, _Unparsed()
    except pa.ArrowInvalid as exc:
        if "conversion error" not in str(exc):
            raise DataValidationError(f"cannot read {path} as CSV: {exc}") from exc
    table = pacsv.read_csv(
        path,
        convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in numeric}, include_columns=include),
    )
    unparsed = _Unparsed()
    parsed: dict[str, FloatArray] = {}
    for role in (*PRICE_COLUMNS, "volume"):
        if role in roles:
            texts = table.column(roles[role]).to_pylist()
            parsed[role], bad = _parse_floats(texts)
            if len(bad):
                unparsed.problems.append(Problem(f"non-numeric {role}", bad, _quoted(texts)))
                unparsed.cells[role] = bad
    return table, parsed, unparsed


@dataclass(frozen=True, slots=True)
class _Unparsed:
    """Numeric cells whose text is not a number: their problems, and the cells per column."""

    problems: list[Problem] = field(default_factory=list)
    cells: dict[str, IndexArray] = field(default_factory=dict)


def _quoted(texts: list[str | None]) -> Detail:
    def detail(p: int, _: RowLabels) -> str:
        return repr(texts[p])

    return detail


def _parse_floats(texts: list[str | None]) -> tuple[FloatArray, npt.NDArray[np.intp]]:
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


def _read_parquet(path: Path) -> tuple[Any, dict[str, str]]:
    """One Parquet file. `ParquetFile` rather than `read_table`: the latter goes through the
    dataset layer, which imports pandas."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        handle = pq.ParquetFile(path)
        roles = _map_columns(list(handle.schema_arrow.names), str(path))
        return handle.read(columns=list(roles.values())), roles
    except (pa.ArrowException, OSError) as exc:
        raise DataValidationError(f"cannot read {path} as Parquet: {exc}") from exc


def _numpy(col: Any, dtype: type[np.generic]) -> tuple[npt.NDArray[Any], BoolArray | None]:
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


def _float_column(col: Any) -> FloatArray:
    """Any numeric Arrow column -> float64 with NaN for nulls."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if col.type != pa.float64():
        try:
            col = pc.cast(col, pa.float64())
        except pa.ArrowException as exc:
            raise DataValidationError(f"column of type {col.type} is not numeric: {exc}") from exc
    values, nulls = _numpy(col, np.float64)
    if nulls is not None:
        values = np.where(nulls, np.nan, values)
    out: FloatArray = values
    return out


# ---------------------------------------------------------------- time


def _time_to_ns(col: Any) -> _Times:
    """Any supported time column -> UTC epoch ns (plus missing / unusable rows)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    t = col.type
    missing: BoolArray | None = None
    try:
        if pa.types.is_timestamp(t):
            ns, missing = _to_int64(pc.cast(col, pa.timestamp("ns", tz=t.tz)).cast(pa.int64()))
            return _Times(ns, missing)
        if pa.types.is_date32(t):
            days, missing = _to_int64(pc.cast(col, pa.int32()).cast(pa.int64()))
            return _Times(days * np.int64(86_400_000_000_000), missing)
        if pa.types.is_date64(t):
            ms, missing = _to_int64(pc.cast(col, pa.int64()))
            return _Times(ms * np.int64(1_000_000), missing)
    except pa.ArrowInvalid as exc:
        raise DataValidationError(f"timestamp out of range: {exc}") from exc
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        if pa.types.is_floating(t):
            values = _float_column(col)
            nan = np.isnan(values)
            return _epoch_to_ns(values, nan if nan.any() else None)
        return _epoch_to_ns(*_to_int64(pc.cast(col, pa.int64())))
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return _text_to_ns(col)
    if pa.types.is_null(t):
        n = len(col)
        return _Times(np.zeros(n, dtype=np.int64), np.ones(n, dtype=bool))
    raise DataValidationError(f"unsupported time column type {t}")


def _to_int64(arr: Any) -> tuple[IntArray, BoolArray | None]:
    """int64 Arrow column -> (values with 0 in null slots, null mask or None)."""
    values, nulls = _numpy(arr, np.int64)
    if nulls is not None:
        values = np.where(nulls, 0, values)
    return values, nulls


def _epoch_to_ns(values: npt.NDArray[Any], missing: BoolArray | None) -> _Times:
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
    return _Times(ns, missing, unusable if unusable.any() else None, problems)


def _text_to_ns(col: Any) -> _Times:
    """ISO text. Arrow parses uniform naive or uniform zoned text fast; anything mixed goes
    through Python's parser row by row (rare), which also names the rows nothing can parse."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for target in (pa.timestamp("ns"), pa.timestamp("ns", tz="UTC")):
        try:
            parsed = pc.cast(col, target)
        except pa.ArrowException:
            continue
        return _Times(*_to_int64(parsed.cast(pa.int64())))

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
        return _Times(ns, miss if miss.any() else None)
    positions = np.array(bad, dtype=np.intp)
    unusable = np.zeros(n, dtype=bool)
    unusable[positions] = True
    return _Times(
        ns,
        miss if miss.any() else None,
        unusable,
        [Problem("unparseable timestamp", positions, _quoted(texts))],
    )


__all__ = [
    "DataReport",
    "LoadResult",
    "bars_from_arrays",
    "build_from_arrays",
    "load_ohlcv",
    "symbol_from_path",
]
