"""Run a strategy's `TargetSignals` through the simulated venue, visiting only the signal bars.

Equivalent to the bar loop for a strategy whose `on_bar` calls
`Strategy.hold(target)` on the signal bars and sends nothing else — which
is what `TargetSignals` promises. The orders are sent by that same `hold`
and go through the same `BacktestContext` and `SimulatedVenue` (ids,
checks, fills, fees, ledger), so nothing about execution is implemented
twice; only the `on_bar` calls between signals are skipped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from atb.engine.execution import FillTiming, SquareRootImpact
from atb.strategy.signals import TargetSignals

if TYPE_CHECKING:
    from atb.engine.backtest import Backtest


_CALLBACKS = ("on_start", "on_bar", "on_fill", "on_order", "on_stop")


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
