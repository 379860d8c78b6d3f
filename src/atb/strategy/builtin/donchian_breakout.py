"""Donchian channel breakout with an ATR trailing stop (the classic turtle entry)."""

from __future__ import annotations

from atb.domain import Fill, Order
from atb.strategy import indicators
from atb.strategy.base import Strategy
from atb.strategy.params import Param


class DonchianBreakout(Strategy):
    """Enter on a close beyond the previous `entry`-bar channel; exit on the `exit`-bar channel or the stop.

    The protective stop is a real stop-market order resting at the venue,
    placed after the entry fills at `atr_mult` × ATR from the fill price and
    trailed each bar (it only ever tightens).
    """

    name = "donchian_breakout"
    description = "Donchian breakout, channel exit and ATR trailing stop"

    entry = Param(20, ge=2, le=1000, doc="breakout channel length (bars)")
    exit = Param(10, ge=2, le=1000, doc="exit channel length (bars)")
    atr_period = Param(14, ge=2, le=1000, doc="ATR length (bars)")
    atr_mult = Param(2.0, ge=0.1, le=20.0, doc="stop distance in ATRs")
    short = Param(False, doc="also trade downside breakouts")
    fraction = Param(1.0, ge=0.01, le=1.0, doc="share of equity per entry")

    def on_start(self) -> None:
        d = self.data
        self.entry_ch = self.I(indicators.donchian, d.high, d.low, self.entry, name="donchian_entry")
        self.exit_ch = self.I(indicators.donchian, d.high, d.low, self.exit, name="donchian_exit")
        self.atr = self.I(indicators.atr, d.high, d.low, d.close, self.atr_period, name="atr")
        self.stop_order: Order | None = None
        self.stop_price = 0.0

    def on_bar(self) -> None:
        close = self.data.close.now
        pos = self.position
        if pos.is_long:
            if close < self.exit_ch.lower.prev:
                self._exit()
            else:
                self._trail(close - self.atr_mult * self.atr.now, long=True)
        elif pos.is_short:
            if close > self.exit_ch.upper.prev:
                self._exit()
            else:
                self._trail(close + self.atr_mult * self.atr.now, long=False)
        elif not self.open_orders():
            # compare with the channel of the bars *before* this one: the current bar is inside its own channel
            if close > self.entry_ch.upper.prev:
                self.buy(fraction=self.fraction, tag="entry")
            elif self.short and close < self.entry_ch.lower.prev:
                self.sell(fraction=self.fraction, tag="entry")

    def on_fill(self, fill: Fill) -> None:
        pos = self.position
        if pos.is_flat:
            if self.stop_order is not None and self.stop_order.is_open:
                self.cancel(self.stop_order)
            self.stop_order = None
            return
        if self.stop_order is None:
            price = float(fill.price.value)
            distance = self.atr_mult * self.atr.now
            self._place_stop(price - distance if pos.is_long else price + distance, pos.is_long)

    def _trail(self, candidate: float, long: bool) -> None:
        if candidate != candidate:  # ATR still warming up
            return
        tighter = candidate > self.stop_price if long else candidate < self.stop_price
        if self.stop_order is None or tighter:
            self._place_stop(candidate, long)

    def _place_stop(self, price: float, long: bool) -> None:
        if price != price or price <= 0:
            return
        if self.stop_order is not None and self.stop_order.is_open:
            self.cancel(self.stop_order)
        quantity = abs(self.position.size)
        if long:
            self.stop_order = self.sell(quantity=quantity, stop=price, reduce_only=True, tag="stop")
        else:
            self.stop_order = self.buy(quantity=quantity, stop=price, reduce_only=True, tag="stop")
        self.stop_price = price

    def _exit(self) -> None:
        if self.stop_order is not None and self.stop_order.is_open:
            self.cancel(self.stop_order)
        self.stop_order = None
        self.close(tag="exit")
