"""Moving-average crossover: the reference strategy (and the speed benchmark)."""

from __future__ import annotations

from decimal import Decimal

import numpy as np

from atb.strategy import indicators
from atb.strategy.base import Strategy
from atb.strategy.params import Param, ParameterError
from atb.strategy.signals import TargetSignals, cross_targets


class SmaCross(Strategy):
    """Long when the fast SMA crosses above the slow one; exit (or reverse, with `short`) on the cross down.

    A cross is read from the sign of fast − slow, remembering the last
    non-zero sign, so below → equal → above counts as one cross up (at the
    'above' bar); the first defined sign is not a cross. Each entry invests
    `fraction` of equity (1 = all of it). The same decisions as arrays
    (`target_signals`) let the backtest skip the bars between crosses.
    """

    name = "sma_cross"
    description = "SMA crossover, long-only or stop-and-reverse"

    fast = Param(10, ge=1, le=10_000, doc="fast SMA length (bars)")
    slow = Param(20, ge=2, le=10_000, doc="slow SMA length (bars)")
    short = Param(False, doc="false: long-only, exit on the cross down; true: stop-and-reverse long/short")
    fraction = Param(1.0, ge=0.01, le=1.0, doc="share of equity per entry")

    def validate_params(self) -> None:
        if self.fast >= self.slow:
            raise ParameterError(f"fast ({self.fast}) must be shorter than slow ({self.slow})")

    def target_signals(self) -> TargetSignals:
        close = self.data.bars.close
        fast = indicators.sma(close, self.fast)
        slow = indicators.sma(close, self.slow)
        bars, targets = cross_targets(fast, slow, short=self.short)
        ready = np.flatnonzero(~np.isnan(slow))
        warmup = int(ready[0]) if len(ready) else len(slow)
        return TargetSignals(bars, targets, Decimal(repr(self.fraction)), warmup_bars=warmup)

    def on_start(self) -> None:
        self.fast_ma = self.I(indicators.sma, self.data.close, self.fast, name=f"sma{self.fast}")
        self.slow_ma = self.I(indicators.sma, self.data.close, self.slow, name=f"sma{self.slow}")
        self._side = 0  # sign of fast - slow at the last bar where it was non-zero

    def on_bar(self) -> None:
        diff = self.fast_ma.now - self.slow_ma.now
        if diff > 0:
            if self._side < 0:
                self.hold(1, fraction=self.fraction)
            self._side = 1
        elif diff < 0:
            if self._side > 0:
                self.hold(-1 if self.short else 0, fraction=self.fraction)
            self._side = -1
