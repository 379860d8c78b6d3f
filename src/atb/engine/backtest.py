"""The event-driven backtest: one Python `on_bar` call per bar, exact ledger, vectorised results.

The loop is deliberately tiny: set the cursor, call the strategy, and touch
the venue only when orders exist. Everything per-bar that is not the
strategy's own decision (equity curve, exposure, drawdowns, MAE/MFE) is
rebuilt after the run from the fills, with numpy.
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from decimal import Decimal
from functools import partial

import numpy as np

from atb.data.bars import Bars
from atb.data.resample import parse_timeframe, resample
from atb.domain import Account, AccountMode, ClientOrderIdFactory, Instrument, Money, Order, OrderFilled
from atb.engine.columns import FillColumns, OrderColumns
from atb.engine.context import BacktestContext
from atb.engine.execution import ExecutionConfig
from atb.engine.gc_pause import gc_paused
from atb.engine.market import MarketData, instrument_for
from atb.engine.result_build import build_result
from atb.engine.results import BacktestResult
from atb.engine.signal_runner import (
    KernelOutput,
    kernel_supported,
    run_signal_kernel,
    run_target_signals,
    signals_supported,
)
from atb.engine.venue import SimulatedVenue
from atb.errors import UserInputError
from atb.strategy.base import Strategy
from atb.strategy.signals import TargetSignals

ProgressCallback = Callable[[int, int], None]
_CHUNK = 1 << 16
_ORDER_ID_PREFIX = "bt"


class StrategyError(UserInputError):
    """The strategy's own code raised; the message names the bar and the line."""


def _resample_by_name(bars: Bars, timeframe: str) -> tuple[Bars, int]:
    ns = parse_timeframe(timeframe)
    return resample(bars, ns), ns


class Backtest:
    """Wire a strategy, data and an account; `run()` returns a `BacktestResult`.

    `data` is one `Bars` or several (multi-asset); the first is the primary
    instrument (`strategy.data`). Several instruments must share timestamps.
    """

    def __init__(
        self,
        strategy: Strategy,
        data: Bars | Sequence[Bars],
        *,
        instruments: dict[str, Instrument] | None = None,
        cash: str | int | Decimal = "10000",
        mode: AccountMode = AccountMode.MARGIN,
        leverage: str | int | Decimal = 1,
        execution: ExecutionConfig | None = None,
        fee: str | None = None,
        equity_points: int = 10_000,
        engine: str = "auto",
    ) -> None:
        series = [data] if isinstance(data, Bars) else list(data)
        if not series:
            raise UserInputError("no data to backtest")
        for bars in series[1:]:
            if len(bars) != len(series[0]) or not np.array_equal(bars.ts, series[0].ts):
                raise UserInputError(
                    f"{bars.symbol} and {series[0].symbol} do not share timestamps; multi-asset runs need aligned bars"
                )
        if len(series[0]) < 2:
            raise UserInputError("a backtest needs at least 2 bars")
        if equity_points < 0:
            raise UserInputError("equity_points must be >= 0 (0 = every bar)")
        if engine not in ("auto", "event", "signals"):
            raise UserInputError(f"engine must be auto, event or signals, got {engine!r}")
        self.engine = engine
        instruments = dict(instruments or {})
        markets: dict[str, MarketData] = {}
        for bars in series:
            inst = instruments.get(bars.symbol) or instrument_for(bars, fee=fee)
            if str(inst.id) in markets:
                raise UserInputError(f"{inst.id} appears twice in the data")
            markets[str(inst.id)] = MarketData.build(inst, bars)
        quotes = {m.instrument.quote for m in markets.values()}
        if len(quotes) != 1:
            raise UserInputError("all instruments of one run must share a quote currency")
        (quote,) = quotes
        try:
            cash_money = Money.of(str(cash), quote)
            leverage_d = Decimal(str(leverage))
        except (ArithmeticError, ValueError) as exc:
            raise UserInputError(f"bad cash or leverage: {exc}") from None
        self.strategy = strategy
        self.markets = markets
        self.primary = next(iter(markets))
        self.account = Account(quote, cash_money, mode=mode, leverage=leverage_d)
        self.execution = execution or ExecutionConfig()
        self.equity_points = equity_points
        self._orders: list[Order] = []
        self._fills: list[OrderFilled] = []
        self._fill_bars: list[int] = []
        self._kernel: KernelOutput | None = None
        self.venue = SimulatedVenue(self.account, markets, self.execution, self._on_fill, self._on_order_closed)
        self.ctx = BacktestContext(
            markets,
            self.primary,
            self.account,
            self.venue,
            ClientOrderIdFactory(_ORDER_ID_PREFIX),
            _resample_by_name,
            self._orders.append,
        )

    # --- what the run produced (the signal kernel's only as columns until asked for) ---------
    @property
    def orders(self) -> list[Order]:
        return self._kernel.objects()[0] if self._kernel is not None else self._orders

    @property
    def fills(self) -> list[OrderFilled]:
        return self._kernel.objects()[1] if self._kernel is not None else self._fills

    @property
    def fill_bars(self) -> list[int]:
        return self._kernel.fills.bar if self._kernel is not None else self._fill_bars

    # --- venue → strategy -------------------------------------------------------------------
    def _on_fill(self, fill: OrderFilled, order: Order) -> None:
        self._fills.append(fill)
        self._fill_bars.append(self.venue.bar)
        self.strategy.on_fill(fill)

    def _on_order_closed(self, order: Order) -> None:
        self.strategy.on_order(order)

    # --- the loop ---------------------------------------------------------------------------
    def run(self, progress: ProgressCallback | None = None) -> BacktestResult:
        self.strategy.bind(self.ctx)
        self.timings: dict[str, float] = {}
        with gc_paused():
            try:
                signals = self._signals()
                if signals is None:
                    self.engine_used = "event"
                    self._loop(progress)
                else:
                    self.engine_used = "signals"
                    started = time.perf_counter()
                    if kernel_supported(self, signals):
                        self._kernel = run_signal_kernel(self, signals, _ORDER_ID_PREFIX)
                    else:
                        run_target_signals(self, signals)
                    self.strategy.warmup_bars = signals.warmup_bars
                    self.timings["loop_s"] = time.perf_counter() - started
            except UserInputError:
                raise
            except Exception as exc:
                raise _strategy_error(exc, self.ctx.cursor.i, self.ctx._ts[self.ctx.cursor.i]) from exc
            started = time.perf_counter()
            result = self._result()
            self.timings["results_s"] = time.perf_counter() - started
            return result

    def _signals(self) -> TargetSignals | None:
        """The strategy's vectorised decisions when this run may use them (see `signal_runner`)."""
        if self.engine == "event":
            return None
        unsupported = signals_supported(self)
        started = time.perf_counter()
        signals = None if unsupported else self.strategy.target_signals()
        self.timings["on_start_s"] = time.perf_counter() - started
        if self.engine == "signals" and signals is None:
            reason = unsupported or f"{type(self.strategy).__name__} does not provide target signals"
            raise UserInputError(f"--engine signals is not possible here: {reason}")
        return signals

    def _loop(self, progress: ProgressCallback | None) -> None:
        strategy = self.strategy
        n = len(self.markets[self.primary])
        ts: list[int] = self.ctx._ts
        cursor = self.ctx.cursor
        venue = self.venue
        working = venue.working
        close_queue = venue.close_queue
        on_bar = strategy.on_bar
        started = time.perf_counter()
        strategy.on_start()
        self.timings["on_start_s"] = time.perf_counter() - started
        started = time.perf_counter()
        for start in range(0, n, _CHUNK):
            for i in range(start, min(start + _CHUNK, n)):
                if working:
                    venue.process_bar(i, ts[i])
                cursor.i = i
                on_bar()
                if close_queue:
                    venue.process_close(i, ts[i])
            if progress is not None:
                progress(min(start + _CHUNK, n), n)
        strategy.on_stop()
        self.timings["loop_s"] = time.perf_counter() - started

    # --- stepping: the same per-bar work as `_loop`, driven from outside (the paper node) ------
    def start(self, *, pause_gc: bool = True) -> None:
        """Bind the strategy and run `on_start`; then call `step(i)` for i = 0, 1, ... and `finish()`.

        `_loop` stays the backtest's own copy of the per-bar work so that its speed does not pay
        for a method call per bar; `step` must do exactly what one iteration of `_loop` does,
        which the paper parity test checks. `pause_gc` pauses the collector until `finish()` (or
        `close()`) as `run()` does; a long-running live node should pass False.
        """
        if self.engine == "signals":
            raise UserInputError("a stepped run calls on_bar on every bar; --engine signals is not possible here")
        self.engine_used = "event"
        self.timings = {}
        self._played = 0
        self._gc = ExitStack()
        if pause_gc:
            self._gc.enter_context(gc_paused())
        self.strategy.bind(self.ctx)
        started = time.perf_counter()
        self._guarded(self.strategy.on_start)
        self.timings["on_start_s"] = time.perf_counter() - started
        self._started = time.perf_counter()

    def step(self, i: int) -> None:
        """Process bar i: match working orders, show the bar to the strategy, fill at-close orders."""
        ts = self.ctx._ts[i]
        venue = self.venue
        try:
            if venue.working:
                venue.process_bar(i, ts)
            self.ctx.cursor.i = i
            self.strategy.on_bar()
            if venue.close_queue:
                venue.process_close(i, ts)
        except UserInputError:
            raise
        except Exception as exc:
            raise _strategy_error(exc, self.ctx.cursor.i, self.ctx._ts[self.ctx.cursor.i]) from exc
        self._played = i + 1

    def finish(self, *, cancel_reason: str | None = None) -> BacktestResult:
        """End a stepped run: optionally cancel open orders, `on_stop`, results over the bars played.

        A run stopped before the last bar reports on bars [0, last step] only, as if the data ended
        there; `cancel_reason` cancels whatever is still open at that bar first.
        """
        try:
            if cancel_reason is not None:
                ts = self.ctx._ts[self.ctx.cursor.i]
                for order in self.venue.open_orders():
                    self._guarded(partial(self.venue.cancel, order, ts, cancel_reason))
            self._guarded(self.strategy.on_stop)
            self.timings["loop_s"] = time.perf_counter() - self._started
            played = max(self._played, 2)  # a result needs two bars, as a backtest does
            if played < len(self.markets[self.primary]):
                self.markets = {
                    sym: MarketData(
                        m.instrument,
                        m.bars.slice(0, played),
                        m.open[:played],
                        m.high[:played],
                        m.low[:played],
                        m.close[:played],
                    )
                    for sym, m in self.markets.items()
                }
            started = time.perf_counter()
            result = self._result()
            self.timings["results_s"] = time.perf_counter() - started
            return result
        finally:
            self.close()

    def close(self) -> None:
        """Restore the garbage collector after a stepped run (idempotent; `finish` calls it)."""
        gc_stack = getattr(self, "_gc", None)
        if gc_stack is not None:
            gc_stack.close()

    def _guarded(self, call: Callable[[], object]) -> None:
        run_strategy_code(call, lambda: (self.ctx.cursor.i, self.ctx._ts[self.ctx.cursor.i]))

    # --- results ----------------------------------------------------------------------------
    def _result(self) -> BacktestResult:
        kernel = self._kernel
        if kernel is not None:
            return build_result(
                self,
                kernel.fills,
                order_count=kernel.order_count,
                order_columns=kernel.order_columns,
                objects=kernel.objects,
            )
        orders, fills = self._orders, self._fills
        instruments = [m.instrument for m in self.markets.values()]
        return build_result(
            self,
            FillColumns.from_fills(fills, self._fill_bars, instruments),
            order_count=len(orders),
            order_columns=lambda: OrderColumns.from_orders(orders),
            objects=lambda: (orders, fills),
        )


_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_BUILTIN_DIR = os.path.join(_PACKAGE_DIR, "strategy", "builtin")


def _is_strategy_code(filename: str) -> bool:
    """Outside the atb package (by location, not by an 'atb' in the path), or a built-in strategy."""
    path = os.path.abspath(filename)
    return path.startswith(_BUILTIN_DIR + os.sep) or not path.startswith(_PACKAGE_DIR + os.sep)


def run_strategy_code(call: Callable[[], object], where: Callable[[], tuple[int, int]]) -> None:
    """Call a strategy hook; its own exceptions become a `StrategyError` naming the bar (`where()`: index, ns)."""
    try:
        call()
    except UserInputError:
        raise
    except Exception as exc:
        bar, ts_ns = where()
        raise _strategy_error(exc, bar, ts_ns) from exc


def _strategy_error(exc: Exception, bar: int, ts_ns: int) -> StrategyError:
    frames = traceback.extract_tb(exc.__traceback__)
    where = ""
    # The engine calls the strategy, so the outermost non-engine frame is the strategy's file; the
    # line named is the deepest one in that file (not one inside numpy or the stdlib it called).
    strategy_file = next((f.filename for f in frames if _is_strategy_code(f.filename)), None)
    for frame in reversed(frames):
        if frame.filename == strategy_file:
            where = f" ({frame.filename}:{frame.lineno} in {frame.name})"
            break
    stamp = np.datetime_as_string(np.int64(ts_ns).astype("datetime64[ns]"), unit="s")
    return StrategyError(f"strategy raised {type(exc).__name__}: {exc} at bar {bar} ({stamp}Z){where}")
