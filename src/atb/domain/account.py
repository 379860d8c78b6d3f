"""The ledger: cash, positions and equity of one account, exact to the last unit.

Identity, after any sequence of fills:

    equity = cash + Σ lots × mark
           = initial cash + Σ realised + Σ unrealised − Σ fees

`cash` moves only by what a fill really pays or receives (notional and
fee); realised PnL is an attribution over the same money, never a second
source of it. All amounts are integers in units of the quote currency.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from atb.domain.enums import AccountMode
from atb.domain.errors import CurrencyMismatchError, InsufficientFundsError, InvalidValueError
from atb.domain.events import OrderFilled
from atb.domain.ids import InstrumentId
from atb.domain.instrument import Instrument
from atb.domain.money import Currency, Money, product
from atb.domain.position import Position


class Account:
    __slots__ = (
        "cash_units",
        "currency",
        "fees_units",
        "initial_units",
        "leverage",
        "mode",
        "positions",
        "realised_units",
    )

    def __init__(
        self,
        currency: Currency,
        cash: Money,
        *,
        mode: AccountMode = AccountMode.SPOT,
        leverage: Decimal = Decimal(1),
    ) -> None:
        if cash.currency != currency:
            raise CurrencyMismatchError(f"starting cash in {cash.currency}, account in {currency}")
        if cash.units < 0:
            raise InvalidValueError("starting cash must not be negative")
        if not isinstance(leverage, (Decimal, int)) or isinstance(leverage, bool):
            raise TypeError(f"leverage must be a Decimal, not {type(leverage).__name__}")
        leverage = Decimal(leverage)
        if not leverage.is_finite() or leverage < 1:
            raise InvalidValueError(f"leverage must be at least 1, got {leverage}")
        if mode is AccountMode.SPOT and leverage != 1:
            raise InvalidValueError("a spot account has no leverage; use margin mode")
        self.currency = currency
        self.mode = mode
        self.leverage = leverage
        self.initial_units = cash.units
        self.cash_units = cash.units
        self.fees_units = 0
        self.realised_units = 0
        self.positions: dict[InstrumentId, Position] = {}

    def position(self, instrument: Instrument) -> Position:
        pos = self.positions.get(instrument.id)
        if pos is None:
            self._check_quote(instrument)
            pos = self.positions[instrument.id] = Position(instrument)
        return pos

    def _check_quote(self, instrument: Instrument) -> None:
        if instrument.quote != self.currency:
            raise CurrencyMismatchError(
                f"{instrument.id} is quoted in {instrument.quote}, the account holds {self.currency}"
            )

    # --- checks -------------------------------------------------------------------------
    def check_fill(
        self, instrument: Instrument, signed_lots: int, ticks: int, fee_units: int, marks: Mapping[InstrumentId, int]
    ) -> None:
        """Raise `InsufficientFundsError` if the fill would break the account's rules; change nothing."""
        pos = self.positions.get(instrument.id)
        if pos is None:
            self._check_quote(instrument)  # and create no position: a refused fill leaves no trace
        held = pos.lots if pos is not None else 0
        notional = abs(signed_lots) * ticks * instrument.notional_factor
        cash_after = self.cash_units - (notional if signed_lots > 0 else -notional) - fee_units
        if self.mode is AccountMode.SPOT:
            if held + signed_lots < 0:
                raise InsufficientFundsError(
                    f"spot account cannot sell {abs(signed_lots)} lots of {instrument.id}: holds {held}"
                )
            if cash_after < 0:
                needed = Money.from_units(self.cash_units - cash_after, self.currency)
                raise InsufficientFundsError(f"insufficient {self.currency}: fill needs {needed}, have {self.cash}")
            return
        # margin: a fill that only shrinks a position (no flip) reduces risk and is always allowed,
        # so a position over its limit after a loss can still be cut down step by step
        if held and (held > 0) != (signed_lots > 0) and abs(signed_lots) <= abs(held):
            return
        # otherwise gross exposure after the fill must stay within leverage × equity
        value = (held + signed_lots) * ticks * instrument.notional_factor
        equity = cash_after + value
        gross = abs(value)
        for iid, other in self.positions.items():
            if other.lots and iid != instrument.id:
                value = other.lots * marks[iid] * other.instrument.notional_factor
                equity += value
                gross += abs(value)
        num, den = self.leverage.as_integer_ratio()  # exact: gross > leverage × equity in integers
        if gross and (equity <= 0 or gross * den > num * equity):
            raise InsufficientFundsError(
                f"margin: gross exposure {Money.from_units(gross, self.currency)} would exceed "
                f"{self.leverage}× equity {Money.from_units(max(equity, 0), self.currency)}"
            )

    # --- booking ------------------------------------------------------------------------
    def apply(self, fill: OrderFilled, marks: Mapping[InstrumentId, int] | None = None) -> int:
        """Check, then book a fill. Returns realised PnL (quote units, gross of fees)."""
        self.check_fill(fill.instrument, fill.signed_lots, fill.ticks, fill.fee_units, marks or {})
        return self.book(fill.instrument, fill.signed_lots, fill.ticks, fill.fee_units, fill.ts_event)

    def book(self, instrument: Instrument, signed_lots: int, ticks: int, fee_units: int, ts: int) -> int:
        """Book a fill already checked (the kernel checks once, then books)."""
        pos = self.position(instrument)
        notional = signed_lots * ticks * instrument.notional_factor
        self.cash_units -= notional + fee_units
        self.fees_units += fee_units
        realised = pos.apply_raw(signed_lots, ticks, fee_units, ts)
        self.realised_units += realised
        return realised

    # --- views --------------------------------------------------------------------------
    def equity_units(self, marks: Mapping[InstrumentId, int]) -> int:
        total = self.cash_units
        for iid, pos in self.positions.items():
            if pos.lots:
                total += pos.lots * marks[iid] * pos.instrument.notional_factor
        return total

    def unrealised_units(self, marks: Mapping[InstrumentId, int]) -> int:
        return sum(pos.unrealised_units(marks[iid]) for iid, pos in self.positions.items() if pos.lots)

    def gross_exposure_units(self, marks: Mapping[InstrumentId, int]) -> int:
        return sum(abs(pos.value_units(marks[iid])) for iid, pos in self.positions.items() if pos.lots)

    @property
    def cash(self) -> Money:
        return Money.from_units(self.cash_units, self.currency)

    def balances(self) -> dict[str, Decimal]:
        """Holdings per currency: quote cash plus each base asset held (spot view)."""
        out: dict[str, Decimal] = {self.currency.code: self.cash.amount}
        for pos in self.positions.values():
            if pos.lots:
                code = pos.instrument.base.code
                out[code] = out.get(code, Decimal(0)) + product(Decimal(pos.lots), pos.instrument.lot)
        return out
