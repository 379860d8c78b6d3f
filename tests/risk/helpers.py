"""Instruments, orders, states and a fake clock for the risk tests."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import numpy as np

from atb.domain import ClientOrderId, Instrument, InstrumentId, Order, OrderSide, OrderType
from atb.risk import RiskConfig, RiskEngine, RiskState

BTC = Instrument.spot("BTC/USDT", tick="0.01", lot="0.001")  # quote precision 8: one unit = 1e-8 USDT
ETH = Instrument.spot("ETH/USDT", tick="0.01", lot="0.01")
BTC_ID = BTC.id
ETH_ID = ETH.id
UNIT = Decimal("0.00000001")
NS = 1_000_000_000
DAY = 86_400 * NS
T0 = 1_700_000_000 * NS  # 2023-11-14 22:13:20 UTC
_ids = itertools.count(1)


class FakeClock:
    def __init__(self, now: int = T0) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now

    def advance(self, ns: int) -> None:
        self.now += ns


def order(
    side: str = "buy",
    *,
    lots: int | None = None,
    notional: str | None = None,
    fraction: str | None = None,
    limit: str | None = None,
    stop: str | None = None,
    reduce_only: bool = False,
    inst: Instrument = BTC,
) -> Order:
    """An order in plain values: prices and notional as decimal strings, converted exactly."""
    if limit is not None and stop is not None:
        kind = OrderType.STOP_LIMIT
    elif limit is not None:
        kind = OrderType.LIMIT
    elif stop is not None:
        kind = OrderType.STOP_MARKET
    else:
        kind = OrderType.MARKET
    return Order(
        ClientOrderId(f"t-{next(_ids)}"),
        inst.id,
        OrderSide(side),
        kind,
        lots=lots,
        notional_units=None if notional is None else int(Decimal(notional) / UNIT),
        equity_fraction=None if fraction is None else Decimal(fraction),
        limit_ticks=None if limit is None else int(Decimal(limit) / inst.tick),
        stop_ticks=None if stop is None else int(Decimal(stop) / inst.tick),
        reduce_only=reduce_only,
    )


def state(
    equity: str = "10000",
    *,
    positions: Mapping[InstrumentId, int] | None = None,
    btc: str = "50000",
    eth: str = "2000",
    **kwargs: Any,
) -> RiskState:
    """BTC at 50 000 (one lot = 50 USDT), ETH at 2 000 (one lot = 20 USDT) unless told otherwise."""
    return RiskState(
        equity=Decimal(equity),
        instruments={BTC_ID: BTC, ETH_ID: ETH},
        last_prices={BTC_ID: Decimal(btc), ETH_ID: Decimal(eth)},
        positions=positions or {},
        **kwargs,
    )


def engine(clock: FakeClock | None = None, /, **limits: Any) -> RiskEngine:
    return RiskEngine(RiskConfig(**limits), clock or FakeClock())


def returns_matrix(seed: int = 7, periods: int = 250) -> np.ndarray[Any, np.dtype[np.float64]]:
    rng = np.random.default_rng(seed)
    btc = rng.normal(0.0005, 0.03, periods)
    eth = 0.6 * btc + rng.normal(0.0, 0.03, periods)
    return np.column_stack([btc, eth])
