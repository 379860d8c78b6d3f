"""`self.portfolio` inside a strategy: exact equity, cash and exposure across instruments."""

from __future__ import annotations

from decimal import Decimal

import numpy as np

from atb.data.loader import bars_from_arrays
from atb.domain import Instrument
from atb.engine.backtest import Backtest
from atb.strategy import Strategy

TS = np.arange(4, dtype=np.int64) * 3_600_000_000_000


def _bars(symbol: str, closes: list[float]) -> object:
    c = np.array(closes)
    return bars_from_arrays(TS, c, c, c, c, np.ones(4), symbol=symbol)


class Probe(Strategy):
    def on_start(self) -> None:
        self.seen: list[tuple[Decimal, Decimal, Decimal, Decimal, list[str]]] = []

    def on_bar(self) -> None:
        p = self.portfolio
        self.seen.append((p.equity, p.cash, p.gross_exposure, p.net_exposure, sorted(p.positions())))
        if len(self.seen) == 1:
            self.buy(quantity="2", symbol="AAA/USDT")
            self.sell(quantity="1", symbol="BBB/USDT")


def test_portfolio_view_tracks_both_instruments_exactly() -> None:
    inst = {
        s: Instrument.spot(s, tick="0.01", lot="0.001", maker_fee="0", taker_fee="0") for s in ("AAA/USDT", "BBB/USDT")
    }
    strategy = Probe()
    Backtest(
        strategy,
        [_bars("AAA/USDT", [10, 10, 11, 12]), _bars("BBB/USDT", [50, 50, 40, 45])],
        instruments=inst,
        cash="1000",
    ).run()
    # bar 1: bought 2 AAA at 10 and sold 1 BBB at 50 (opens of bar 1)
    equity, cash, gross, net, held = strategy.seen[1]
    assert cash == Decimal("1000") - 20 + 50
    assert equity == Decimal("1000")
    assert (gross, net) == (Decimal("70"), Decimal("-30"))
    assert held == ["AAA/USDT", "BBB/USDT"]
    # bar 2: AAA 11 (+2), BBB 40 (+10 on the short)
    equity, _, gross, net, _ = strategy.seen[2]
    assert equity == Decimal("1012")
    assert (gross, net) == (Decimal("62"), Decimal("-18"))


class Truthy(Strategy):
    def on_start(self) -> None:
        self.seen: list[bool] = []

    def on_bar(self) -> None:
        self.seen.append(bool(self.position))
        if not self.position:
            self.buy(quantity="1")


def test_position_is_falsy_while_flat_and_truthy_once_open() -> None:
    """`if not self.position:` must mean "flat" (a view object would otherwise always be truthy)."""
    strategy = Truthy()
    Backtest(strategy, _bars("AAA/USDT", [10.0, 11.0, 12.0, 13.0]), cash="100").run()
    assert strategy.seen == [False, True, True, True]  # the buy of bar 0 fills at bar 1's open, before its on_bar
