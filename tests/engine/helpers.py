"""Tiny hand-made bar sets and a scripted strategy for the engine tests.

Prices use tick 0.01 and lot 0.001 (quote precision 8, so one tick × one lot
is 1000 quote units of 1e-8), fees 0.001 unless a test says otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import ROUND_CEILING, Decimal
from typing import Any

import numpy as np

from atb.data.bars import Bars
from atb.data.loader import bars_from_arrays
from atb.domain import AccountMode, Fill, Instrument, Order
from atb.engine.backtest import Backtest
from atb.engine.execution import ExecutionConfig
from atb.engine.results import BacktestResult
from atb.strategy.base import Strategy

H = 3_600_000_000_000  # one hour in ns
T0 = 1_700_000_000 // 3600 * 3600 * 1_000_000_000  # an hour boundary in Nov 2023
SYM = "X/USD"

OHLC = tuple[float, float, float, float]


def make_bars(
    rows: Sequence[OHLC],
    *,
    symbol: str = SYM,
    volume: Sequence[float] | float = 1_000_000.0,
    start: int = T0,
    step: int = H,
) -> Bars:
    n = len(rows)
    arr = np.array(rows, dtype=np.float64).reshape(n, 4)
    vol = np.full(n, float(volume)) if isinstance(volume, (int, float)) else np.asarray(volume, dtype=np.float64)
    ts = start + np.arange(n, dtype=np.int64) * step
    return bars_from_arrays(ts, arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3], vol, symbol=symbol, timeframe_ns=step)


def flat_bars(n: int, price: float = 100.0, *, symbol: str = SYM) -> Bars:
    """Bars that never move: open = high = low = close."""
    return make_bars([(price, price, price, price)] * n, symbol=symbol)


def instrument(
    symbol: str = SYM,
    *,
    tick: str = "0.01",
    lot: str = "0.001",
    fee: str = "0.001",
    maker: str | None = None,
    taker: str | None = None,
    min_quantity: str = "0",
    min_notional: str = "0",
) -> Instrument:
    return Instrument.spot(
        symbol,
        tick=tick,
        lot=lot,
        min_quantity=min_quantity,
        min_notional=min_notional,
        maker_fee=maker if maker is not None else fee,
        taker_fee=taker if taker is not None else fee,
    )


Action = Callable[["Script"], Any]


class Script(Strategy):
    """Runs `plan[i]` (one action or a list of them) on bar i and records what comes back."""

    def __init__(self, plan: dict[int, Action | list[Action]] | None = None) -> None:
        super().__init__()
        self.plan = plan or {}
        self.placed: list[Order] = []
        self.fills_seen: list[tuple[int, Fill]] = []
        self.closed_seen: list[Order] = []
        self.bar = -1

    def on_bar(self) -> None:
        self.bar += 1
        actions = self.plan.get(self.bar, [])
        for action in actions if isinstance(actions, list) else [actions]:
            out = action(self)
            if isinstance(out, Order):
                self.placed.append(out)

    def on_fill(self, fill: Fill) -> None:
        self.fills_seen.append((self.bar, fill))

    def on_order(self, order: Order) -> None:
        self.closed_seen.append(order)


def run(
    strategy: Strategy,
    bars: Bars | Sequence[Bars],
    *,
    inst: Instrument | Sequence[Instrument] | None = None,
    cash: str = "10000",
    mode: AccountMode = AccountMode.MARGIN,
    execution: ExecutionConfig | None = None,
    **kwargs: Any,
) -> tuple[BacktestResult, Backtest]:
    if inst is None:
        insts: list[Instrument] = [instrument(b.symbol) for b in ([bars] if isinstance(bars, Bars) else bars)]
    else:
        insts = [inst] if isinstance(inst, Instrument) else list(inst)
    bt = Backtest(
        strategy,
        bars,
        instruments={str(i.id): i for i in insts},
        cash=cash,
        mode=mode,
        execution=execution,
        **kwargs,
    )
    return bt.run(), bt


def fill_rows(bt: Backtest) -> list[tuple[int, str, Decimal, Decimal, Decimal, str]]:
    """(bar, side, price, quantity, fee, liquidity) for every fill, as exact Decimals."""
    return [
        (bar, f.side.value, f.price.value, f.quantity.value, f.fee.amount, f.liquidity.value)
        for f, bar in zip(bt.fills, bt.fill_bars, strict=True)
    ]


def fee(notional: str | Decimal, rate: str = "0.001") -> Decimal:
    """Fee rounded UP to 1e-8 quote units, computed independently of the engine."""
    exact = Decimal(notional) * Decimal(rate)
    return exact.quantize(Decimal("1e-8"), rounding=ROUND_CEILING)


def random_walk_bars(n: int, seed: int, *, symbol: str = SYM, start_price: float = 100.0) -> Bars:
    """A seeded geometric random walk on a 0.01 grid with consistent OHLC (next open = previous close)."""
    rng = np.random.default_rng(seed)
    close = np.round(start_price * np.exp(np.cumsum(rng.normal(0.0, 0.015, n))), 2)
    open_ = np.concatenate(([start_price], close[:-1]))
    high = np.round(np.maximum(open_, close) + np.abs(rng.normal(0.0, 0.5, n)), 2)
    low = np.round(np.minimum(open_, close) - np.abs(rng.normal(0.0, 0.5, n)), 2)
    low = np.maximum(low, 0.01)
    volume = np.round(rng.uniform(50.0, 150.0, n), 3)
    ts = T0 + np.arange(n, dtype=np.int64) * H
    return bars_from_arrays(ts, open_, high, low, close, volume, symbol=symbol, timeframe_ns=H)
