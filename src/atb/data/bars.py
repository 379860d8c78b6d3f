"""The in-memory OHLCV table every layer above `data` reads.

Columns are plain numpy arrays so the backtest kernel, indicators and
analytics can read them without pandas (whose import alone costs more than a
short backtest). Prices are float64 here: market data is an observation, not
money. The engine snaps them onto the instrument's tick grid as exact
integers before anything touches the ledger (see `atb.engine.market`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

NS_PER_SECOND = 1_000_000_000
NS_PER_DAY = 86_400 * NS_PER_SECOND


@dataclass(frozen=True, slots=True)
class Bars:
    """A validated, time-ordered OHLCV series for one symbol.

    `ts` holds each bar's *open* time in UTC epoch nanoseconds; a bar is
    complete (and so visible to a strategy) at `ts + timeframe_ns`.
    """

    symbol: str
    ts: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray
    timeframe_ns: int
    meta: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.ts)
        for name in ("open", "high", "low", "close", "volume"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"column {name!r} has {len(getattr(self, name))} rows, ts has {n}")

    def __len__(self) -> int:
        return len(self.ts)

    def slice(self, start: int, stop: int) -> Bars:
        """Rows [start, stop): used for truncation (look-ahead) checks and walk-forward splits."""
        return Bars(
            symbol=self.symbol,
            ts=self.ts[start:stop],
            open=self.open[start:stop],
            high=self.high[start:stop],
            low=self.low[start:stop],
            close=self.close[start:stop],
            volume=self.volume[start:stop],
            timeframe_ns=self.timeframe_ns,
            meta=dict(self.meta),
        )
