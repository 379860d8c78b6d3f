"""The paper node: one asyncio loop feeding bars to a strategy over the simulated venue.

The node drives the very `Backtest` object a backtest would run, through its stepping API
(`start`, `step`, `finish`), so matching, ledger and results are the backtest's own: the
parity test plays the same bars through both and expects the same orders and fills.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable
from typing import Any, Literal

from atb.engine.backtest import Backtest
from atb.engine.results import BacktestResult
from atb.errors import UserInputError
from atb.node.feeds import Feed

StopOrders = Literal["cancel", "leave"]
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class PaperNode:
    """Run `backtest`'s strategy bar by bar as `feed` delivers bars; `await run()` for the result.

    SIGINT/SIGTERM (or `request_stop()`) stop gracefully: no further bar is consumed, open orders
    are cancelled (`on_stop_orders="cancel"`) or left as they are ("leave"), `on_stop` runs and the
    result covers the bars played, with `meta["stopped_early"] = True`.
    """

    def __init__(self, backtest: Backtest, feed: Feed, *, on_stop_orders: StopOrders = "cancel") -> None:
        if on_stop_orders not in ("cancel", "leave"):
            raise UserInputError(f"on_stop_orders must be cancel or leave, got {on_stop_orders!r}")
        self.backtest = backtest
        self.feed = feed
        self.on_stop_orders = on_stop_orders
        self._stop_requested = False
        self.bars_played = 0

    def request_stop(self) -> None:
        """Ask the node to stop after the bar being processed (safe from a signal handler or a task)."""
        self._stop_requested = True

    @property
    def stop_requested(self) -> bool:
        return self._stop_requested

    async def run(self) -> BacktestResult:
        loop = asyncio.get_running_loop()
        restore = self._install_signal_handlers(loop)
        backtest = self.backtest
        stopped_early = False
        try:
            backtest.start()
            iterator = aiter(self.feed)
            try:
                step = backtest.step
                async for i in iterator:
                    if self._stop_requested:
                        stopped_early = True
                        break
                    step(i)
                    self.bars_played += 1
            finally:
                aclose: Callable[[], Any] | None = getattr(iterator, "aclose", None)
                if aclose is not None:
                    await aclose()
            cancel = stopped_early and self.on_stop_orders == "cancel"
            result = backtest.finish(cancel_reason="paper node stopped" if cancel else None)
        finally:
            backtest.close()
            restore()
        result.meta["mode"] = "paper"
        result.meta["stopped_early"] = stopped_early
        return result

    def _install_signal_handlers(self, loop: asyncio.AbstractEventLoop) -> Callable[[], None]:
        """Route SIGINT/SIGTERM to `request_stop` while the node runs; return the undo."""
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous: dict[signal.Signals, Any] = {}
        for sig in _STOP_SIGNALS:
            try:
                handler = signal.getsignal(sig)
                loop.add_signal_handler(sig, self.request_stop)
            except (NotImplementedError, RuntimeError, ValueError):  # no signal support (e.g. Windows loop)
                continue
            previous[sig] = handler

        def restore() -> None:
            for sig, handler in previous.items():
                loop.remove_signal_handler(sig)
                signal.signal(sig, handler)

        return restore
