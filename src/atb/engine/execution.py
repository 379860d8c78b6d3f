"""How the simulated venue executes: fill timing, latency, slippage and volume limits.

Slippage applies to orders that take liquidity (market, stop, and limits
marketable on arrival); a resting limit fills at its own price. Every
slipped price is rounded to the tick *against* the trader (up for buys,
down for sells), so rounding never flatters a result.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from atb.errors import UserInputError


class FillTiming(StrEnum):
    NEXT_OPEN = "next_open"
    """A market order decided on bar i fills at the open of bar i+1 (no look-ahead)."""
    CLOSE = "close"
    """A market order fills at the close of the bar that produced it (optimistic; for comparison)."""


@dataclass(frozen=True, slots=True)
class FixedBps:
    """Every taker fill moves `bps` basis points against the trader."""

    bps: float

    def __post_init__(self) -> None:
        if not 0 <= self.bps < 10_000:
            raise UserInputError(f"slippage must be 0..10000 bps, got {self.bps}")

    def fraction(self, bar: int, lots: int, lot: float) -> float:
        return self.bps / 10_000.0

    def max_lots(self, bar: int, lot: float) -> int | None:
        return None


@dataclass(slots=True)
class SquareRootImpact:
    """Market impact = coefficient × σ × sqrt(order volume / bar volume), with a participation cap.

    σ is the standard deviation of the last `window` bar log returns known
    before the bar (causal). The square-root law (Almgren et al., Tóth et al.)
    puts the coefficient near 1 for daily volume; 0.5 is the default here. An
    order may take at most `participation` of a bar's volume; the rest stays
    working and fills in later bars. Bars with zero volume fill nothing.
    The formula is `atb.analytics.liquidity.sqrt_impact_fraction`, shared
    with the pre-trade cost estimate so both price an order the same way.
    """

    coefficient: float = 0.5
    participation: float = 0.1
    window: int = 20
    _sigma: npt.NDArray[np.float64] | None = None
    _volume: npt.NDArray[np.float64] | None = None

    def __post_init__(self) -> None:
        if not 0 < self.participation <= 1:
            raise UserInputError(f"participation cap must be in (0, 1], got {self.participation}")
        if self.coefficient < 0 or self.window < 2:
            raise UserInputError("impact coefficient must be >= 0 and window >= 2")

    def prepare(self, close: npt.NDArray[np.float64], volume: npt.NDArray[np.float64]) -> None:
        logret = np.diff(np.log(close), prepend=np.log(close[0]))
        csum = np.cumsum(logret)
        csq = np.cumsum(logret * logret)
        n = self.window
        sigma = np.full(len(close), np.nan)
        if len(close) > n:
            s = csum[n:] - csum[:-n]
            q = csq[n:] - csq[:-n]
            var = np.maximum(q / n - (s / n) ** 2, 0.0) * n / (n - 1)
            sigma[n:] = np.sqrt(var)
        # causal: the σ used on bar i is the one known at the close of bar i-1
        shifted = np.empty_like(sigma)
        shifted[0] = np.nan
        shifted[1:] = sigma[:-1]
        self._sigma = np.nan_to_num(shifted, nan=0.0)
        self._volume = volume

    def fraction(self, bar: int, lots: int, lot: float) -> float:
        assert self._sigma is not None and self._volume is not None
        vol = self._volume[bar]
        if vol <= 0:
            return 0.0
        # Lazy: the liquidity module costs a few ms to import and only sqrt-impact backtests need it.
        from atb.analytics.liquidity import sqrt_impact_fraction

        return sqrt_impact_fraction(self.coefficient, float(self._sigma[bar]), lots * lot, float(vol))

    def max_lots(self, bar: int, lot: float) -> int | None:
        assert self._volume is not None
        return int(self.participation * self._volume[bar] / lot)


SlippageModel = FixedBps | SquareRootImpact


@dataclass(frozen=True, slots=True)
class ExecutionConfig:
    fill: FillTiming = FillTiming.NEXT_OPEN
    latency_bars: int = 0
    slippage: SlippageModel | None = None

    def __post_init__(self) -> None:
        if self.latency_bars < 0:
            raise UserInputError(f"latency must be >= 0 bars, got {self.latency_bars}")


def parse_slippage(text: str | None) -> SlippageModel | None:
    """`none`, `5` / `5bps` (fixed), or `sqrt[:coefficient[:participation]]`."""
    if text is None or text.strip().lower() in ("", "none", "0"):
        return None
    raw = text.strip().lower()
    if raw.startswith("sqrt"):
        parts = raw.split(":")
        try:
            coefficient = float(parts[1]) if len(parts) > 1 else 0.5
            participation = float(parts[2]) if len(parts) > 2 else 0.1
        except ValueError:
            raise UserInputError(f"slippage {text!r}: expected sqrt[:coefficient[:participation]]") from None
        return SquareRootImpact(coefficient=coefficient, participation=participation)
    try:
        return FixedBps(float(raw.removesuffix("bps")))
    except ValueError:
        raise UserInputError(f"slippage {text!r}: expected none, a number of bps, or sqrt[:coef[:cap]]") from None
