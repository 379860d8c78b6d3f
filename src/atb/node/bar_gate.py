"""The contract every live bar feed keeps, in one place: closed, valid, strictly increasing bars.

Both the REST feed and the streaming feed push the venue's rows through one `BarGate`, so a bar
seen by both (a stream update, then the same bar from a REST fill after a disconnect) passes once.
The validity rules are those the data loader applies to history: a live run must not accept a bar
a backtest over the same data would have refused.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from atb.data.resample import parse_timeframe
from atb.errors import UserInputError

__all__ = ["BarGate", "LiveBar", "OhlcvRow", "bar_time", "timeframe_ms", "wall_clock_ms"]

OhlcvRow = tuple[int, float, float, float, float, float]
"""(open time ms, open, high, low, close, volume) as `CcxtVenue.ohlcv` returns them."""


@dataclass(frozen=True, slots=True)
class LiveBar:
    """One closed bar; prices are float64 market data like every OHLCV array in the project."""

    symbol: str
    ts_ms: int  # open time, epoch ms
    open: float
    high: float
    low: float
    close: float
    volume: float


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


def timeframe_ms(timeframe: str) -> int:
    """The timeframe in ms; sub-second timeframes are refused (venues' bars start on whole seconds)."""
    ms = parse_timeframe(timeframe) // 1_000_000
    if ms < 1000:
        raise UserInputError(f"invalid timeframe {timeframe!r}: live bars need at least 1s")
    return ms


def bar_time(ts_ms: int) -> str:
    """A bar's open time for log lines (UTC, ISO 8601)."""
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _problem(row: Sequence[Any]) -> str | None:
    """Why a row is not a usable bar, or None; the same rules the data loader applies to history."""
    if len(row) < 6:
        return f"{len(row)} fields instead of 6"
    try:
        o, h, lo, c, v = (float(x) for x in row[1:6])
    except (TypeError, ValueError):
        return f"non-numeric values {list(row[1:6])!r}"
    if not all(math.isfinite(x) for x in (o, h, lo, c, v)):
        return f"non-finite values o={o} h={h} l={lo} c={c} v={v}"
    if min(o, h, lo, c) <= 0:
        return f"non-positive price o={o} h={h} l={lo} c={c}"
    if v < 0:
        return f"negative volume {v}"
    if h < lo:
        return f"high {h} below low {lo}"
    if h < max(o, c) or lo > min(o, c):
        return f"high/low {h}/{lo} do not contain open {o} and close {c}"
    return None


class BarGate:
    """The yield contract in one place, shared by the REST and the streaming feed.

    `cursor_ms` is the open time of the last bar handled (yielded or refused); only later bars pass,
    so overlapping pages and repeated stream updates never give a bar twice. `ready` is False until
    the feed knows where to start (`since_ms`, or the venue's latest closed bar at first contact).
    """

    def __init__(self, symbol: str, timeframe: str, cursor_ms: int | None, log: logging.Logger) -> None:
        self.symbol = symbol
        self.timeframe = timeframe
        self.tf_ms = timeframe_ms(timeframe)
        self.cursor_ms = cursor_ms
        self.ready = cursor_ms is not None
        self.behind = False  # the last `admit` found every row after the cursor closed: more may follow
        self.log = log

    def _ordered(self, rows: Iterable[Sequence[Any]]) -> list[tuple[int, Sequence[Any]]]:
        """Rows by open time (the last copy of a time wins), without the ones already handled."""
        by_ts: dict[int, Sequence[Any]] = {}
        for row in rows:
            try:
                ts = int(row[0])
            except (TypeError, ValueError, IndexError):
                self.log.warning("%s %s: row without an open time skipped: %r", self.symbol, self.timeframe, row)
                continue
            by_ts[ts] = row
        cursor = self.cursor_ms
        return sorted((ts, row) for ts, row in by_ts.items() if cursor is None or ts > cursor)

    def baseline(self, rows: Iterable[Sequence[Any]], now_ms: int) -> None:
        """Start after the latest bar already closed: bars the node fetched as history are not replayed."""
        ordered = self._ordered(rows)
        closed = [ts for i, (ts, _) in enumerate(ordered) if i + 1 < len(ordered) or ts + self.tf_ms <= now_ms]
        self.cursor_ms = closed[-1] if closed else None
        self.ready = True
        start = "the venue's first bar" if self.cursor_ms is None else f"after {bar_time(self.cursor_ms)}"
        self.log.info("%s %s live bars start %s", self.symbol, self.timeframe, start)

    def admit(self, rows: Iterable[Sequence[Any]], now_ms: int, *, by_time: bool = True) -> list[LiveBar]:
        """The closed, valid bars after the cursor, in order; moves the cursor past every closed row.

        A row is closed when a newer row came with it, or (`by_time`) its close time has passed;
        the stream passes `by_time=False` because its newest candle may still get a final update.
        """
        ordered = self._ordered(rows)
        out: list[LiveBar] = []
        self.behind = False
        for i, (ts, row) in enumerate(ordered):
            if i + 1 == len(ordered) and not (by_time and ts + self.tf_ms <= now_ms):
                break
            self._check_continuity(ts)
            self.cursor_ms = ts
            problem = _problem(row)
            if problem is not None:
                self.log.warning("%s %s bar %s skipped: %s", self.symbol, self.timeframe, bar_time(ts), problem)
                continue
            o, h, lo, c, v = (float(x) for x in row[1:6])
            out.append(LiveBar(self.symbol, ts, o, h, lo, c, v))
        self.behind = bool(ordered) and self.cursor_ms == ordered[-1][0]
        return out

    def _check_continuity(self, ts: int) -> None:
        cursor = self.cursor_ms
        if cursor is None:
            return
        step = ts - cursor
        if step % self.tf_ms:
            self.log.warning(
                "%s %s bar %s is off the %s grid (previous bar %s)",
                self.symbol, self.timeframe, bar_time(ts), self.timeframe, bar_time(cursor),
            )  # fmt: skip
        elif step > self.tf_ms:
            self.log.warning(
                "%s %s: the venue has no bars from %s to %s (%d missing); continuing with the next bar",
                self.symbol, self.timeframe, bar_time(cursor + self.tf_ms), bar_time(ts - self.tf_ms),
                step // self.tf_ms - 1,
            )  # fmt: skip
