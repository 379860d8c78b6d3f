"""Load OHLCV bars from CSV / CSV.gz / Parquet into validated `Bars`.

pyarrow parses and numpy checks; pandas is never imported (its import alone
costs more than loading a million rows this way). pyarrow itself is imported
inside the reading functions so `bars_from_arrays` (used by engine tests and
benchmarks on synthetic data) does not pay for it.

Column names are matched case-insensitively after trimming whitespace; any
extra column is ignored. Times may be ISO text (naive = UTC), Arrow
timestamps/dates, or epoch numbers whose unit (s, ms, us, ns) is read from
their magnitude (see `atb.data._arrow`). Row numbers in error messages are
file rows with the header as row 1 (blank lines, which the CSV reader skips,
are not counted).
"""

from __future__ import annotations

import csv
import gzip
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from atb.data._arrow import Times, float_column, parse_floats, quoted, time_to_ns
from atb.data.bars import Bars, FloatArray
from atb.data.resample import format_timeframe, parse_timeframe
from atb.data.validation import (
    ARRAY_INDICES,
    CSV_ROWS,
    PRICE_COLUMNS,
    TABLE_ROWS,
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
        return parsed[role] if role in parsed else float_column(table.column(roles[role]))

    n = table.num_rows
    if n == 0:
        raise DataValidationError(f"no data rows in {source}")
    times = time_to_ns(table.column(roles["time"]))
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
        Times(t),
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


def _build(
    times: Times,
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
    # Types are inferred from the first block only, so a bad cell further down can also hit the
    # time column: read every used column as text and let the per-column parsers name the rows.
    table = pacsv.read_csv(
        path,
        convert_options=pacsv.ConvertOptions(
            column_types={c: pa.string() for c in include}, include_columns=include, strings_can_be_null=True
        ),
    )
    unparsed = _Unparsed()
    parsed: dict[str, FloatArray] = {}
    for role in (*PRICE_COLUMNS, "volume"):
        if role in roles:
            texts = table.column(roles[role]).to_pylist()
            parsed[role], bad = parse_floats(texts)
            if len(bad):
                unparsed.problems.append(Problem(f"non-numeric {role}", bad, quoted(texts)))
                unparsed.cells[role] = bad
    return table, parsed, unparsed


@dataclass(frozen=True, slots=True)
class _Unparsed:
    """Numeric cells whose text is not a number: their problems, and the cells per column."""

    problems: list[Problem] = field(default_factory=list)
    cells: dict[str, IndexArray] = field(default_factory=dict)


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


__all__ = [
    "DataReport",
    "LoadResult",
    "bars_from_arrays",
    "build_from_arrays",
    "load_ohlcv",
    "symbol_from_path",
]
