"""The venue a node trades on, as the node sees it: `CcxtVenue` (live) and `PaperExchange` (paper).

Both answer in the same venue records (`VenueOrder`, `VenueTrade`, `OrderAck`), so the order
router, the reconciliation and the tests are one code path for paper and live trading.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol

from atb.domain import Instrument, Order
from atb.venues.ccxt_models import OrderAck, VenueOrder, VenueTrade

Balances = dict[str, tuple[Decimal, Decimal]]
"""(free, locked) per asset."""


class ExchangeClient(Protocol):
    async def load_instruments(self) -> dict[str, Instrument]: ...

    async def balances(self) -> Balances: ...

    async def submit(self, order: Order, instrument: Instrument) -> OrderAck: ...

    async def fetch_order(self, client_order_id: str, symbol: str) -> VenueOrder:
        """Raises `OrderUnknownError` when the venue has no order with this client id."""
        ...

    async def cancel(self, client_order_id: str, symbol: str) -> VenueOrder: ...

    async def open_orders(self, symbol: str | None = None) -> list[VenueOrder]: ...

    async def my_trades(self, symbol: str, since: int | None = None) -> list[VenueTrade]: ...

    async def ohlcv(
        self, symbol: str, timeframe: str, since: int | None = None, limit: int | None = None
    ) -> list[tuple[int, float, float, float, float, float]]: ...

    async def close(self) -> None: ...
