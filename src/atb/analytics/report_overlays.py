"""Indicator lines drawn over the report's price chart, computed for display from the run's parameters."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from atb.data.bars import Bars

FloatArray = npt.NDArray[np.float64]


def sma(close: FloatArray, n: int) -> FloatArray:
    """Simple moving average for display (NaN during the n-1 bar warm-up)."""
    out = np.full(len(close), np.nan)
    if n < 1 or len(close) < n:
        return out
    csum = np.concatenate(([0.0], np.cumsum(close, dtype=np.float64)))
    out[n - 1 :] = (csum[n:] - csum[:-n]) / n
    return out


def sma_lengths(meta: dict[str, Any]) -> list[int]:
    """The fast/slow SMA lengths of an sma_cross run (none for other strategies)."""
    if meta.get("strategy") != "sma_cross":
        return []
    params = meta.get("params") or {}
    lengths = []
    for key in ("fast", "slow"):
        value = params.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
            lengths.append(value)
    return lengths


def _int_param(params: dict[str, Any], key: str, default: int) -> int:
    value = params.get(key, default)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 1 else default


def _rolling(values: FloatArray, n: int, reduce: Any) -> FloatArray:
    out = np.full(len(values), np.nan)
    if len(values) >= n:
        out[n - 1 :] = reduce(np.lib.stride_tricks.sliding_window_view(values, n), axis=1)
    return out


def price_overlays(meta: dict[str, Any], bars: Bars) -> list[tuple[str, FloatArray]]:
    """Indicator lines drawn over the price for the built-in strategies whose indicators live on
    the price scale (SMAs, Bollinger bands, Donchian channel); none for oscillators (RSI) or
    multi-asset rotation, whose signals are not prices."""
    params = meta.get("params") or {}
    strategy = meta.get("strategy")
    close = bars.close
    if strategy == "sma_cross":
        return [(f"SMA {n}", sma(close, n)) for n in sma_lengths(meta)]
    if strategy == "bollinger_reversion":
        n = _int_param(params, "period", 20)
        width = params.get("width", 2.0)
        k = float(width) if isinstance(width, int | float) and not isinstance(width, bool) else 2.0
        middle = sma(close, n)
        std = _rolling(close, n, np.std)  # population std, as the strategy's bands
        return [(f"BB mid {n}", middle), (f"BB upper {k:g}σ", middle + k * std), (f"BB lower {k:g}σ", middle - k * std)]
    if strategy == "donchian_breakout":
        n = _int_param(params, "entry", 20)
        return [
            (f"Donchian high {n}", _rolling(bars.high, n, np.max)),
            (f"Donchian low {n}", _rolling(bars.low, n, np.min)),
        ]
    return []
