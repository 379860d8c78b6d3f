"""RSI mean reversion: buy an oversold market, sell into strength."""

from __future__ import annotations

from atb.strategy import indicators
from atb.strategy.base import Strategy
from atb.strategy.params import Param, ParameterError


class RsiReversion(Strategy):
    """Enter long when Wilder's RSI closes below `lower`; exit when it closes above `upper`.

    With `short`, the mirror image too: short above `upper`, cover below `lower`.
    """

    name = "rsi_reversion"
    description = "RSI oversold/overbought mean reversion"

    period = Param(14, ge=2, le=500, doc="RSI length (bars)")
    lower = Param(30.0, ge=0.0, le=100.0, doc="oversold level: enter long below")
    upper = Param(70.0, ge=0.0, le=100.0, doc="overbought level: exit long above")
    short = Param(False, doc="also trade the short side")
    fraction = Param(1.0, ge=0.01, le=1.0, doc="share of equity per entry")

    def validate_params(self) -> None:
        if self.lower >= self.upper:
            raise ParameterError(f"lower ({self.lower}) must be below upper ({self.upper})")

    def on_start(self) -> None:
        self.rsi = self.I(indicators.rsi, self.data.close, self.period, name=f"rsi{self.period}")

    def on_bar(self) -> None:
        value = self.rsi.now
        pos = self.position
        if value < self.lower:
            if pos.is_short:
                self.close()
            if not pos.is_long:
                self.buy(fraction=self.fraction)
        elif value > self.upper:
            if pos.is_long:
                self.close()
            if self.short and not pos.is_short:
                self.sell(fraction=self.fraction)
