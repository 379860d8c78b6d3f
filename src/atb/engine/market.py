"""Market data on the instrument's integer grids, and instruments for data with no venue rules.

Prices arrive as float64 (parsed from CSV/Parquet). Each is snapped to the
nearest tick and the snap is checked: a price that is not within 1e-6 ticks
of the grid means the tick is wrong for this data, and the run stops rather
than trade on silently rounded prices. For any price written with fewer than
~15 significant digits the float's error is far below that bound, so the
integer recovered is exactly the decimal in the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from atb.data.bars import Bars
from atb.domain import Instrument
from atb.errors import DataValidationError

IntArray = npt.NDArray[np.int64]

_SNAP_TOLERANCE = 1e-6
_MAX_INFERRED_DECIMALS = 10

# Trading rules of well-known pairs (Binance spot filters); anything else is inferred from the data.
KNOWN_INSTRUMENTS: dict[str, dict[str, str]] = {
    "BTC/USDT": {"tick": "0.01", "lot": "0.00001", "min_quantity": "0.00001", "min_notional": "5"},
    "ETH/USDT": {"tick": "0.01", "lot": "0.0001", "min_quantity": "0.0001", "min_notional": "5"},
    "BNB/USDT": {"tick": "0.01", "lot": "0.001", "min_quantity": "0.001", "min_notional": "5"},
    "SOL/USDT": {"tick": "0.01", "lot": "0.001", "min_quantity": "0.001", "min_notional": "5"},
    "XRP/USDT": {"tick": "0.0001", "lot": "0.1", "min_quantity": "0.1", "min_notional": "5"},
    "ADA/USDT": {"tick": "0.0001", "lot": "0.1", "min_quantity": "0.1", "min_notional": "5"},
    "DOGE/USDT": {"tick": "0.00001", "lot": "1", "min_quantity": "1", "min_notional": "5"},
    "DOT/USDT": {"tick": "0.001", "lot": "0.01", "min_quantity": "0.01", "min_notional": "5"},
    "LINK/USDT": {"tick": "0.001", "lot": "0.01", "min_quantity": "0.01", "min_notional": "5"},
    "LTC/USDT": {"tick": "0.01", "lot": "0.001", "min_quantity": "0.001", "min_notional": "5"},
}


_CHUNK = 1 << 15
"""Rows snapped at a time: the temporaries (256 KiB each) stay in cache."""


def _snap(values: npt.NDArray[np.float64], scale: float, out: IntArray | None = None) -> tuple[float, float, float]:
    """(largest distance of values × scale from the integers, the distance allowed, largest |tick|).

    With `out`, the rounded values are written there as int64 (chunks whose
    ticks reach 2^53 are skipped: the caller refuses them). The column is
    worked through in cache-sized chunks, so the elementwise steps touch
    memory once instead of once each: snapping runs on every price column of
    every run, twice (tick inference, then the ticks). NaN propagates to the
    results as a whole-column `max` would.
    """
    n = len(values)
    if not n:
        return 0.0, _SNAP_TOLERANCE, 0.0
    buf = np.empty(min(n, _CHUNK))
    rounded = np.empty(min(n, _CHUNK))
    distances: list[float] = []
    highs: list[float] = []
    lows: list[float] = []
    for start in range(0, n, _CHUNK):
        part = values[start : start + _CHUNK]
        m = len(part)
        scaled, ticks = buf[:m], rounded[:m]
        np.multiply(part, scale, out=scaled)
        np.rint(scaled, out=ticks)
        np.subtract(scaled, ticks, out=scaled)
        np.abs(scaled, out=scaled)
        distances.append(float(scaled.max()))
        high, low = float(ticks.max()), float(ticks.min())
        highs.append(high)
        lows.append(low)
        if out is not None and not (high >= 2.0**53 or -low >= 2.0**53):
            out[start : start + m] = ticks
    worst = float(np.max(distances))
    largest = max(float(np.max(highs)), -float(np.min(lows)))
    return worst, _SNAP_TOLERANCE * max(1.0, 1e-9 * largest), largest


def _on_grid(prices: npt.NDArray[np.float64], decimals: int) -> bool:
    worst, allowed, _ = _snap(prices, 10.0**decimals)
    return worst <= allowed


def infer_tick(bars: Bars) -> Decimal:
    """The coarsest power-of-ten tick on which every price of the data lies.

    The candidate is found on the first rows, then confirmed on all of them
    (one full pass in the usual case instead of one per decimal tried).
    """
    columns = (bars.open, bars.high, bars.low, bars.close)
    head = np.concatenate([c[:2048] for c in columns])
    for decimals in range(_MAX_INFERRED_DECIMALS + 1):
        if _on_grid(head, decimals) and all(_on_grid(c, decimals) for c in columns):
            return Decimal(1).scaleb(-decimals)
    raise DataValidationError(
        f"{bars.symbol}: prices carry more than {_MAX_INFERRED_DECIMALS} decimals; give the tick size explicitly"
    )


def instrument_for(
    bars: Bars,
    *,
    symbol: str | None = None,
    tick: str | None = None,
    lot: str | None = None,
    fee: str | None = None,
) -> Instrument:
    """Venue rules for `bars`: a known pair's filters, or tick inferred from the data and lot 1e-8."""
    sym = symbol or bars.symbol
    if "/" not in sym:
        sym = f"{sym}/USD"
    known = KNOWN_INSTRUMENTS.get(sym.upper(), {})
    # The venue's tick changes over the years (BNB/USDT quoted 4 decimals in 2021, 2 now): the
    # data's own grid wins when it is finer than today's rule.
    data_tick = infer_tick(bars) if tick is None else None
    if tick is None and "tick" in known:
        tick = str(min(Decimal(known["tick"]), data_tick)) if data_tick is not None else known["tick"]
    fee_rate = fee if fee is not None else "0.001"
    return Instrument.spot(
        sym.upper(),
        tick=tick or str(data_tick),
        lot=lot or known.get("lot", "0.00000001"),
        min_quantity=known.get("min_quantity", "0"),
        min_notional=known.get("min_notional", "0"),
        maker_fee=fee_rate,
        taker_fee=fee_rate,
    )


def to_ticks(values: npt.NDArray[np.float64], tick: Decimal, what: str, symbol: str) -> IntArray:
    """Snap float prices onto the tick grid as exact int64, refusing any that are off-grid."""
    ticks = np.empty(len(values), dtype=np.int64)
    worst, allowed, largest = _snap(values, 1.0 / float(tick), ticks)
    if worst > allowed:
        scaled = values / float(tick)
        row = int(np.argmax(np.abs(scaled - np.rint(scaled))))
        raise DataValidationError(
            f"{symbol}: {what} price {float(values[row])!r} at bar {row} is not a multiple of the tick {tick}; "
            "pass the right --tick for this data"
        )
    if largest >= 2.0**53:
        raise DataValidationError(f"{symbol}: prices too large for tick {tick}")
    return ticks


@dataclass(frozen=True, slots=True)
class MarketData:
    """One instrument's bars with prices in ticks: what the simulated venue matches against."""

    instrument: Instrument
    bars: Bars
    open: IntArray
    high: IntArray
    low: IntArray
    close: IntArray

    @classmethod
    def build(cls, instrument: Instrument, bars: Bars) -> MarketData:
        sym = str(instrument.id)
        return cls(
            instrument,
            bars,
            to_ticks(bars.open, instrument.tick, "open", sym),
            to_ticks(bars.high, instrument.tick, "high", sym),
            to_ticks(bars.low, instrument.tick, "low", sym),
            to_ticks(bars.close, instrument.tick, "close", sym),
        )

    def __len__(self) -> int:
        return len(self.bars)
