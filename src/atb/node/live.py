"""The trading node on live market data: `atb live` (real venue) and `atb paper --live` (simulated venue).

One asyncio process. At start it rebuilds the run's ledger from the database, reconciles with
the venue, loads warm-up bars and calls `on_start`. Then for each closed bar: (paper: the
simulated venue matches on it) → the bar is appended and indicators recomputed → venue sync
(fills, final states) → `on_bar` → approved orders sent → sync again. A background task syncs
between bars so fills reach the strategy without waiting for the next bar. Every venue step
runs under one lock, so a fill is never booked twice by two overlapping syncs.

SIGINT/SIGTERM stop gracefully (open orders cancelled or left, by configuration); the kill
switch (drawdown limit, or `atb kill` setting the run's halt flag) cancels, flattens and halts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
import time
from collections.abc import AsyncIterable, Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from atb.data.resample import parse_timeframe
from atb.domain import Account, AccountMode, ClientOrderIdFactory, Instrument, Money, Order, OrderFilled
from atb.engine.backtest import StrategyError, run_strategy_code
from atb.errors import UserInputError
from atb.node.bus import EventBus
from atb.node.exchange import ExchangeClient
from atb.node.kill import KillReport, execute_kill
from atb.node.live_feed import LiveBar
from atb.node.live_market import GrowingBars, LiveContext
from atb.node.persistence import NodeStore
from atb.node.reconcile import ReconcileReport, rebuild_account, reconcile
from atb.node.router import OrderRouter
from atb.risk import RiskConfig, RiskEngine
from atb.store import RunStatus, session_scope
from atb.store.run_state import run_orders
from atb.strategy.base import Strategy

FeedFactory = Callable[[int | None], AsyncIterable[Mapping[str, LiveBar]]]
"""Given the open time (ms) of the last warm-up bar, the closed bars after it, one dict per timestamp."""

StopOrders = Literal["cancel", "leave"]
HALT_CHECK_SECONDS = 1.0


@dataclass(frozen=True)
class NodeSettings:
    symbols: tuple[str, ...]
    timeframe: str
    cash: Decimal
    """The capital this run trades with, in the quote currency (not the whole venue balance)."""
    warmup_bars: int = 500
    sync_seconds: float = 5.0
    on_stop_orders: StopOrders = "cancel"
    client_id_prefix: str = "atb"
    max_bars: int | None = None
    """Stop after this many live bars (tests, dry runs); None runs until stopped."""


@dataclass
class NodeSummary:
    run_id: str
    bars: int = 0
    orders: int = 0
    fills: int = 0
    status: RunStatus = RunStatus.STOPPED
    reconcile: ReconcileReport | None = None
    kill: KillReport | None = None
    equity: Decimal | None = None
    messages: list[str] = field(default_factory=list)


class LiveNode:
    """Wire strategy, feed, venue, risk engine, ledger and database for one run; `await run()`."""

    def __init__(
        self,
        strategy: Strategy,
        exchange: ExchangeClient,
        store: NodeStore,
        feed: FeedFactory,
        settings: NodeSettings,
        *,
        risk: RiskConfig | None = None,
        logger: logging.Logger | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
        bus: EventBus | None = None,
    ) -> None:
        if not settings.symbols:
            raise UserInputError("the node needs at least one symbol")
        if settings.on_stop_orders not in ("cancel", "leave"):
            raise UserInputError(f"on_stop_orders must be cancel or leave, got {settings.on_stop_orders!r}")
        self.strategy = strategy
        self.exchange = exchange
        self.store = store
        self.feed = feed
        self.settings = settings
        self.log = logger or logging.getLogger("atb.node")
        self.clock_ns = clock_ns
        self.risk = RiskEngine(risk or RiskConfig(), clock_ns)
        self.bus = bus if bus is not None else EventBus()
        """Fills, closed orders, equity per bar and status changes, for subscribers such as the API."""
        self._lock = asyncio.Lock()
        self._halt_checked = float("-inf")
        self._stop = asyncio.Event()
        self.summary = NodeSummary(store.run_id)
        self.router: OrderRouter | None = None
        self.context: LiveContext | None = None
        self.ready = asyncio.Event()
        """Set once reconciliation and warm-up are done and the node waits for live bars."""

    def request_stop(self) -> None:
        self._stop.set()

    # --- set-up -----------------------------------------------------------------------------------
    async def _instruments(self) -> dict[str, Instrument]:
        known = await self.exchange.load_instruments()
        missing = [s for s in self.settings.symbols if s not in known]
        if missing:
            raise UserInputError(f"the venue does not list {', '.join(missing)}")
        chosen = {s: known[s] for s in self.settings.symbols}
        if len({i.quote for i in chosen.values()}) != 1:
            raise UserInputError("all symbols of one run must share a quote currency")
        return chosen

    async def _warmup(self, instruments: Mapping[str, Instrument]) -> dict[str, GrowingBars]:
        """The last closed bars per symbol, on the timestamps every symbol has."""
        tf_ns = parse_timeframe(self.settings.timeframe)
        tf_ms = tf_ns // 1_000_000
        now_ms = self.clock_ns() // 1_000_000
        rows: dict[str, dict[int, tuple[float, ...]]] = {}
        for sym in instruments:
            raw = await self.exchange.ohlcv(sym, self.settings.timeframe, None, self.settings.warmup_bars + 1)
            rows[sym] = {r[0]: r[1:] for r in raw if r[0] + tf_ms <= now_ms}
        common = sorted(set.intersection(*(set(r) for r in rows.values()))) if rows else []
        common = common[-self.settings.warmup_bars :] if self.settings.warmup_bars else []
        out = {}
        for sym in instruments:
            growing = GrowingBars(sym, tf_ns)
            for ts in common:
                o, h, low, c, v = rows[sym][ts]
                growing.append(ts * 1_000_000, o, h, low, c, v)
            out[sym] = growing
        return out

    def _account(self, instruments: Mapping[str, Instrument]) -> Account:
        quote = next(iter(instruments.values())).quote
        try:
            cash = Money.of(self.settings.cash, quote)
        except (ArithmeticError, ValueError) as exc:
            raise UserInputError(f"bad cash {self.settings.cash}: {exc}") from None
        return Account(quote, cash, mode=AccountMode.SPOT)

    # --- the run ------------------------------------------------------------------------------------
    async def open_run(self) -> OrderRouter:
        """Rebuild the run's ledger from the database and reconcile it with the venue.

        `run` starts with this; `atb kill` uses it alone, to cancel and flatten a run with the same
        order path (and the same continuing client order ids) as the node that traded it.
        """
        instruments = await self._instruments()
        account = self._account(instruments)
        seen = rebuild_account(account, self.store)
        router = self.router = self._router(account, instruments)
        router.seen(seen)
        balances = await self.exchange.balances()
        router.update_balances(balances)
        self.store.snapshot_balances(balances)
        async with self._lock:
            self.summary.reconcile = await reconcile(router, self.store, balances, logger=self.log)
        return router

    async def run(self) -> NodeSummary:
        restore = self._install_signal_handlers()
        sync_task: asyncio.Task[None] | None = None
        try:
            router = await self.open_run()
            bars = await self._warmup(router.instruments)
            if not any(len(b) for b in bars.values()):
                raise UserInputError("the venue returned no closed bars to start from")
            ctx = self.context = LiveContext(bars, router.instruments, router.account, router, logger=self.log)
            self.strategy.bind(ctx)
            self._guarded(self.strategy.on_start)
            last_ts = bars[self.settings.symbols[0]].last_ts
            sync_task = asyncio.create_task(self._sync_forever())
            self.ready.set()
            await self._consume(self.feed(None if last_ts is None else last_ts // 1_000_000))
        finally:
            if sync_task is not None:
                sync_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sync_task
            restore()
        return self.summary

    async def _consume(self, feed: AsyncIterable[Mapping[str, LiveBar]]) -> None:
        router, ctx = self.router, self.context
        assert router is not None and ctx is not None
        iterator = aiter(feed)
        stop_wait = asyncio.ensure_future(self._stop.wait())
        try:
            while not self._stop.is_set():
                next_bar = asyncio.ensure_future(anext(iterator))
                done, _ = await asyncio.wait({next_bar, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
                if next_bar not in done:
                    next_bar.cancel()
                    with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                        await next_bar
                    break
                try:
                    bars = next_bar.result()
                except StopAsyncIteration:
                    break
                if await self._on_bar(bars):
                    return
                if self.settings.max_bars is not None and self.summary.bars >= self.settings.max_bars:
                    break
            await self._shutdown(RunStatus.STOPPED)
        finally:
            stop_wait.cancel()
            stop_feed = getattr(feed, "stop", None)
            if stop_feed is not None:
                stop_feed()
            aclose = getattr(iterator, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(aclose(), 5)

    async def _on_bar(self, bars: Mapping[str, LiveBar]) -> bool:
        """Process one closed bar; True when the run was halted (and the node must stop)."""
        router, ctx = self.router, self.context
        assert router is not None and ctx is not None
        if self._halt_flag_set():
            await self._halt("halt flag set in the database (atb kill)", flatten=False)
            return True
        ts_ms = next(iter(bars.values())).ts_ms
        async with self._lock:
            bar_opened = getattr(self.exchange, "bar_opened", None)
            if bar_opened is not None:
                bar_opened(bars, ts_ms * 1_000_000)
            rows = {s: (b.open, b.high, b.low, b.close, b.volume) for s, b in bars.items()}
            ctx.append(rows, ts_ms * 1_000_000)
            self.strategy.refresh_indicators()
            self.summary.bars += 1
            await router.sync()
            equity = Decimal(ctx.equity_units()).scaleb(-router.account.currency.precision)
            self.summary.equity = equity
            self.bus.publish("equity", {"bar_ts_ms": ts_ms, "equity": str(equity)})
            self.risk.observe_equity(equity)
        if self.risk.kill_switch.tripped:
            await self._halt(self.risk.kill_switch.reason or "kill switch tripped", flatten=True)
            return True
        async with self._lock:
            self._guarded(self.strategy.on_bar)
            await router.flush()
            bar_closed = getattr(self.exchange, "bar_closed", None)
            if bar_closed is not None:
                bar_closed()
            await router.sync()
        return False

    def _halt_flag_set(self) -> bool:
        """Read the run's halt flag, at most once per `HALT_CHECK_SECONDS` (a database round trip per bar
        would cost more than the rest of the bar on fast replays; a kill reacts within a second)."""
        now = time.monotonic()
        if now - self._halt_checked < HALT_CHECK_SECONDS:
            return False
        self._halt_checked = now
        return self.store.status() is RunStatus.HALTED

    async def _sync_forever(self) -> None:
        router = self.router
        assert router is not None
        while True:
            await asyncio.sleep(self.settings.sync_seconds)
            try:
                async with self._lock:
                    await router.sync()
            except Exception:
                self.log.exception("background sync failed; retrying")

    async def _shutdown(self, status: RunStatus) -> None:
        router = self.router
        assert router is not None
        async with self._lock:
            if self.settings.on_stop_orders == "cancel":
                for order in router.open_orders():
                    router.cancel(order)
                await router.flush()
                await router.sync()
            self._guarded(self.strategy.on_stop)
        self.store.finish(status)
        self.summary.status = status
        self.bus.publish("status", {"status": status.value})
        self._finish_summary()

    async def _halt(self, reason: str, *, flatten: bool) -> None:
        router = self.router
        assert router is not None
        self.log.error("halting: %s", reason)
        async with self._lock:
            self.summary.kill = await execute_kill(router, self.store, reason, actor="node", flatten=flatten)
            self._guarded(self.strategy.on_stop)
        self.summary.status = RunStatus.HALTED
        self._finish_summary()

    def _finish_summary(self) -> None:
        if self.router is not None:
            self.summary.orders = self.router.submitted
        ctx = self.context
        if ctx is not None:
            self.summary.messages = [m for _, m in ctx.messages]

    # --- wiring ---------------------------------------------------------------------------------------
    def _router(self, account: Account, instruments: Mapping[str, Instrument]) -> OrderRouter:
        def marks() -> dict[str, int]:
            ctx = self.context
            if ctx is not None:
                return ctx.marks()
            return {}

        def on_fill(fill: OrderFilled) -> None:
            self.summary.fills += 1
            self.bus.publish(
                "fill",
                {
                    "client_order_id": fill.client_order_id,
                    "trade_id": fill.trade_id,
                    "symbol": fill.instrument_id,
                    "side": fill.side.value,
                    "quantity": str(fill.quantity.value),
                    "price": str(fill.price.value),
                    "fee": str(fill.fee.amount),
                },
            )
            if self.context is not None:
                self._guarded(lambda: self.strategy.on_fill(fill))

        def on_order(order: Order) -> None:
            self.bus.publish(
                "order",
                {
                    "client_order_id": order.client_order_id,
                    "symbol": order.instrument_id,
                    "status": order.status.value,
                    "reason": order.reason,
                },
            )
            if self.context is not None:
                self._guarded(lambda: self.strategy.on_order(order))

        prefix = f"{self.settings.client_id_prefix}{self.store.run_id[:6]}"
        ids = _resuming_ids(prefix, self.store)
        return OrderRouter(
            self.exchange,
            self.store,
            account,
            instruments,
            self.risk,
            ids,
            marks=marks,
            on_fill=on_fill,
            on_order=on_order,
            logger=self.log,
            clock_ns=self.clock_ns,
        )

    def _guarded(self, call: Callable[[], object]) -> None:
        ctx = self.context
        run_strategy_code(call, lambda: (ctx.cursor.i, ctx.now_ns()) if ctx is not None else (0, 0))

    def _install_signal_handlers(self) -> Callable[[], None]:
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        loop = asyncio.get_running_loop()
        installed = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, self.request_stop)
            except (NotImplementedError, RuntimeError, ValueError):
                continue
            installed.append(sig)

        def restore() -> None:
            for sig in installed:
                loop.remove_signal_handler(sig)

        return restore


def _resuming_ids(prefix: str, store: NodeStore) -> ClientOrderIdFactory:
    """Client order ids that continue after the run's last stored id, so a restart never reuses one."""
    with session_scope(store.sessions) as session:
        cids = run_orders(session, store.run_id)
    used = [int(c.rsplit("-", 1)[1]) for c in cids if c.startswith(prefix + "-") and c.rsplit("-", 1)[1].isdigit()]
    return ClientOrderIdFactory(prefix, start=max(used, default=0) + 1)


__all__ = ["FeedFactory", "LiveNode", "NodeSettings", "NodeSummary", "StrategyError"]
