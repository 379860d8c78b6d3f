"""Run a strategy's `TargetSignals`, visiting only the signal bars.

Equivalent to the bar loop for a strategy whose `on_bar` calls
`Strategy.hold(target)` on the signal bars and sends nothing else — which
is what `TargetSignals` promises. Two ways, the same numbers:

* `run_signal_kernel` (the usual one): the columnar simulator of
  `signal_kernel`, no domain objects per order; it applies when the strategy
  keeps the base class's `hold`, `close` and order callbacks, and the slippage
  is none or fixed.
* `run_target_signals`: the orders are sent by the strategy's own `hold` and go
  through the same `BacktestContext` and `SimulatedVenue` (ids, checks, fills,
  fees, ledger) as in the bar loop; only the `on_bar` calls between signals are
  skipped. For strategies that customise how the orders are sent or observed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING

from atb.domain import Order, OrderFilled
from atb.engine.columns import FillColumns, OrderColumns
from atb.engine.execution import FillTiming, FixedBps, SquareRootImpact
from atb.engine.signal_columns import apply_ledger, fill_columns, materialise, order_columns
from atb.engine.signal_kernel import fill_prices, simulate
from atb.strategy.base import Strategy
from atb.strategy.signals import TargetSignals

if TYPE_CHECKING:
    from atb.engine.backtest import Backtest


_CALLBACKS = ("on_start", "on_bar", "on_fill", "on_order", "on_stop")
_KERNEL_FIXED = ("hold", "close", "position_of", "on_fill", "on_order")
"""Strategy methods the kernel does not call: a strategy that redefines one takes `run_target_signals`."""
_MAX_FRACTION = Decimal(100)


def _overrides_after_signals(strategy_cls: type) -> str:
    """A callback redefined in a subclass below the one that wrote `target_signals` breaks its promise."""
    mro = strategy_cls.__mro__
    owner = next(k for k, klass in enumerate(mro) if "target_signals" in vars(klass))
    for name in _CALLBACKS:
        defined = next(k for k, klass in enumerate(mro) if name in vars(klass))
        if defined < owner:
            return f"{mro[defined].__name__}.{name} overrides the class that provides target signals"
    return ""


def signals_supported(backtest: Backtest) -> str:
    """Why this run must go bar by bar ("" when the signal path gives identical results)."""
    inherited = _overrides_after_signals(type(backtest.strategy))
    if inherited:
        return inherited
    if len(backtest.markets) != 1:
        return "several instruments"
    if backtest.execution.latency_bars:
        return "latency"
    if isinstance(backtest.execution.slippage, SquareRootImpact):
        return "volume-capped slippage leaves orders working across bars"
    return ""


def run_target_signals(backtest: Backtest, signals: TargetSignals) -> None:
    """At each signal bar, `Strategy.hold` the target, then let the venue fill (the loop's work, signal bars only)."""
    ctx = backtest.ctx
    venue = backtest.venue
    ts = ctx._ts
    n = len(ts)
    at_close = backtest.execution.fill is FillTiming.CLOSE
    cursor = ctx.cursor
    fraction = signals.fraction
    hold = backtest.strategy.hold
    for bar, target in zip(signals.bars.tolist(), signals.targets.tolist(), strict=True):
        if bar >= n:
            break
        cursor.i = bar
        hold(target, fraction=fraction)
        if at_close:
            if venue.close_queue:
                venue.process_close(bar, ts[bar])
        elif venue.working and bar + 1 < n:
            venue.process_bar(bar + 1, ts[bar + 1])
    cursor.i = n - 1


@dataclass(frozen=True, slots=True)
class KernelOutput:
    """What the signal kernel leaves for the results: fill columns, and the orders on demand."""

    fills: FillColumns
    order_count: int
    order_columns: Callable[[], OrderColumns]
    objects: Callable[[], tuple[list[Order], list[OrderFilled]]]


def kernel_supported(backtest: Backtest, signals: TargetSignals) -> bool:
    """Whether `run_signal_kernel` reproduces `run_target_signals` for this run."""
    cls = type(backtest.strategy)
    if any(getattr(cls, name) is not getattr(Strategy, name) for name in _KERNEL_FIXED):
        return False
    slippage = backtest.execution.slippage
    if slippage is not None and type(slippage) is not FixedBps:
        return False
    # an invalid fraction must fail as `Order` fails it, at the first entry: the object path does that
    return Decimal(0) < signals.fraction <= _MAX_FRACTION


def run_signal_kernel(backtest: Backtest, signals: TargetSignals, prefix: str) -> KernelOutput:
    """Simulate the signals in columns and leave the account as the object path would (see `signal_kernel`)."""
    (market,) = backtest.markets.values()
    inst = market.instrument
    n = len(market)
    keep = signals.bars < n
    bars = signals.bars[keep]
    fill_bars, prices = fill_prices(
        bars, n, market.open, market.close, at_close=backtest.execution.fill is FillTiming.CLOSE
    )
    slippage = backtest.execution.slippage
    run = simulate(
        bars.tolist(),
        signals.targets[keep].tolist(),
        fill_bars.tolist(),
        prices.tolist(),
        n,
        inst,
        signals.fraction,
        backtest.account,
        slippage.bps if isinstance(slippage, FixedBps) else None,
    )
    ts = market.bars.ts
    apply_ledger(run, backtest.account, inst, ts)
    backtest.ctx.cursor.i = n - 1
    fraction = signals.fraction
    return KernelOutput(
        fills=fill_columns(run, ts, inst),
        order_count=len(run.orders.bar),
        order_columns=lambda: order_columns(run, ts, inst, prefix),
        objects=cache(lambda: materialise(run, ts, inst, fraction, prefix)),  # built once, on first use
    )
