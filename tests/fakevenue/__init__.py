"""A fake Binance spot REST venue on 127.0.0.1, driven by the unmodified ccxt client in tests.

    with FakeVenue(balances={"USDT": 10_000}) as venue:
        client = make_client(venue)            # or make_client(venue, async_=True)
        venue.faults.next("order", faults.drop_after(), method="POST")
        venue.set_price("BTCUSDT", Decimal("49000"))

ccxt is imported only by `make_client`, so importing this package stays cheap.
"""

from __future__ import annotations

from . import faults
from .client import CLIENT_OPTIONS, assert_local, make_client
from .faults import Fault, FaultKind, Faults
from .server import FakeVenue, Recorded
from .state import FEE_RATE, Order, SymbolSpec, Trade

__all__ = [
    "CLIENT_OPTIONS",
    "FEE_RATE",
    "FakeVenue",
    "Fault",
    "FaultKind",
    "Faults",
    "Order",
    "Recorded",
    "SymbolSpec",
    "Trade",
    "assert_local",
    "faults",
    "make_client",
]
