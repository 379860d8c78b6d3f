"""Building the trading node `atb serve --config` runs next to the API, and the metrics hooks around it.

The node is built as `atb live` / `atb paper --config` build it (`atb.services.live`), with two
differences that come from sharing a process with a web server:

* `ServedNode` leaves SIGINT/SIGTERM to the server: the first signal stops the node (gracefully:
  open orders cancelled or left per `node.on_stop`) *and* the HTTP server. With the node's own
  handlers a Ctrl-C would stop the node and leave the server running.
* `MeteredExchange` wraps the venue to time each order from send to acknowledgement and count
  submissions — the one place every order of the run passes, the strategy's and the API's alike.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from atb.node.live import LiveNode

if TYPE_CHECKING:
    from atb.domain import Instrument, Order
    from atb.monitor.metrics import AtbMetrics
    from atb.node.config import NodeConfig
    from atb.node.exchange import ExchangeClient
    from atb.services.live import BuiltNode, Mode
    from atb.venues.ccxt_models import OrderAck, VenueOrder, VenueTrade

__all__ = ["MeteredExchange", "ServedNode", "build_served_node"]


class MeteredExchange:
    """An `ExchangeClient` that records order round-trips and submissions; everything else passes through.

    Unknown attributes are forwarded too (`bar_opened`/`bar_closed` of the paper venue, a ccxt
    venue's `breaker`), so the node sees the venue it was given.
    """

    def __init__(self, inner: ExchangeClient, metrics: AtbMetrics) -> None:
        self.inner = inner
        self.metrics = metrics

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def load_instruments(self) -> dict[str, Instrument]:
        return await self.inner.load_instruments()

    async def balances(self) -> dict[str, tuple[Decimal, Decimal]]:
        return await self.inner.balances()

    async def submit(self, order: Order, instrument: Instrument) -> OrderAck:
        self.metrics.order_submitted()
        started = time.monotonic()
        try:
            return await self.inner.submit(order, instrument)
        finally:
            self.metrics.order_roundtrip(time.monotonic() - started)

    async def fetch_order(self, client_order_id: str, symbol: str) -> VenueOrder:
        return await self.inner.fetch_order(client_order_id, symbol)

    async def cancel(self, client_order_id: str, symbol: str) -> VenueOrder:
        return await self.inner.cancel(client_order_id, symbol)

    async def open_orders(self, symbol: str | None = None) -> list[VenueOrder]:
        return await self.inner.open_orders(symbol)

    async def my_trades(self, symbol: str, since: int | None = None) -> list[VenueTrade]:
        return await self.inner.my_trades(symbol, since)

    async def ohlcv(
        self, symbol: str, timeframe: str, since: int | None = None, limit: int | None = None
    ) -> list[tuple[int, float, float, float, float, float]]:
        return await self.inner.ohlcv(symbol, timeframe, since, limit)

    async def close(self) -> None:
        await self.inner.close()


class ServedNode(LiveNode):
    """A `LiveNode` whose stop signals belong to the server it runs in (see the module docstring)."""

    def _install_signal_handlers(self) -> Callable[[], None]:
        return lambda: None


async def build_served_node(config: NodeConfig, mode: Mode) -> BuiltNode:
    """The node `atb live`/`atb paper --config` would run, as a `ServedNode` (see the module docstring)."""
    from atb.services.live import build_node

    return await build_node(config, mode, node_class=ServedNode)
