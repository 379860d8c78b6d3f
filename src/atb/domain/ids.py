"""Typed identifiers: the type checker keeps an order id from being passed as a symbol.

`NewType` costs nothing at run time, which matters in the backtest hot loop.
"""

from __future__ import annotations

import itertools
from typing import NewType

InstrumentId = NewType("InstrumentId", str)
"""Unified symbol, e.g. ``BTC/USDT`` (ccxt's spelling)."""

ClientOrderId = NewType("ClientOrderId", str)
"""Our id for an order, assigned before it leaves; the venue echoes it back."""

VenueOrderId = NewType("VenueOrderId", str)
TradeId = NewType("TradeId", str)
StrategyId = NewType("StrategyId", str)


class ClientOrderIdFactory:
    """Deterministic, collision-free client order ids for one run.

    Ids are `<prefix>-<sequence>`; a live node uses a per-run prefix so a
    restarted node never reuses an id that may still be open at the venue
    (Binance refuses a duplicate id only while the first order is open).
    """

    __slots__ = ("_counter", "_prefix")

    def __init__(self, prefix: str = "atb", start: int = 1) -> None:
        """`start` is the first sequence number: a restarted run continues after its last stored id."""
        # ASCII only: str.isalnum() also admits "é" or "٣", which venues refuse in an order id.
        if not prefix or len(prefix) > 20 or not prefix.isascii() or not prefix.replace("-", "").isalnum():
            raise ValueError(f"client order id prefix must be 1-20 ASCII letters, digits or '-', got {prefix!r}")
        if start < 1:
            raise ValueError(f"client order id sequence starts at 1 or later, got {start}")
        self._prefix = prefix
        self._counter = itertools.count(start)

    def next(self) -> ClientOrderId:
        return ClientOrderId(f"{self._prefix}-{next(self._counter)}")
