"""A strategy's decisions stated as arrays: the optional fast form of `on_bar`.

Many strategies decide "be long / flat / short from the close of this bar",
and those decisions can be computed for every bar at once. A strategy that
can do so implements `Strategy.target_signals()`; the backtest then visits
only the bars where the target changes instead of calling `on_bar` a
million times. The orders are the ones `on_bar` would send (a reduce-only
close, then an entry sized by equity fraction), they go through the same
simulated venue, and the parity tests run both forms of every such strategy
and compare the results order by order.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, slots=True)
class TargetSignals:
    """At the close of bar `bars[k]` the strategy wants `targets[k]`: +1 long, 0 flat, -1 short.

    `bars` is strictly increasing and lists only bars where the target may
    change. Each entry is sized as `fraction` of equity at the fill price.
    """

    bars: npt.NDArray[np.int64]
    targets: npt.NDArray[np.int8]
    fraction: Decimal
    warmup_bars: int

    def __post_init__(self) -> None:
        if len(self.bars) != len(self.targets):
            raise ValueError("bars and targets differ in length")
        if len(self.bars) > 1 and not (np.diff(self.bars) > 0).all():
            raise ValueError("signal bars must be strictly increasing")
        if not np.isin(self.targets, (-1, 0, 1)).all():
            raise ValueError("targets must be -1, 0 or +1")


def cross_targets(
    fast: npt.NDArray[np.float64], slow: npt.NDArray[np.float64], *, short: bool
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int8]]:
    """Bars where `fast - slow` changes sign, and the target after each: +1 up, 0 or -1 down.

    Reads a cross exactly like `sma_cross.on_bar`: the sign of fast − slow,
    ignoring NaN and zero (a tie keeps the last non-zero sign), and the first
    defined sign is not a cross.
    """
    diff = fast - slow
    sign = np.zeros(len(diff), dtype=np.int8)
    sign[diff > 0] = 1
    sign[diff < 0] = -1
    defined = np.flatnonzero(sign)
    defined_sign = sign[defined]
    changed = np.flatnonzero(defined_sign[1:] != defined_sign[:-1]) + 1
    bars = defined[changed].astype(np.int64)
    up = defined_sign[changed] > 0
    targets = np.where(up, 1, -1 if short else 0).astype(np.int8)
    return bars, targets
