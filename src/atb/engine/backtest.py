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
from itertools import accumulate
from typing import Any

import numpy as np

from atb.analytics.performance import EquityCurve, compute_stats, returns, var_cvar_historical
from atb.analytics.trade_stats import TradeArrays
from atb.data.bars import Bars
from atb.data.resample import parse_timeframe, resample
from atb.domain import Account, AccountMode, ClientOrderIdFactory, Instrument, Money, Order, OrderFilled, OrderSide
from atb.engine.context import BacktestContext
from atb.engine.execution import ExecutionConfig
from atb.engine.formatting import fixed_str
from atb.engine.gc_pause import gc_paused
from atb.engine.market import MarketData, instrument_for
from atb.engine.results import BacktestResult
from atb.engine.signal_runner import run_target_signals, signals_supported
from atb.engine.trades import build_trades, excursions
from atb.engine.venue import SimulatedVenue
from atb.errors import UserInputError
from atb.strategy.base import Strategy
from atb.strategy.signals import TargetSignals

ProgressCallback = Callable[[int, int], None]
_CHUNK = 1 << 16


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
        self.orders: list[Order] = []
        self.fills: list[OrderFilled] = []
        self.fill_bars: list[int] = []
        self.venue = SimulatedVenue(self.account, markets, self.execution, self._on_fill, self._on_order_closed)
        self.ctx = BacktestContext(
            markets,
            self.primary,
            self.account,
            self.venue,
            ClientOrderIdFactory("bt"),
            _resample_by_name,
            self.orders.append,
        )

    # --- venue → strategy -------------------------------------------------------------------
    def _on_fill(self, fill: OrderFilled, order: Order) -> None:
        self.fills.append(fill)
        self.fill_bars.append(self.venue.bar)
        self.strategy.on_fill(fill)

    def _on_order_closed(self, order: Order) -> None:
        self.strategy.on_order(order)

    # --- the loop ---------------------------------------------------------------------------
    def run(self, progress: ProgressCallback | None = None) -> BacktestResult:
        self.strategy.bind(self.ctx)
        ts = self.ctx._ts
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
                    run_target_signals(self, signals)
                    self.strategy.warmup_bars = signals.warmup_bars
                    self.timings["loop_s"] = time.perf_counter() - started
            except UserInputError:
                raise
            except Exception as exc:
                raise _strategy_error(exc, self.ctx.cursor.i, ts[self.ctx.cursor.i] if ts else 0) from exc
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
        primary = self.markets[self.primary]
        bars = primary.bars
        n = len(bars)
        ts = bars.ts
        fill_bars = np.asarray(self.fill_bars, dtype=np.int64)
        fills = self.fills
        # One pass over the fills into columns; cash after each fill stays exact (Python ints).
        signed = [f.lots if f.side is OrderSide.BUY else -f.lots for f in fills]
        cash_steps = list(
            accumulate(
                (
                    -(q * f.ticks * f.instrument.notional_factor) - f.fee_units
                    for q, f in zip(signed, fills, strict=True)
                ),
                initial=self.account.initial_units,
            )
        )
        symbols = list(self.markets)
        owner = np.array([symbols.index(f.instrument.id) for f in fills], dtype=np.int64) if len(symbols) > 1 else None
        signed_arr = np.array(signed, dtype=np.int64)
        last_fill = np.searchsorted(fill_bars, np.arange(n), side="right")  # fills booked by bar i's close
        equity_f = np.asarray(cash_steps, dtype=np.float64)[last_fill]
        exposed = np.zeros(n, dtype=bool)
        lots_by_symbol: dict[str, np.ndarray[Any, Any]] = {}
        for j, (sym, market) in enumerate(self.markets.items()):
            deltas = np.zeros(len(fills) + 1, dtype=np.int64)
            deltas[1:] = signed_arr if owner is None else np.where(owner == j, signed_arr, 0)
            lots_steps = np.cumsum(deltas)
            lots_bar = lots_steps[last_fill]
            lots_by_symbol[sym] = lots_steps
            exposed |= lots_bar != 0
            equity_f += (
                lots_bar.astype(np.float64) * market.close.astype(np.float64) * market.instrument.notional_factor
            )
        scale = 10.0**self.account.currency.precision
        equity_f /= scale

        # exact equity at the sampled points
        every = 1 if self.equity_points == 0 or n <= self.equity_points else -(-n // self.equity_points)
        sample = np.arange(0, n, every, dtype=np.int64)
        if sample[-1] != n - 1:
            sample = np.append(sample, n - 1)
        at_fill = last_fill[sample]
        values = [cash_steps[k] for k in at_fill.tolist()]
        for sym, market in self.markets.items():
            lots_at = lots_by_symbol[sym][at_fill].tolist()
            closes = market.close[sample].tolist()
            factor = market.instrument.notional_factor
            values = [v + q * c * factor for v, q, c in zip(values, lots_at, closes, strict=True)]
        equity_exact = dict(zip(sample.tolist(), values, strict=True))

        last_close = {sym: int(m.close[n - 1]) for sym, m in self.markets.items()}
        trades = build_trades(fills, signed, self.fill_bars, last_close, n - 1, int(ts[n - 1]))
        entry_price = np.array(
            [t.entry_notional / (t.lots * t.instrument.notional_factor) * float(t.instrument.tick) for t in trades],
            dtype=np.float64,
        )
        mae, mfe = excursions(
            trades,
            entry_price,
            {s: m.bars.high for s, m in self.markets.items()},
            {s: m.bars.low for s, m in self.markets.items()},
        )
        trade_arrays = TradeArrays(
            pnl=np.array([t.pnl_units for t in trades], dtype=np.float64) / scale,
            return_pct=np.array(
                [t.pnl_units / t.entry_notional * 100.0 if t.entry_notional else 0.0 for t in trades], dtype=np.float64
            ),
            entry_ts=np.array([t.entry_ts for t in trades], dtype=np.int64),
            exit_ts=np.array([t.exit_ts for t in trades], dtype=np.int64),
            fees=np.array([t.fees for t in trades], dtype=np.float64) / scale,
        )
        initial = self.account.initial_units / scale
        curve = EquityCurve(equity=equity_f, ts=ts, timeframe_ns=bars.timeframe_ns, exposed=exposed)
        stats = compute_stats(
            curve, trade_arrays, close=bars.close, initial_cash=initial, total_fees=self.account.fees_units / scale
        )
        risk = var_cvar_historical(returns(equity_f, initial), 0.95)
        stats["var_95_pct"] = None if risk is None else risk[0]
        stats["cvar_95_pct"] = None if risk is None else risk[1]
        stats["warmup_bars"] = self.strategy.warmup_bars
        stats["orders"] = len(self.orders)
        stats["final_equity_exact"] = fixed_str(equity_exact[n - 1], self.account.currency.precision)
        meta = {
            "strategy": type(self.strategy).name or type(self.strategy).__name__,
            "params": self.strategy.params,
            "symbols": list(self.markets),
            "timeframe_s": bars.timeframe_ns // 1_000_000_000,
            "cash": str(Money.from_units(self.account.initial_units, self.account.currency).amount),
            "account_mode": self.account.mode.value,
            "leverage": str(self.account.leverage),
            "fill": self.execution.fill.value,
            "engine": self.engine_used,
            "latency_bars": self.execution.latency_bars,
            "equity_every": every,
            "_grids": {s: (m.instrument.lot, m.instrument.tick) for s, m in self.markets.items()},
        }
        return BacktestResult(
            stats=stats,
            trades=trades,
            orders=self.orders,
            fills=self.fills,
            account=self.account,
            ts=ts,
            equity=equity_f,
            equity_exact=equity_exact,
            mae_pct=mae,
            mfe_pct=mfe,
            meta=meta,
            messages=self.ctx.messages,
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
