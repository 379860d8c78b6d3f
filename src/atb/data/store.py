"""A local Parquet store of OHLCV bars: one file per exchange, symbol and timeframe.

Layout: `root/<exchange>/<BASE_QUOTE>/<timeframe>.parquet`, with the same
columns and types as the bundled samples (`timestamp` as UTC milliseconds,
float64 prices and volume), so `load_ohlcv` reads a stored file like any
other. The symbol as the exchange spells it is kept in the file's metadata
(`atb.symbol`) because the directory name cannot hold every symbol exactly.

Every write replaces the whole file through a temporary file and a rename:
a crash or a full disk leaves the previous file intact, never half of a new
one. Merging keeps bars sorted, drops bars that are exact copies of stored
ones and refuses two different bars claiming the same time (which one is
right is not ours to guess).

Arrow arrays are built from and read into numpy through raw buffers, since
pyarrow's numpy conversions import pandas (see `atb.data._arrow`).
"""

from __future__ import annotations

import builtins
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from atb.data._arrow import float_column, time_to_ns
from atb.data.bars import Bars, FloatArray, IntArray
from atb.data.loader import LoadResult, load_ohlcv
from atb.data.resample import format_timeframe, parse_timeframe
from atb.data.validation import GapReport, find_gaps, format_ts
from atb.errors import DataValidationError, UserInputError

SUFFIX = ".parquet"
VALUE_COLUMNS = ("open", "high", "low", "close", "volume")
_NS_PER_MS = 1_000_000
_SAFE_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True, slots=True)
class DatasetInfo:
    """One stored dataset; `first`/`last` are bar open times in UTC epoch ns."""

    exchange: str
    symbol: str
    timeframe: str
    rows: int
    first: int
    last: int
    gaps: GapReport
    path: Path


@dataclass(frozen=True, slots=True)
class _Columns:
    ts: IntArray
    values: dict[str, FloatArray]

    def __len__(self) -> int:
        return len(self.ts)


class OhlcvStore:
    """Parquet OHLCV datasets under `root` (created on the first write)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    # ------------------------------------------------------------------ paths

    def path(self, exchange: str, symbol: str, timeframe: str) -> Path:
        """Where a dataset lives; refuses names that could escape the store directory."""
        parse_timeframe(timeframe)
        ex = _path_part(exchange, "exchange")
        tf = _path_part(timeframe, "timeframe")
        return self.root / ex / symbol_dir(symbol) / (tf + SUFFIX)

    # ------------------------------------------------------------------ reading

    def last_timestamp(self, exchange: str, symbol: str, timeframe: str) -> int | None:
        """Open time (UTC epoch ns) of the last stored bar, or None when nothing is stored."""
        p = self.path(exchange, symbol, timeframe)
        if not p.is_file():
            return None
        ts = _read_ts(p)
        return int(ts[-1]) if len(ts) else None

    def load(self, exchange: str, symbol: str, timeframe: str, *, repair: bool = False) -> LoadResult:
        """The stored dataset through `load_ohlcv`: the same checks and report as any file."""
        p = self.path(exchange, symbol, timeframe)
        if not p.is_file():
            raise UserInputError(f"no stored data for {symbol} {timeframe} on {exchange} (looked for {p})")
        return load_ohlcv(p, symbol=symbol, repair=repair, timeframe_ns=parse_timeframe(timeframe))

    def list(self) -> builtins.list[DatasetInfo]:
        """Every dataset in the store, sorted by exchange, symbol and timeframe."""
        out: builtins.list[DatasetInfo] = []
        if not self.root.is_dir():
            return out
        for p in sorted(self.root.glob(f"*/*/*{SUFFIX}")):
            tf_text = p.name[: -len(SUFFIX)]
            try:
                tf = parse_timeframe(tf_text)
            except UserInputError:
                continue  # not one of ours
            meta = _read_metadata(p)
            ts = _read_ts(p)
            if not len(ts):
                continue
            out.append(
                DatasetInfo(
                    exchange=p.parent.parent.name,
                    symbol=meta.get("atb.symbol", p.parent.name.replace("_", "/", 1)),
                    timeframe=tf_text,
                    rows=len(ts),
                    first=int(ts[0]),
                    last=int(ts[-1]),
                    gaps=find_gaps(ts, tf),
                    path=p,
                )
            )
        return sorted(out, key=lambda d: (d.exchange, d.symbol, parse_timeframe(d.timeframe)))

    # ------------------------------------------------------------------ writing

    def append(self, exchange: str, symbol: str, timeframe: str, bars: Bars) -> int:
        """Merge validated `bars` into the stored dataset; returns how many rows were new.

        `bars` come from `bars_from_arrays`/`load_ohlcv`, so they are already
        validated and time-ordered; their timeframe must match `timeframe`.
        """
        tf = parse_timeframe(timeframe)
        if bars.timeframe_ns != tf:
            raise UserInputError(
                f"cannot store {format_timeframe(bars.timeframe_ns)} bars as {timeframe} ({symbol} on {exchange})"
            )
        p = self.path(exchange, symbol, timeframe)
        new = _Columns(np.asarray(bars.ts, dtype=np.int64), {c: getattr(bars, c) for c in VALUE_COLUMNS})
        if len(new) == 0:
            return 0
        if p.is_file():
            merged, added = _merge(_read_columns(p), new, f"{symbol} {timeframe} on {exchange}")
        else:
            merged, added = new, len(new)
        if added:
            meta = {"atb.symbol": symbol, "atb.timeframe": timeframe, "atb.exchange": exchange}
            _write_atomic(p, merged, meta)
        return added


def symbol_dir(symbol: str) -> str:
    """`BTC/USDT` -> `BTC_USDT`; derivatives (`BTC/USDT:USDT`) -> `BTC_USDT_USDT`."""
    text = symbol.strip()
    name = re.sub(r"[/:]", "_", text)
    if not text or not _SAFE_PART.match(name):
        raise UserInputError(f"invalid symbol {symbol!r}: expected something like BTC/USDT")
    return name


def _path_part(text: str, what: str) -> str:
    if not _SAFE_PART.match(text):
        raise UserInputError(f"invalid {what} {text!r}: letters, digits, '.', '_' and '-' only")
    return text


# ---------------------------------------------------------------- merging


def _merge(old: _Columns, new: _Columns, what: str) -> tuple[_Columns, int]:
    """Sorted union; exact duplicates dropped, a different bar at a stored time refused."""
    ts = np.concatenate([old.ts, new.ts])
    # old rows first at equal times (stable sort), so a duplicate is always new-after-old
    order = np.argsort(ts, kind="stable")
    ts = ts[order]
    values = {c: np.concatenate([old.values[c], new.values[c]])[order] for c in VALUE_COLUMNS}
    dup = np.flatnonzero(ts[1:] == ts[:-1]) + 1
    if len(dup):
        same = np.ones(len(dup), dtype=bool)
        for c in VALUE_COLUMNS:
            same &= values[c][dup] == values[c][dup - 1]
        if not same.all():
            bad = dup[~same]
            first = int(bad[0])
            shown = ", ".join(format_ts(int(t)) for t in ts[bad[:5]])
            more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""

            def row(i: int) -> str:
                return " ".join(f"{c}={values[c][i]:g}" for c in VALUE_COLUMNS)

            raise DataValidationError(
                f"conflicting bars for {what}: {len(bad)} new bar{'s' if len(bad) != 1 else ''} differ "
                f"from the stored bar at the same time ({shown}{more}); e.g. stored {row(first - 1)}, "
                f"new {row(first)}"
            )
        keep = np.ones(len(ts), dtype=bool)
        keep[dup] = False
        ts = ts[keep]
        values = {c: v[keep] for c, v in values.items()}
    return _Columns(ts, values), len(ts) - len(old)


# ---------------------------------------------------------------- Parquet I/O


def _read_metadata(path: Path) -> dict[str, str]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        raw = pq.ParquetFile(path).schema_arrow.metadata or {}
    except (pa.ArrowException, OSError) as exc:
        raise DataValidationError(f"cannot read {path} as Parquet: {exc}") from exc
    return {k.decode(): v.decode() for k, v in raw.items()}


def _read_table(path: Path, columns: builtins.list[str]) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path).read(columns=columns)
    except (pa.ArrowException, OSError) as exc:
        raise DataValidationError(f"cannot read {path} as Parquet: {exc}") from exc


def _read_ts(path: Path) -> IntArray:
    times = time_to_ns(_read_table(path, ["timestamp"]).column("timestamp"))
    if times.missing is not None or times.problems:
        raise DataValidationError(f"{path}: unusable timestamps in a stored dataset")
    return times.ns


def _read_columns(path: Path) -> _Columns:
    table = _read_table(path, ["timestamp", *VALUE_COLUMNS])
    times = time_to_ns(table.column("timestamp"))
    if times.missing is not None or times.problems:
        raise DataValidationError(f"{path}: unusable timestamps in a stored dataset")
    return _Columns(times.ns, {c: float_column(table.column(c)) for c in VALUE_COLUMNS})


def _arrow_array(values: np.ndarray[Any, Any], arrow_type: Any) -> Any:
    """numpy -> Arrow through the buffer: `pa.array(ndarray)` imports pandas."""
    import pyarrow as pa

    data = np.ascontiguousarray(values)
    return pa.Array.from_buffers(arrow_type, len(data), [None, pa.py_buffer(data)])


def _to_table(cols: _Columns, meta: dict[str, str]) -> Any:
    import pyarrow as pa

    whole_ms = bool(np.all(cols.ts % _NS_PER_MS == 0))
    if whole_ms:  # the samples' type; finer times keep nanoseconds rather than being rounded
        ts = _arrow_array(cols.ts // _NS_PER_MS, pa.timestamp("ms", tz="UTC"))
    else:
        ts = _arrow_array(cols.ts, pa.timestamp("ns", tz="UTC"))
    arrays = {"timestamp": ts}
    for c in VALUE_COLUMNS:
        arrays[c] = _arrow_array(np.asarray(cols.values[c], dtype=np.float64), pa.float64())
    return pa.table(arrays).replace_schema_metadata(meta)


def _write_atomic(path: Path, cols: _Columns, meta: dict[str, str]) -> None:
    """Write to a temporary file next to `path`, flush it to disk, then rename over `path`."""
    import pyarrow.parquet as pq

    table = _to_table(cols, meta)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as f:
            pq.write_table(table, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


__all__ = ["DatasetInfo", "OhlcvStore", "symbol_dir"]
