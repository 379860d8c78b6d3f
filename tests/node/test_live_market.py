"""A strategy sees the same values bar by bar on a live context as in a backtest of the same bars."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from atb.data.sample import load_sample
from atb.domain import Account, AccountMode, Money, Order
from atb.engine.backtest import Backtest
from atb.engine.market import instrument_for
from atb.errors import DataValidationError
from atb.node.live_market import GrowingBars, LiveContext
from atb.strategy.base import Strategy
from atb.strategy.context import OrderRequest
from atb.strategy.indicators import bollinger, ema, rsi, sma

WARM = 300


class Probe(Strategy):
    """Records everything a strategy can read at each bar: raw columns, indicators, a higher timeframe."""

    def on_start(self) -> None:
        close = self.data.close
        self.fast = self.I(sma, close, 10)
        self.slow = self.I(ema, close, 30)
        self.strength = self.I(rsi, close, 14)
        self.bands = self.I(bollinger, close, 20, 2.0)
        self.daily = self.timeframe("1d")
        self.daily_fast = self.I(sma, self.daily.close, 3)
        self.seen: list[tuple[Any, ...]] = []

    def on_bar(self) -> None:
        self.seen.append(
            (
                self.now_ns,
                self.data.close[0],
                self.data.close[-3],
                self.fast[0],
                self.slow[-1],
                self.strength[0],
                self.bands.upper[0] if hasattr(self.bands, "upper") else self.bands[0][0],
                self.daily.close[0],
                self.daily_fast[0],
                tuple(self.data.high.window(5)),
                len(self.data.close),
            )
        )


class NoOrders:
    def submit(self, request: OrderRequest) -> Order:
        raise AssertionError("the probe never orders")

    def cancel(self, order: Order) -> None:
        raise AssertionError("the probe never cancels")

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        return []


def _same(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    return all((x == y) or (isinstance(x, float) and np.isnan(x) and np.isnan(y)) for x, y in zip(a, b, strict=True))


def test_live_context_shows_what_a_backtest_shows() -> None:
    bars = load_sample("BTC_USDT_2h").bars.slice(0, 600)
    inst = instrument_for(bars, symbol="BTC/USDT")
    reference = Probe()
    Backtest(reference, bars, instruments={"BTC/USDT": inst}, engine="event").run()

    growing = GrowingBars("BTC/USDT", bars.timeframe_ns, bars.slice(0, WARM))
    account = Account(inst.quote, Money.of("1000", inst.quote), mode=AccountMode.SPOT)
    ctx = LiveContext({"BTC/USDT": growing}, {"BTC/USDT": inst}, account, NoOrders())
    live = Probe()
    live.bind(ctx)
    live.on_start()
    for i in range(WARM, len(bars)):
        row = (bars.open[i], bars.high[i], bars.low[i], bars.close[i], bars.volume[i])
        ctx.append({"BTC/USDT": tuple(float(v) for v in row)}, int(bars.ts[i]))
        live.refresh_indicators()
        live.on_bar()

    expected = reference.seen[WARM:]
    assert len(live.seen) == len(expected) == 300
    mismatches = [k for k, (a, b) in enumerate(zip(live.seen, expected, strict=True)) if not _same(a, b)]
    assert mismatches == []
    assert ctx.mark_ticks("BTC/USDT") == round(float(bars.close[-1]) / float(inst.tick))


def test_growing_bars_refuse_disorder_and_malformed_bars() -> None:
    growing = GrowingBars("X/USDT", 60_000_000_000)
    growing.append(60_000_000_000, 10.0, 11.0, 9.0, 10.5, 1.0)
    with pytest.raises(DataValidationError, match="not after the last bar"):
        growing.append(60_000_000_000, 10.0, 11.0, 9.0, 10.5, 1.0)
    with pytest.raises(DataValidationError, match="malformed"):
        growing.append(120_000_000_000, float("nan"), 11.0, 9.0, 10.5, 1.0)
    with pytest.raises(DataValidationError, match="high/low"):
        growing.append(120_000_000_000, 10.0, 10.2, 9.0, 10.5, 1.0)
    for k in range(2, 3000):  # growth past the initial capacity keeps every row
        growing.append(k * 60_000_000_000, 10.0, 11.0, 9.0, 10.5, 1.0)
    assert len(growing) == 2999 and growing.bars.ts[-1] == 2999 * 60_000_000_000
