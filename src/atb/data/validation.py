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
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from atb.data.bars import FloatArray, IntArray
from atb.data.resample import format_duration, format_timeframe
from atb.errors import DataValidationError

_T = TypeVar("_T", bound=np.generic)
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
    plural: str = "rows"

    def one(self, pos: int) -> str:
        return f"{self.word} {pos + self.base}"

    def count(self, n: int) -> str:
        return f"{n} {self.word if n == 1 else self.plural}"

    def many(self, positions: IndexArray, detail: Detail | None = None) -> str:
        """ "rows 2, 5, 9 and 3 more", with an optional detail for each listed row."""
        items = []
        for p in positions[:MAX_LISTED_ROWS].tolist():
            items.append(f"{p + self.base}" + (f" ({detail(p, self)})" if detail else ""))
        word = self.word if len(positions) == 1 else self.plural
        text = f"{word} {', '.join(items)}"
        if len(positions) > MAX_LISTED_ROWS:
            text += f" and {len(positions) - MAX_LISTED_ROWS} more"
        return text


CSV_ROWS = RowLabels(2, "row", "rows")
TABLE_ROWS = RowLabels(1, "row", "rows")
ARRAY_INDICES = RowLabels(0, "index", "indices")

Detail = Callable[[int, RowLabels], str]


@dataclass(frozen=True, slots=True)
class Problem:
    """One kind of defect and where it occurs; `repairable` ones are fixed by repair=True."""

    title: str
    positions: IndexArray
    detail: Detail | None = None
    repairable: bool = False

    def describe(self, labels: RowLabels) -> str:
        return f"{self.title}: {labels.many(self.positions, self.detail)}"


def raise_problems(problems: list[Problem], labels: RowLabels, source: str) -> None:
    """One error for every problem found: the first line is a summary, then one line each."""
    if not problems:
        return
    n_bad = len(np.unique(np.concatenate([p.positions for p in problems])))
    kinds = "; ".join(p.title for p in problems)
    lines = [f"invalid market data in {source}: problems in {labels.count(n_bad)} ({kinds})"]
    lines += [f"  - {p.describe(labels)}" for p in problems]
    if any(p.repairable for p in problems):
        lines.append(
            "  hint: repair=True (CLI: --repair) sorts rows by time and drops exact duplicate"
            " rows; it never changes a value"
        )
    raise DataValidationError("\n".join(lines))


def check_values(
    ts_missing: BoolArray | None,
    prices: dict[str, FloatArray],
    volume: FloatArray,
    reported: dict[str, IndexArray] | None = None,
) -> list[Problem]:
    """Missing/non-finite values, non-positive prices, inconsistent OHLC, negative volume.

    `reported` holds cells per column already reported by the parser (text
    that is not a number, held as NaN) so they are not reported twice.
    """
    problems: list[Problem] = []
    if ts_missing is not None and bool(ts_missing.any()):
        problems.append(Problem("missing timestamp", np.flatnonzero(ts_missing)))
    if not reported and _all_clean(prices, volume):
        return problems
    for name in (*PRICE_COLUMNS, "volume"):
        col = volume if name == "volume" else prices[name]
        bad = ~np.isfinite(col)
        if reported and name in reported:
            bad[reported[name]] = False
        if bool(bad.any()):
            problems.append(Problem(f"missing or non-finite {name}", np.flatnonzero(bad)))
    o, h, lo, c = (prices[n] for n in PRICE_COLUMNS)

    nonpos = (o <= 0) | (h <= 0) | (lo <= 0) | (c <= 0)
    if bool(nonpos.any()):

        def which(p: int, _: RowLabels) -> str:
            return ", ".join(f"{n}={prices[n][p]:g}" for n in PRICE_COLUMNS if prices[n][p] <= 0)

        problems.append(Problem("non-positive price", np.flatnonzero(nonpos), which))

    # A bar with high < low always fails one of the open/close checks too; report only the root.
    crossed = h < lo
    checks: list[tuple[str, BoolArray, Detail]] = [
        ("high below low", crossed, lambda p, _: f"high={h[p]:g}, low={lo[p]:g}"),
        (
            "high below open or close",
            (h < np.maximum(o, c)) & ~crossed,
            lambda p, _: f"high={h[p]:g}, open={o[p]:g}, close={c[p]:g}",
        ),
        (
            "low above open or close",
            (lo > np.minimum(o, c)) & ~crossed,
            lambda p, _: f"low={lo[p]:g}, open={o[p]:g}, close={c[p]:g}",
        ),
        ("negative volume", volume < 0, lambda p, _: f"volume={volume[p]:g}"),
    ]
    for title, mask, detail in checks:
        if bool(mask.any()):
            problems.append(Problem(title, np.flatnonzero(mask), detail))
    return problems


_CHUNK = 1 << 15
"""Rows checked at a time by `_all_clean`: its temporaries stay in cache."""


def _all_clean(prices: dict[str, FloatArray], volume: FloatArray) -> bool:
    """True when no row breaks a value rule, decided in cache-sized chunks.

    Usual data is clean, and this answers that in one read of each column
    instead of the dozen full-length temporaries of the checks that name the
    rows. Every row passing means: open, high, close and volume finite, low
    > 0, low <= min(open, close), high >= max(open, close) (so every price is
    positive and high >= low) and volume >= 0. NaN fails every comparison, so
    any doubt goes to the full checks.
    """
    o, h, lo, c = (prices[n] for n in PRICE_COLUMNS)
    for start in range(0, len(volume), _CHUNK):
        end = start + _CHUNK
        po, ph, pl, pc, pv = o[start:end], h[start:end], lo[start:end], c[start:end], volume[start:end]
        finite = np.isfinite(po) & np.isfinite(ph) & np.isfinite(pc) & np.isfinite(pv)
        bounded = (pl > 0) & (pl <= np.minimum(po, pc)) & (ph >= np.maximum(po, pc)) & (pv >= 0)
        if not (finite & bounded).all():
            return False
    return True


@dataclass(frozen=True, slots=True)
class OrderPlan:
    """Time-order problems plus what repair=True would do about them."""

    problems: list[Problem]
    order: IndexArray | None  # stable sort permutation; None when already in order
    drop: IndexArray  # original positions of exact duplicates to drop
    n_out_of_order: int


def check_order(ts: IntArray, valid: BoolArray | None, columns: list[FloatArray]) -> OrderPlan:
    """Out-of-order rows (earlier than the row before) and duplicate timestamps.

    Duplicates are split by whether every column matches the first row with
    that timestamp (a harmless double download: repairable) or not (two
    different bars claim one time: no safe choice, always refused).
    Rows with a missing timestamp are left out here; they are refused anyway.
    """
    keep = np.flatnonzero(valid) if valid is not None else None
    t = ts[keep] if keep is not None else ts
    problems: list[Problem] = []
    n = len(t)
    if n < 2:
        return OrderPlan(problems, None, np.zeros(0, dtype=np.intp), 0)

    def original(p: IndexArray) -> IndexArray:
        return keep[p] if keep is not None else p

    step = np.diff(t)
    descents = np.flatnonzero(step < 0) + 1
    if len(descents):
        pos, prev = original(descents), original(descents - 1)
        prev_of = dict(zip(pos[:MAX_LISTED_ROWS].tolist(), prev[:MAX_LISTED_ROWS].tolist(), strict=True))

        def earlier(p: int, labels: RowLabels) -> str:
            q = prev_of[p]
            return f"{format_ts(int(ts[p]))} is before {format_ts(int(ts[q]))} in {labels.one(q)}"

        problems.append(Problem("timestamp out of order", pos, earlier, repairable=True))
        sorted_pos: IndexArray = original(np.argsort(t, kind="stable"))
        t_sorted = ts[sorted_pos]
        same = np.flatnonzero(t_sorted[1:] == t_sorted[:-1]) + 1
        order: IndexArray | None = sorted_pos
    else:
        order = None
        same = np.flatnonzero(step == 0) + 1
        sorted_pos = original(np.arange(n, dtype=np.intp)) if len(same) else np.zeros(0, dtype=np.intp)

    drop = np.zeros(0, dtype=np.intp)
    if len(same):
        # For each duplicate, the first row of its run of equal timestamps (in sorted order).
        is_start = np.ones(n, dtype=bool)
        is_start[same] = False
        run_start = np.maximum.accumulate(np.where(is_start, np.arange(n), 0))
        dup_pos, first_pos = sorted_pos[same], sorted_pos[run_start[same]]
        exact = np.ones(len(same), dtype=bool)
        for col in columns:
            exact &= col[dup_pos] == col[first_pos]
        first_of = dict(zip(dup_pos.tolist(), first_pos.tolist(), strict=True))

        def same_time(p: int, labels: RowLabels) -> str:
            return f"{format_ts(int(ts[p]))}, same as {labels.one(first_of[p])}"

        if bool(exact.any()):
            drop = np.sort(dup_pos[exact])
            problems.append(Problem("duplicate row (same time and values)", drop, same_time, repairable=True))
        if not bool(exact.all()):
            problems.append(
                Problem(
                    "conflicting duplicate timestamp (same time, different values)",
                    np.sort(dup_pos[~exact]),
                    same_time,
                )
            )
    return OrderPlan(problems, order, drop, len(descents))


@dataclass(frozen=True, slots=True)
class Cleaned:
    """Validated columns in time order, plus what repair did and what deserves a warning."""

    ts: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray
    repairs: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def validate_columns(
    ts: IntArray,
    prices: dict[str, FloatArray],
    volume: FloatArray,
    *,
    ts_missing: BoolArray | None = None,
    ts_unusable: BoolArray | None = None,
    extra_problems: list[Problem] | None = None,
    reported: dict[str, IndexArray] | None = None,
    repair: bool = False,
    labels: RowLabels = CSV_ROWS,
    source: str = "data",
) -> Cleaned:
    """Validate raw columns (in file order) and return clean, time-ordered ones.

    Raises `DataValidationError` listing every problem unless the only
    problems are repairable and `repair` is true. Rows in `ts_missing` are
    reported as missing; rows in `ts_unusable` already carry a problem in
    `extra_problems`. Both are kept out of the time-order checks. `reported`:
    see `check_values`.
    """
    problems = list(extra_problems or [])
    problems += check_values(ts_missing, prices, volume, reported)
    columns = [prices[n] for n in PRICE_COLUMNS] + [volume]
    excluded = ts_missing
    if ts_unusable is not None:
        excluded = ts_unusable if excluded is None else (excluded | ts_unusable)
    plan = check_order(ts, None if excluded is None else ~excluded, columns)
    problems += plan.problems
    refused = [p for p in problems if not (repair and p.repairable)]
    raise_problems(refused, labels, source)

    repairs: list[str] = []
    take: IndexArray | None = None
    if plan.order is not None:
        take = plan.order
        repairs.append(f"sorted rows by time ({labels.count(plan.n_out_of_order)} out of order)")
    if len(plan.drop):
        base = take if take is not None else np.arange(len(ts), dtype=np.intp)
        dropped = np.zeros(len(ts), dtype=bool)
        dropped[plan.drop] = True
        take = base[~dropped[base]]
        repairs.append(
            f"dropped {labels.count(len(plan.drop))} that exactly duplicated an earlier row ({labels.many(plan.drop)})"
        )

    def pick(a: npt.NDArray[np.float64]) -> FloatArray:
        return freeze(a[take] if take is not None else a)

    out_ts = freeze(ts[take] if take is not None else ts)
    out_vol = pick(volume)
    warnings: list[str] = []
    zero_vol = np.flatnonzero(out_vol == 0)
    if len(zero_vol):
        warnings.append(
            f"{len(zero_vol)} bar{'s' if len(zero_vol) != 1 else ''} with zero volume "
            f"(first at {format_ts(int(out_ts[zero_vol[0]]))})"
        )
    return Cleaned(
        ts=out_ts,
        open=pick(prices["open"]),
        high=pick(prices["high"]),
        low=pick(prices["low"]),
        close=pick(prices["close"]),
        volume=out_vol,
        repairs=repairs,
        warnings=warnings,
    )


def freeze(a: npt.NDArray[_T]) -> npt.NDArray[_T]:
    """Bars is frozen; read-only columns make an accidental in-place edit fail loudly.

    Never copies: callers pass arrays they own (fresh from parsing or copied).
    """
    out = np.ascontiguousarray(a)
    out.flags.writeable = False
    return out


def infer_timeframe(ts: IntArray, steps: IntArray | None = None) -> int:
    """The most common positive step between consecutive bars (0 if there is none).

    Real data is nearly all one step, so the mode of a small evenly spaced
    sample is checked for a majority first (one O(n) comparison); only data
    without a majority step pays for a full sort.
    """
    if steps is None:
        steps = np.diff(ts)
    if len(steps) and int(steps.min()) <= 0:
        steps = steps[steps > 0]
    if len(steps) == 0:
        return 0
    sample = steps[:: max(1, len(steps) // 1000)]
    values, counts = np.unique(sample, return_counts=True)
    candidate = int(values[int(np.argmax(counts))])
    if 2 * int(np.count_nonzero(steps == candidate)) > len(steps):
        return candidate
    values, counts = np.unique(steps, return_counts=True)
    return int(values[int(np.argmax(counts))])


@dataclass(frozen=True, slots=True)
class GapReport:
    """Where bars are missing: a gap is a step between consecutive bars longer than one bar.

    `gaps` holds (open time of the last bar before, open time of the first bar
    after); `largest_ns` is that step for the largest gap and `largest_at` the
    bar before it. `missing_bars` counts whole bar slots with no bar.
    """

    count: int
    missing_bars: int
    largest_ns: int
    largest_at: int | None
    gaps: list[tuple[int, int]]
    timeframe_ns: int

    def describe(self) -> str:
        """One line, e.g. for the BTC 2h sample: "18 gaps (53 missing 2h bars); largest:
        16 bars (1d 8h) missing after 2018-02-08 00:00 UTC"."""
        if self.count == 0:
            return "no gaps"
        tf = self.timeframe_ns
        largest_missing = (self.largest_ns - 1) // tf
        return (
            f"{self.count} gap{'s' if self.count != 1 else ''} "
            f"({self.missing_bars} missing {format_timeframe(tf)} bars); "
            f"largest: {largest_missing} bar{'s' if largest_missing != 1 else ''} "
            f"({format_duration(largest_missing * tf)}) missing after "
            f"{format_ts(self.largest_at or 0)}"
        )


def find_gaps(ts: IntArray, timeframe_ns: int, steps: IntArray | None = None) -> GapReport:
    """Gap report for time-ordered `ts` (vectorised; O(n)); `steps` is `np.diff(ts)` if known."""
    empty = GapReport(0, 0, 0, None, [], timeframe_ns)
    if len(ts) < 2 or timeframe_ns <= 0:
        return empty
    if steps is None:
        steps = np.diff(ts)
    at = np.flatnonzero(steps > timeframe_ns)
    if len(at) == 0:
        return empty
    gap_steps = steps[at]
    # (step - 1) // tf counts the bar slots strictly inside a step: 3 bars long -> 2 missing
    missing = int(np.sum((gap_steps - 1) // timeframe_ns))
    biggest = int(np.argmax(gap_steps))
    return GapReport(
        count=len(at),
        missing_bars=missing,
        largest_ns=int(gap_steps[biggest]),
        largest_at=int(ts[at[biggest]]),
        gaps=list(zip(ts[at].tolist(), ts[at + 1].tolist(), strict=True)),
        timeframe_ns=timeframe_ns,
    )


def irregular_steps(ts: IntArray, timeframe_ns: int, steps: IntArray | None = None) -> int:
    """How many steps are not a whole multiple of the timeframe (bars off the time grid)."""
    if len(ts) < 2 or timeframe_ns <= 0:
        return 0
    if steps is None:
        steps = np.diff(ts)
    other = steps[steps != timeframe_ns]  # usually a handful: the modulo runs on those only
    return int(np.count_nonzero(other % timeframe_ns))
