"""Cross-sectional momentum rotation across several instruments."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import numpy.typing as npt

from atb.strategy.base import Strategy
from atb.strategy.params import Param
from atb.strategy.series import Series


def rate_of_change(close: npt.NDArray[np.float64], n: int) -> npt.NDArray[np.float64]:
    """close[i] / close[i-n] - 1, NaN for the first n bars (causal)."""
    out = np.full(len(close), np.nan)
    if len(close) > n:
        out[n:] = close[n:] / close[:-n] - 1.0
    return out


class MomentumRotation(Strategy):
    """Every `rebalance` bars, hold the `top` instruments with the best `lookback` return, equal weight.

    Only instruments whose momentum is above `min_return` are held (an
    absolute-momentum filter: in a falling market it sits in cash). Each
    rebalance trades every holding back to its target weight, reductions first,
    so sells fund the buys at the same open.
    """

    name = "momentum_rotation"
    description = "multi-asset momentum rotation (top N by trailing return)"
    multi_asset = True

    lookback = Param(72, ge=1, le=10_000, doc="momentum window (bars)")
    rebalance = Param(24, ge=1, le=10_000, doc="bars between rebalances")
    top = Param(3, ge=1, le=100, doc="instruments held at once")
    min_return = Param(0.0, ge=-1.0, le=10.0, doc="minimum trailing return to hold (fraction)")
    invested = Param(0.98, ge=0.01, le=1.0, doc="share of equity invested across holdings")

    def on_start(self) -> None:
        self.momentum: dict[str, Series] = {
            sym: self.I(rate_of_change, self.feed(sym).close, self.lookback, name=f"roc {sym}") for sym in self.symbols
        }
        self.bar = 0
        self.weight = Decimal(str(self.invested)) / Decimal(self.top)

    def on_bar(self) -> None:
        self.bar += 1
        if self.bar % self.rebalance:
            return
        scores = [(m.now, sym) for sym, m in self.momentum.items() if m.now == m.now and m.now > self.min_return]
        scores.sort(reverse=True)
        wanted = {sym for _, sym in scores[: self.top]}
        targets = {sym: (self.weight if sym in wanted else Decimal(0)) for sym in self.symbols}
        deltas = {sym: self.target_delta_lots(weight, sym) for sym, weight in targets.items()}
        # reductions first, so their proceeds fund the additions at the same open
        for sym in sorted(deltas, key=lambda s: deltas[s]):
            if deltas[sym]:
                self.order_target(targets[sym], sym, tag="rebalance")
