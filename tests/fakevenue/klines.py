"""Klines for the fake venue, served from the bundled 5-minute samples the way /api/v3/klines pages them.

By default every sample bar is served. A symbol in *live mode* (`FakeVenue.live_klines`) serves only
the rows before its release cursor, which `FakeVenue.release_bars` advances: the venue's market then
grows one closed bar at a time, as a live market does. The sample bars are historical, so a released
bar's close time is already past and it counts as closed, as Binance's closed klines do.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import numpy as np

from .state import VenueReject

if TYPE_CHECKING:
    from .server import FakeVenue

SAMPLES = {"BTCUSDT": "BTC_USDT_5m", "ETHUSDT": "ETH_USDT_5m"}
INTERVAL = "5m"
INTERVAL_MS = 300_000
DEFAULT_LIMIT = 500
MAX_LIMIT = 1000
_VALID_INTERVALS = {"1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M"}


@functools.cache
def sample_rows(symbol: str) -> list[list[Any]]:
    """Every bar of the symbol's sample as a Binance kline row (loaded once per process)."""
    from atb.data.sample import load_sample

    bars = load_sample(SAMPLES[symbol]).bars
    open_ms = (bars.ts // 1_000_000).astype(np.int64)
    rows = []
    for i in range(len(open_ms)):
        t = int(open_ms[i])
        o, h, lo, c, v = (f"{float(a[i]):.8f}" for a in (bars.open, bars.high, bars.low, bars.close, bars.volume))
        quote_volume = f"{float(bars.volume[i]) * float(bars.close[i]):.8f}"
        rows.append([t, o, h, lo, c, v, t + INTERVAL_MS - 1, quote_volume, 0, "0.00000000", "0.00000000", "0"])
    return rows


@functools.cache
def _open_times(symbol: str) -> np.ndarray:
    return np.array([r[0] for r in sample_rows(symbol)], dtype=np.int64)


def route(venue: FakeVenue, params: dict[str, str]) -> tuple[int, list[list[Any]]]:
    """The /api/v3/klines handler: the venue's release cursor decides how much of the sample exists."""
    return 200, klines(params, venue.kline_cursor(params.get("symbol", "")))


def kline_event(row: list[Any], symbol: str, *, closed: bool, event_ms: int) -> dict[str, Any]:
    """A REST kline row as the `<symbol>@kline_<interval>` stream event Binance pushes for it."""
    t, o, h, lo, c, v, close_ms, quote_volume, trades, taker_base, taker_quote, _ = row
    kline = {
        "t": t, "T": close_ms, "s": symbol, "i": INTERVAL, "f": 0, "L": 0,
        "o": o, "c": c, "h": h, "l": lo, "v": v, "n": trades, "x": closed,
        "q": quote_volume, "V": taker_base, "Q": taker_quote, "B": "0",
    }  # fmt: skip
    return {"e": "kline", "E": event_ms, "s": symbol, "k": kline}


def klines(params: dict[str, str], cursor: int | None = None) -> list[list[Any]]:
    """Binance's selection: openTime in [startTime, endTime], at most `limit` (default 500, capped at 1000).

    Without startTime the *last* `limit` bars up to endTime are returned, as Binance does.
    Only the samples' own 5m interval is served; any other valid interval is refused (a fake's limit).
    `cursor` (live mode) limits the served rows to the sample's first `cursor`.
    """
    symbol = params.get("symbol", "")
    if symbol not in SAMPLES:
        raise VenueReject(-1121, "Invalid symbol.")
    interval = params.get("interval")
    if interval not in _VALID_INTERVALS:
        raise VenueReject(-1120, "Invalid interval.")
    if interval != INTERVAL:
        raise VenueReject(-1120, f"Invalid interval. (the fake venue serves only {INTERVAL} klines)")
    try:
        limit = int(params.get("limit", DEFAULT_LIMIT))
        start = int(params["startTime"]) if "startTime" in params else None
        end = int(params["endTime"]) if "endTime" in params else None
    except ValueError:
        raise VenueReject(-1100, "Illegal characters found in a parameter.") from None
    if limit < 1:
        raise VenueReject(-1100, "Illegal characters found in parameter 'limit'; legal range is '1 - 1000'.")
    limit = min(limit, MAX_LIMIT)
    times = _open_times(symbol)
    if cursor is not None:
        times = times[:cursor]
    lo = 0 if start is None else int(np.searchsorted(times, start, side="left"))
    hi = len(times) if end is None else int(np.searchsorted(times, end, side="right"))
    if start is None:
        lo = max(lo, hi - limit)
    rows = sample_rows(symbol)
    return rows[lo : min(hi, lo + limit)]
