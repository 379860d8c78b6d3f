"""Download OHLCV bars from an exchange through ccxt into an `OhlcvStore`.

Paging goes forward from the store's last bar (or `since`), so running the
same download again asks the exchange for nothing old and adds nothing. Only
closed bars are kept: the bar still forming at "now" (the exchange client's
clock) would be stored with values that later change, and the next run would
then meet it as a conflicting duplicate. Every page passes the loader's
checks before it is stored; gaps are reported, never filled.

Retrying transient network errors is the caller's job (`atb.venues` wraps
this with its retry policy); nothing here swallows an exchange error.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from atb.data.bars import Bars
from atb.data.loader import build_from_arrays
from atb.data.resample import parse_timeframe
from atb.data.store import OhlcvStore
from atb.data.validation import GapReport, find_gaps, format_ts
from atb.errors import MissingExtraError, UserInputError

Progress = Callable[[str, int, int], None]
"""progress(symbol, done_ms, total_ms): how much of the symbol's time window is fetched."""

_NS_PER_MS = 1_000_000
FLUSH_ROWS = 200_000
"""Pages are stored in batches of about this many rows: each store write rewrites the file."""


@dataclass(frozen=True, slots=True)
class DownloadResult:
    """What one symbol's download did. `first`/`last` are open times (UTC epoch ns) of the
    added bars (None when nothing was added); `gaps` covers the added bars and the step from
    the previously stored last bar to the first added one."""

    symbol: str
    rows_added: int
    first: int | None
    last: int | None
    gaps: GapReport
    requests: int


def download(
    client: Any,
    store: OhlcvStore,
    exchange_id: str,
    symbols: Sequence[str],
    timeframe: str,
    since_ms: int,
    until_ms: int | None = None,
    *,
    limit: int = 1000,
    progress: Progress | None = None,
) -> list[DownloadResult]:
    """Fetch closed `timeframe` bars with open time in [since_ms, until_ms) (until: now).

    `client` is a ccxt exchange instance. Symbols and the timeframe are
    checked against the exchange's markets first, so a typo fails before
    anything is fetched. Bars already stored are not fetched again: each
    symbol resumes at its last stored bar + one timeframe. Backfilling before
    the first stored bar is not done.
    """
    try:
        ccxt = importlib.import_module("ccxt")  # untyped package: the client is `Any` anyway
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise MissingExtraError("market data download", "live", "ccxt") from exc

    tf_ns = parse_timeframe(timeframe)
    tf_ms = tf_ns // _NS_PER_MS
    if tf_ms <= 0 or tf_ns % _NS_PER_MS:
        raise UserInputError(f"timeframe {timeframe!r} is too short to download")
    if limit < 1:
        raise UserInputError(f"limit must be at least 1, got {limit}")
    if until_ms is not None and until_ms <= since_ms:
        raise UserInputError(f"the end of the download ({until_ms}) must be after its start ({since_ms})")
    if not symbols:
        raise UserInputError("no symbols to download")
    _check_request(client, exchange_id, symbols, timeframe)
    for symbol in symbols:
        store.path(exchange_id, symbol, timeframe)  # refuses names unusable as paths before any fetch

    results = []
    for symbol in symbols:
        job = _Job(client, store, exchange_id, symbol, timeframe, tf_ms, limit, progress, ccxt.BadSymbol)
        results.append(job.run(since_ms, until_ms))
    return results


def _check_request(client: Any, exchange_id: str, symbols: Sequence[str], timeframe: str) -> None:
    markets = client.load_markets()
    unknown = [s for s in symbols if s not in markets]
    if unknown:
        hints = []
        for s in unknown:
            close = difflib.get_close_matches(s, list(markets), n=3)
            hints.append(f"{s!r}" + (f" (did you mean {', '.join(close)}?)" if close else ""))
        raise UserInputError(f"unknown symbol{'s' if len(unknown) > 1 else ''} on {exchange_id}: {', '.join(hints)}")
    offered = getattr(client, "timeframes", None) or {}
    if offered and timeframe not in offered:
        raise UserInputError(f"{exchange_id} does not offer the {timeframe} timeframe; it offers {', '.join(offered)}")
    if not client.has.get("fetchOHLCV"):
        raise UserInputError(f"{exchange_id} does not provide OHLCV data through ccxt")


class _Job:
    """One symbol's download: page forward, validate, buffer, store."""

    def __init__(
        self,
        client: Any,
        store: OhlcvStore,
        exchange_id: str,
        symbol: str,
        timeframe: str,
        tf_ms: int,
        limit: int,
        progress: Progress | None,
        bad_symbol: type[Exception],
    ) -> None:
        self.client, self.store, self.exchange_id = client, store, exchange_id
        self.symbol, self.timeframe, self.tf_ms = symbol, timeframe, tf_ms
        self.limit, self.progress, self.bad_symbol = limit, progress, bad_symbol
        self.pending: list[Bars] = []
        self.pending_rows = 0
        self.added_ts: list[np.ndarray[Any, np.dtype[np.int64]]] = []
        self.rows_added = 0
        self.requests = 0

    def run(self, since_ms: int, until_ms: int | None) -> DownloadResult:
        stored_last = self.store.last_timestamp(self.exchange_id, self.symbol, self.timeframe)
        start = since_ms
        if stored_last is not None:
            start = max(start, stored_last // _NS_PER_MS + self.tf_ms)
        now = int(self.client.milliseconds())
        end = now if until_ms is None else min(until_ms, now)  # bar open times stay below `end`
        total = max(0, end - start)
        try:
            self._fetch(start, end, now, total)
        finally:
            self._flush()  # keep what was fetched and validated, even when a later page fails
        return self._result(stored_last)

    def _fetch(self, start: int, end: int, now: int, total: int) -> None:
        since = start
        while since < end and since + self.tf_ms <= now:
            page = self._page(since)
            self.requests += 1
            opens = np.array([int(row[0]) for row in page], dtype=np.int64)
            newer = opens >= since
            if not newer.any():
                break
            # closed bars inside the window only; anything past it ends the download
            keep = newer & (opens < end) & (opens + self.tf_ms <= now)
            rows = [row for row, k in zip(page, keep.tolist(), strict=True) if k]
            if rows:
                bars = self._validate(rows)
                self.pending.append(bars)
                self.pending_rows += len(bars)
                since = int(bars.ts[-1]) // _NS_PER_MS + self.tf_ms
                if self.pending_rows >= FLUSH_ROWS:
                    self._flush()
            if self.progress is not None:
                self.progress(self.symbol, min(since, end) - start, total)
            if not rows or not keep[newer].all():
                break
        if self.progress is not None:
            self.progress(self.symbol, total, total)

    def _page(self, since: int) -> list[list[Any]]:
        try:
            page = self.client.fetch_ohlcv(self.symbol, self.timeframe, since, self.limit)
        except self.bad_symbol as exc:
            raise UserInputError(f"{self.exchange_id} refused the symbol {self.symbol!r}: {exc}") from exc
        return list(page or [])

    def _validate(self, rows: list[list[Any]]) -> Bars:
        """The loader's checks on one page (NaN, bad prices, OHLC consistency, order, duplicates)."""

        def column(i: int) -> np.ndarray[Any, np.dtype[np.float64]]:
            return np.array([np.nan if r[i] is None else float(r[i]) for r in rows], dtype=np.float64)

        ts = np.array([int(r[0]) for r in rows], dtype=np.int64) * _NS_PER_MS
        source = f"{self.exchange_id} {self.symbol} {self.timeframe} page from {format_ts(int(ts[0]))}"
        return build_from_arrays(
            ts,
            column(1),
            column(2),
            column(3),
            column(4),
            column(5),
            symbol=self.symbol,
            timeframe_ns=self.tf_ms * _NS_PER_MS,
            meta={"source": source},
        ).bars

    def _flush(self) -> None:
        if not self.pending:
            return
        batch = self.pending
        self.pending, self.pending_rows = [], 0
        bars = batch[0] if len(batch) == 1 else _concat(batch)
        added = self.store.append(self.exchange_id, self.symbol, self.timeframe, bars)
        self.rows_added += added
        self.added_ts.append(bars.ts)

    def _result(self, stored_last: int | None) -> DownloadResult:
        added = np.concatenate(self.added_ts) if self.added_ts else np.zeros(0, dtype=np.int64)
        span = added if stored_last is None else np.concatenate([[stored_last], added]).astype(np.int64)
        return DownloadResult(
            symbol=self.symbol,
            rows_added=self.rows_added,
            first=int(added[0]) if len(added) else None,
            last=int(added[-1]) if len(added) else None,
            gaps=find_gaps(span, self.tf_ms * _NS_PER_MS),
            requests=self.requests,
        )


def _concat(parts: list[Bars]) -> Bars:
    """Pages in fetch order: each starts after the previous one's last bar, so this stays sorted."""
    first = parts[0]
    return Bars(
        symbol=first.symbol,
        ts=np.concatenate([p.ts for p in parts]),
        open=np.concatenate([p.open for p in parts]),
        high=np.concatenate([p.high for p in parts]),
        low=np.concatenate([p.low for p in parts]),
        close=np.concatenate([p.close for p in parts]),
        volume=np.concatenate([p.volume for p in parts]),
        timeframe_ns=first.timeframe_ns,
        meta=dict(first.meta),
    )


__all__ = ["DownloadResult", "Progress", "download"]
