"""What the risk engine needs to know about the account at the moment of an order.

`RiskState` is a snapshot the caller builds (the backtest context, the live
node): it never reads a database or a venue, so the same checks run in every
mode. Money is in the account's quote currency as `Decimal`, positions are
signed lots (long > 0) as in `Position.lots`, last prices are `Decimal`
prices. Every instrument is assumed quoted in the account currency (the
`Account` enforces this).

`EquityWatermarks` remembers what a single snapshot cannot: the peak equity
and the equity at the start of the current UTC day.
"""

from __future__ import annotations

import decimal
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType

import numpy as np
import numpy.typing as npt

from atb.domain import Account, Instrument, InstrumentId
from atb.domain.money import product, shifted

NS_PER_DAY = 86_400 * 1_000_000_000
EXACT = decimal.Context(
    prec=decimal.MAX_PREC,
    Emax=decimal.MAX_EMAX,
    Emin=decimal.MIN_EMIN,
    traps=[decimal.InvalidOperation, decimal.Inexact],
)
"""Sums and differences of money without the global context's 28-digit rounding (raises rather than round)."""
FloatArray = npt.NDArray[np.float64]


def _exact(value: Decimal, what: str) -> Decimal:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise TypeError(f"{what} must be a finite Decimal, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class RiskState:
    """An immutable snapshot of the account for one pre-trade check.

    `day_start_equity` and `peak_equity` are optional: when None the engine
    uses its own `EquityWatermarks`; a live node restoring them after a
    restart passes them here. `returns` (T periods × N symbols, simple
    one-bar returns) and `return_symbols` (its N column names) are needed
    only by the VaR limit.
    """

    equity: Decimal
    instruments: Mapping[InstrumentId, Instrument]
    last_prices: Mapping[InstrumentId, Decimal]
    positions: Mapping[InstrumentId, int] = field(default_factory=dict)
    open_orders: int = 0
    day_start_equity: Decimal | None = None
    peak_equity: Decimal | None = None
    returns: FloatArray | None = None
    return_symbols: tuple[InstrumentId, ...] = ()

    def __post_init__(self) -> None:
        _exact(self.equity, "equity")
        for name in ("day_start_equity", "peak_equity"):
            value = getattr(self, name)
            if value is not None:
                _exact(value, name)
        for symbol, price in self.last_prices.items():
            if not isinstance(price, Decimal) or not price.is_finite() or price <= 0:
                raise ValueError(f"last price of {symbol} must be a positive Decimal, got {price!r}")
        if self.open_orders < 0:
            raise ValueError(f"open order count must not be negative, got {self.open_orders}")
        # Copies behind read-only views: the snapshot must not change under the engine.
        object.__setattr__(self, "instruments", MappingProxyType(dict(self.instruments)))
        object.__setattr__(self, "last_prices", MappingProxyType(dict(self.last_prices)))
        object.__setattr__(self, "positions", MappingProxyType(dict(self.positions)))
        object.__setattr__(self, "return_symbols", tuple(self.return_symbols))
        if self.returns is not None:
            matrix = np.array(self.returns, dtype=np.float64, copy=True)
            if matrix.ndim == 1:
                matrix = matrix[:, None]
            if matrix.ndim != 2 or matrix.shape[1] != len(self.return_symbols):
                raise ValueError(
                    f"returns must be periods x symbols with one column per return symbol: shape {matrix.shape}, "
                    f"{len(self.return_symbols)} symbols"
                )
            matrix.flags.writeable = False
            object.__setattr__(self, "returns", matrix)

    def lots(self, symbol: InstrumentId) -> int:
        return self.positions.get(symbol, 0)

    @classmethod
    def from_account(
        cls,
        account: Account,
        last_prices: Mapping[InstrumentId, Decimal],
        *,
        instruments: Iterable[Instrument] = (),
        open_orders: int = 0,
        day_start_equity: Decimal | None = None,
        peak_equity: Decimal | None = None,
        returns: FloatArray | None = None,
        return_symbols: tuple[InstrumentId, ...] = (),
    ) -> RiskState:
        """Snapshot an `Account`, marking its positions at `last_prices` (exact).

        `instruments` adds the ones the account holds no position in yet (the
        order's own instrument, typically).
        """
        cash = shifted(Decimal(account.cash_units), -account.currency.precision)
        equity = cash
        known = {inst.id: inst for inst in instruments}
        positions: dict[InstrumentId, int] = {}
        for symbol, pos in account.positions.items():
            known[symbol] = pos.instrument
            if pos.lots:
                if symbol not in last_prices:
                    raise ValueError(f"no last price for {symbol}: the account's equity cannot be marked")
                positions[symbol] = pos.lots
                equity = EXACT.add(equity, product(product(Decimal(pos.lots), pos.instrument.lot), last_prices[symbol]))
        return cls(
            equity=equity,
            instruments=known,
            last_prices=last_prices,
            positions=positions,
            open_orders=open_orders,
            day_start_equity=day_start_equity,
            peak_equity=peak_equity,
            returns=returns,
            return_symbols=return_symbols,
        )


class EquityWatermarks:
    """Peak equity and the UTC day's starting equity, from a stream of (time, equity) observations.

    The day's starting equity is the first equity observed at or after 00:00
    UTC; feed it every bar (`RiskEngine.observe_equity`) so that is the first
    bar of the day, not the first order of the day.
    """

    __slots__ = ("_day", "day_start", "peak")

    def __init__(self) -> None:
        self._day: int | None = None
        self.day_start: Decimal | None = None
        self.peak: Decimal | None = None

    def observe(self, ts: int, equity: Decimal) -> None:
        day = ts // NS_PER_DAY
        if self._day is None or day > self._day:
            self._day = day
            self.day_start = equity
        if self.peak is None or equity > self.peak:
            self.peak = equity

    def rebase_peak(self, equity: Decimal) -> None:
        """Start measuring drawdown afresh (after a kill-switch reset)."""
        self.peak = equity
