"""Checks that decide whether OHLCV columns can be used, and the gap report.

Everything is vectorised numpy so validating a million rows costs a few
milliseconds: the checks run on every load, never behind a flag. Problems are
collected, not raised one at a time, so a user fixes a file in one pass; each
problem names the offending rows the way the user sees them (file row numbers,
header = row 1).

`repair` only ever reorders rows or drops rows that are exact copies of
another row: it never invents or edits a value. Anything else (NaN, a bad
price, two different bars claiming the same time) is refused.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from atb.data.bars import FloatArray, IntArray
from atb.data.resample import format_duration, format_timeframe
from atb.errors import DataValidationError

BoolArray = npt.NDArray[np.bool_]
IndexArray = npt.NDArray[np.intp]

MAX_LISTED_ROWS = 5
PRICE_COLUMNS = ("open", "high", "low", "close")


def format_ts(ns: int) -> str:
    """UTC time for messages: minutes always, seconds only when not zero."""
    seconds, rest = divmod(int(ns), 1_000_000_000)
    when = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC) + _dt.timedelta(seconds=seconds)
    text = when.strftime("%Y-%m-%d %H:%M")
    if when.second or rest:
        text += f":{when.second:02d}" + (f".{rest:09d}".rstrip("0") if rest else "")
    return text + " UTC"


@dataclass(frozen=True, slots=True)
class RowLabels:
    """How positions are shown to a person: CSV file rows start at 2 (header is row 1)."""

    base: int = 2
    word: str = "row"

    def one(self, pos: int) -> str:
        return f"{self.word} {pos + self.base}"

    def many(self, positions: IndexArray, detail: Callable[[int], str] | None = None) -> str:
        """ "rows 2, 5, 9 and 3 more" (with an optional per-row detail for the listed ones)."""
        shown = [int(p) for p in positions[:MAX_LISTED_ROWS]]
        items = [
            f"{p + self.base}" + (f" ({detail(p)})" if detail is not None else "") for p in shown
        ]
        plural = self.word + ("s" if len(positions) > 1 else "")
        if self.word == "index" and len(positions) > 1:
            plural = "indices"
        text = f"{plural} {', '.join(items)}"
        if len(positions) > MAX_LISTED_ROWS:
            text += f" and {len(positions) - MAX_LISTED_ROWS} more"
        return text


@dataclass(frozen=True, slots=True)
class Problem:
    """One kind of defect and where it occurs; `repairable` ones are fixed by repair=True."""

    title: str
    positions: IndexArray
    detail: Callable[[int], str] | None = None
    repairable: bool = False

    def describe(self, labels: RowLabels) -> str:
        return f"{self.title}: {labels.many(self.positions, self.detail)}"


def raise_problems(problems: list[Problem], labels: RowLabels, source: str) -> None:
    """One error for every problem found: the first line is a summary, then one line each."""
    if not problems:
        return
    n_rows = len(np.unique(np.concatenate([p.positions for p in problems])))
    kinds = ", ".join(p.title for p in problems)
    word = labels.word if n_rows == 1 else ("indices" if labels.word == "index" else "rows")
    lines = [f"invalid market data in {source}: {n_rows} bad {word} ({kinds})"]
    lines += [f"  - {p.describe(labels)}" for p in problems]
    if any(p.repairable for p in problems):
        lines.append(
            "  hint: repair=True (CLI: --repair) sorts rows by time and drops exact duplicate"
            " rows; it never changes values"
        )
    raise DataValidationError("\n".join(lines))


@dataclass(frozen=True, slots=True)
class Cleaned:
    """Validated columns plus what repair did and what deserves a warning."""

    ts: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray
    repairs: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def check_values(
    ts_missing: BoolArray | None,
    prices: dict[str, FloatArray],
    volume: FloatArray,
) -> list[Problem]:
    """Missing/non-finite values, non-positive prices, inconsistent OHLC, negative volume."""
    problems: list[Problem] = []
    if ts_missing is not None and bool(ts_missing.any()):
        problems.append(Problem("missing timestamp", np.flatnonzero(ts_missing)))
    for name in (*PRICE_COLUMNS, "volume"):
        col = prices[name] if name != "volume" else volume
        bad = ~np.isfinite(col)
        if bool(bad.any()):
            problems.append(Problem(f"missing or non-finite {name}", np.flatnonzero(bad)))
    o, h, lo, c = (prices[n] for n in PRICE_COLUMNS)

    nonpos = (o <= 0) | (h <= 0) | (lo <= 0) | (c <= 0)
    if bool(nonpos.any()):

        def which(p: int) -> str:
            return ", ".join(f"{n}={prices[n][p]:g}" for n in PRICE_COLUMNS if prices[n][p] <= 0)

        problems.append(Problem("non-positive price", np.flatnonzero(nonpos), which))

    hl = h < lo
    if bool(hl.any()):
        problems.append(
            Problem(
                "high below low",
                np.flatnonzero(hl),
                lambda p: f"high={h[p]:g} < low={lo[p]:g}",
            )
        )
    h_bad = h < np.maximum(o, c)
    if bool(h_bad.any()):
        problems.append(
            Problem(
                "high below open or close",
                np.flatnonzero(h_bad),
                lambda p: f"high={h[p]:g}, open={o[p]:g}, close={c[p]:g}",
            )
        )
    l_bad = lo > np.minimum(o, c)
    if bool(l_bad.any()):
        problems.append(
            Problem(
                "low above open or close",
                np.flatnonzero(l_bad),
                lambda p: f"low={lo[p]:g}, open={o[p]:g}, close={c[p]:g}",
            )
        )
    neg_vol = volume < 0
    if bool(neg_vol.any()):
        problems.append(
            Problem("negative volume", np.flatnonzero(neg_vol), lambda p: f"volume={volume[p]:g}")
        )
    return problems


@dataclass(frozen=True, slots=True)
class _Order:
    """Result of the time-order analysis: problems plus the repair plan."""

    problems: list[Problem]
    order: IndexArray | None  # stable sort permutation, None when already ordered
    drop_sorted: IndexArray  # positions (in sorted order) of exact duplicates to drop
    n_out_of_order: int


def check_order(ts: IntArray, valid: BoolArray | None, columns: list[FloatArray]) -> _Order:
    """Out-of-order rows (earlier than the previous row) and duplicate timestamps.

    Duplicates are split by whether every column matches the first row with
    that timestamp (a harmless double download, repairable) or not (two
    different bars claim one time: no safe choice, always refused).
    """
    idx = np.flatnonzero(valid) if valid is not None else None
    t = ts[idx] if idx is not None else ts

    def original(p: IndexArray) -> IndexArray:
        return idx[p] if idx is not None else p

    problems: list[Problem] = []
    n = len(t)
    if n < 2:
        return _Order(problems, None, np.zeros(0, dtype=np.intp), 0)
    step = np.diff(t)
    descents = np.flatnonzero(step < 0) + 1
    order: IndexArray | None = None
    if len(descents):
        pos = original(descents)
        prev = original(descents - 1)
        lookup = dict(zip(pos[:MAX_LISTED_ROWS].tolist(), prev[:MAX_LISTED_ROWS].tolist(), strict=True))
        problems.append(
            Problem(
                "timestamp out of order (earlier than the row before)",
                pos,
                lambda p: f"{format_ts(ts[p])} after {format_ts(ts[lookup[p]])}",
                repairable=True,
            )
        )
        order = np.argsort(t, kind="stable").astype(np.intp)
        t_sorted = t[order]
        same = np.flatnonzero(t_sorted[1:] == t_sorted[:-1]) + 1
    else:
        same = np.flatnonzero(step == 0) + 1
        t_sorted = t

    drop = np.zeros(0, dtype=np.intp)
    if len(same):
        # first row of each run of equal timestamps, for every duplicate position
        run_start = np.zeros(n, dtype=np.intp)
        is_start = np.ones(n, dtype=bool)
        is_start[same] = False
        run_start[is_start] = np.flatnonzero(is_start)
        run_start = np.maximum.accumulate(run_start)
        first = run_start[same]
        to_orig = (lambda p: original(order[p])) if order is not None else original
        dup_pos, first_pos = to_orig(same), to_orig(first)
        exact = np.ones(len(same), dtype=bool)
        for col in columns:
            exact &= col[dup_pos] == col[first_pos]
        first_of = dict(zip(dup_pos.tolist(), first_pos.tolist(), strict=True))

        def same_as(p: int) -> str:
            return f"{format_ts(ts[p])}, same time as {first_of[p] + _label_base_hint}"

        if bool(exact.any()):
            problems.append(
                Problem(
                    "duplicate row (same timestamp and values)",
                    np.sort(dup_pos[exact]),
                    None,
                    repairable=True,
                )
            )
            drop = same[exact]
        if not bool(exact.all()):
            conflicting = ~exact
            problems.append(
                Problem(
                    "conflicting duplicate timestamp (same time, different values)",
                    np.sort(dup_pos[conflicting]),
                    None,
                )
            )
        del same_as
    return _Order(problems, order, drop, len(descents))


_label_base_hint = 0
