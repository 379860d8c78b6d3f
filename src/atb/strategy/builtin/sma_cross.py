"""Moving-average crossover: the reference strategy (and the speed benchmark)."""

from __future__ import annotations

from atb.strategy import indicators
from atb.strategy.base import Strategy
from atb.strategy.params import Param, ParameterError


class SmaCross(Strategy):
    """Long when the fast SMA crosses above the slow one; exit (or reverse, with `short`) on the cross down.

    A cross is read from the sign of fast − slow, remembering the last
    non-zero sign, so below → equal → above counts as one cross up (at the
    'above' bar). Each entry invests the whole equity (`fraction`, 1 = 100 %).
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

    def on_start(self) -> None:
        self.fast_ma = self.I(indicators.sma, self.data.close, self.fast, name=f"sma{self.fast}")
        self.slow_ma = self.I(indicators.sma, self.data.close, self.slow, name=f"sma{self.slow}")
        self._side = 0  # sign of fast - slow at the last bar where it was non-zero

    def on_bar(self) -> None:
        diff = self.fast_ma.now - self.slow_ma.now
        if diff > 0:
            if self._side < 0:
                self._cross_up()
            elif self._side == 0:
                self._first_signal(up=True)
            self._side = 1
        elif diff < 0:
            if self._side > 0:
                self._cross_down()
            self._side = -1

    def _first_signal(self, up: bool) -> None:
        """The first defined comparison is not a cross: no trade until a real one."""

    def _cross_up(self) -> None:
        if self.short:
            self.close()
        self.buy(fraction=self.fraction)

    def _cross_down(self) -> None:
        self.close()
        if self.short:
            self.sell(fraction=self.fraction)
