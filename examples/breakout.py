"""An example user strategy: `atb backtest --strategy examples/breakout.py`.

Buys a close above the previous 20-bar high while the daily trend is up,
protects the position with a resting ATR stop, and exits on the 10-bar low.
"""

from __future__ import annotations

from atb.domain import Fill
from atb.strategy import Param, Strategy, indicators


class Breakout(Strategy):
    entry = Param(20, ge=2, le=500, doc="breakout channel length (bars)")
    exit = Param(10, ge=2, le=500, doc="exit channel length (bars)")
    atr_mult = Param(2.5, ge=0.5, le=10.0, doc="stop distance in ATRs")
    trend = Param(20, ge=2, le=400, doc="daily SMA length for the trend filter")

    def on_start(self) -> None:
        d = self.data
        self.entry_ch = self.I(indicators.donchian, d.high, d.low, self.entry)
        self.exit_ch = self.I(indicators.donchian, d.high, d.low, self.exit)
        self.atr = self.I(indicators.atr, d.high, d.low, d.close, 14)
        daily = self.timeframe("1d")  # a daily bar is visible only after it closed
        self.daily_close = daily.close
        self.daily_sma = self.I(indicators.sma, daily.close, self.trend)

    def on_bar(self) -> None:
        close = self.data.close.now
        if self.position.is_flat:
            uptrend = self.daily_close.now > self.daily_sma.now
            if uptrend and close > self.entry_ch.upper.prev and not self.open_orders():
                self.buy(fraction=0.5)
        elif close < self.exit_ch.lower.prev:
            self.cancel_all()
            self.close()

    def on_fill(self, fill: Fill) -> None:
        if self.position.is_long and not self.open_orders():
            stop = float(fill.price.value) - self.atr_mult * self.atr.now
            if stop > 0:
                self.sell(quantity=self.position.size, stop=stop, reduce_only=True, tag="stop")
