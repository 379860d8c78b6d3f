"""Bollinger Band mean reversion: fade closes outside the bands, exit at the middle."""

from __future__ import annotations

from atb.strategy import indicators
from atb.strategy.base import Strategy
from atb.strategy.params import Param


class BollingerReversion(Strategy):
    """Buy a close below the lower band, exit when the close is back above the middle band.

    With `short`: sell a close above the upper band, cover below the middle.
    """

    name = "bollinger_reversion"
    description = "Bollinger Band mean reversion to the middle band"

    period = Param(20, ge=2, le=1000, doc="band length (bars)")
    width = Param(2.0, ge=0.1, le=10.0, doc="band width in standard deviations")
    short = Param(False, doc="also fade closes above the upper band")
    fraction = Param(1.0, ge=0.01, le=1.0, doc="share of equity per entry")

    def on_start(self) -> None:
        self.bands = self.I(indicators.bollinger, self.data.close, self.period, self.width, name="bb")

    def on_bar(self) -> None:
        close = self.data.close.now
        bands = self.bands
        pos = self.position
        if (pos.is_long and close > bands.middle.now) or (pos.is_short and close < bands.middle.now):
            self.close()
        elif pos.is_flat:
            if close < bands.lower.now:
                self.buy(fraction=self.fraction)
            elif self.short and close > bands.upper.now:
                self.sell(fraction=self.fraction)
