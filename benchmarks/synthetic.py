"""Deterministic synthetic OHLCV bars for benchmarks (numpy seed, 1-minute bars, 4-decimal prices)."""

from __future__ import annotations

import numpy as np

from atb.data.bars import Bars
from atb.data.loader import bars_from_arrays


def random_walk_bars(n: int, seed: int = 42, symbol: str = "SYN/USDT") -> Bars:
    rng = np.random.default_rng(seed)
    close = np.round(100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.001, n))), 4)
    open_ = np.empty(n)
    open_[0] = close[0]
    open_[1:] = close[:-1]
    spread = np.round(np.abs(rng.normal(0.0, 0.0008, n)) * close, 4)
    high = np.maximum(open_, close) + spread
    low = np.minimum(open_, close) - spread
    volume = rng.integers(1, 1000, n).astype(np.float64)
    ts = np.int64(1_577_836_800_000_000_000) + np.arange(n, dtype=np.int64) * 60_000_000_000
    return bars_from_arrays(ts, open_, high, low, close, volume, symbol=symbol)
