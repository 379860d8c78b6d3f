"""Klines for the fake venue, served from the bundled 5-minute samples the way /api/v3/klines pages them."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from .state import VenueReject

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


def klines(params: dict[str, str]) -> list[list[Any]]:
    """Binance's selection: openTime in [startTime, endTime], at most `limit` (default 500, capped at 1000).

    Without startTime the *last* `limit` bars up to endTime are returned, as Binance does.
    Only the samples' own 5m interval is served; any other valid interval is refused (a fake's limit).
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
    lo = 0 if start is None else int(np.searchsorted(times, start, side="left"))
    hi = len(times) if end is None else int(np.searchsorted(times, end, side="right"))
    if start is None:
        lo = max(lo, hi - limit)
    rows = sample_rows(symbol)
    return rows[lo : min(hi, lo + limit)]
