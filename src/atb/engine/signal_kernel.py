"""Target signals simulated straight into columns: the signal path without per-order objects.

The object path (`signal_runner.run_target_signals`) sends each decision
through `Strategy.hold`, `BacktestContext.submit` and `SimulatedVenue`, which
build an `Order` with its events and an `OrderFilled` per execution — about
10 µs an order, most of a million-bar run. The orders `hold` sends are always
the same two: a reduce-only market close of the whole position, then a market
entry sized by equity fraction. In a one-instrument run without latency or
volume caps each of them is decided on the bar it becomes eligible, with
nothing else working, so the venue reduces to a few integer formulas per
signal. This module runs exactly those formulas, on Python ints:

* sizing: `SimulatedVenue._resolve_size` (equity × fraction, fee included,
  rounded down to the lot, then stepped down while the fee pushes it over);
* slippage: `SimulatedVenue._slipped` (the bps as an exact fraction, adverse tick);
* the minimum checks, and their reasons, of `SimulatedVenue.submit` and `_execute`;
* funds: `Account.check_fill` (spot cash and holding; margin gross ≤ leverage × equity);
* booking: `Account.book` and `Position.apply_raw` (cash, fees, cost, realised P&L).

Nothing passes through a float and Python ints never overflow, so the numbers
are the object path's, digit for digit; the parity tests compare the result
JSON of both paths byte for byte. A refusal's message is rare, so it is taken
from `Account.check_fill` itself rather than rewritten here. Orders, fills and
the final ledger come out as parallel lists; `signal_columns` turns them into
result columns and, when a caller asks, back into domain objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt

from atb.domain import Account, AccountMode, Instrument, Money
from atb.domain.errors import InsufficientFundsError

IntArray = npt.NDArray[np.int64]

ACCEPTED, FILLED, REJECTED, CANCELED = "accepted", "filled", "rejected", "canceled"
"""Order statuses as the result JSON spells them (the values of `OrderStatus`)."""

TOO_SMALL = "equity too small for the minimum order size"


@dataclass(slots=True)
class KernelOrders:
    """One entry per order, in submission order (client order id = position + 1)."""

    bar: list[int] = field(default_factory=list)
    """Bar whose close decided the order (its `ts_init`)."""
    buy: list[bool] = field(default_factory=list)
    exit: list[bool] = field(default_factory=list)
    """True for the reduce-only close (tag "close"), False for the fraction-sized entry."""
    lots: list[int | None] = field(default_factory=list)
    """Size in lots; None for an entry whose size was never resolved."""
    status: list[str] = field(default_factory=list)
    reason: list[str] = field(default_factory=list)
    end_bar: list[int] = field(default_factory=list)
    """Bar of the order's last event (its submission bar when refused on arrival or still working)."""
    fill: list[int] = field(default_factory=list)
    """Index of the order's fill, -1 when it has none."""
    refused_on_arrival: list[bool] = field(default_factory=list)
    """Rejected by `SimulatedVenue.submit` (never accepted, so it took no venue order id)."""


@dataclass(slots=True)
class KernelFills:
    """One entry per execution, in booking order."""

    order: list[int] = field(default_factory=list)
    bar: list[int] = field(default_factory=list)
    signed: list[int] = field(default_factory=list)
    """Lots, negative for sells."""
    ticks: list[int] = field(default_factory=list)
    fee: list[int] = field(default_factory=list)
    cash: list[int] = field(default_factory=list)
    """Account cash (quote units) after the fill."""


@dataclass(slots=True)
class KernelLedger:
    """The account and its one position after the last signal (what `Account`/`Position` would hold)."""

    cash: int
    fees: int = 0
    realised: int = 0
    lots: int = 0
    cost: int = 0
    pos_realised: int = 0
    pos_fees: int = 0
    opened_bar: int = -1
    last_bar: int = -1
    touched: bool = False
    """True once `hold` looked at the position: the account then holds a (possibly flat) `Position`."""


@dataclass(slots=True)
class KernelRun:
    orders: KernelOrders
    fills: KernelFills
    ledger: KernelLedger


def fill_prices(
    bars: IntArray, n: int, open_ticks: IntArray, close_ticks: IntArray, *, at_close: bool
) -> tuple[IntArray, IntArray]:
    """(bar, price in ticks) at which the market orders of each signal bar execute.

    At the next bar's open, or at the signal bar's close with `fill=close`. A
    signal on the last bar gets bar n and a placeholder price: its orders stay
    working, as in the bar loop, where no bar is left to fill them.
    """
    if at_close:
        return bars, close_ticks[bars]
    nxt = bars + 1
    return nxt, open_ticks[np.minimum(nxt, n - 1)]


_BAR, _BUY, _EXIT, _LOTS, _STATUS, _REASON, _END, _FILL, _REFUSED = range(9)
"""Fields of an order record while the kernel runs (one list per order, transposed at the end)."""


def simulate(
    bars: list[int],
    targets: list[int],
    fill_bars: list[int],
    prices: list[int],
    n: int,
    inst: Instrument,
    fraction: Decimal,
    account: Account,
    slippage_bps: float | None,
) -> KernelRun:
    """Play `hold(target)` at each signal bar and fill its orders at `prices` (see the module docstring).

    `account` is the run's fresh account; it is only read (cash, mode,
    leverage) and used to word a refusal. `slippage_bps` is the fixed
    slippage (None: none).
    """
    factor = inst.notional_factor
    min_lots = inst.min_lots
    min_notional = inst.min_notional_units
    fee_num, fee_den = inst.taker_fee.ratio
    fee_pos = fee_den + max(fee_num, 0)
    frac_num, frac_den = fraction.as_integer_ratio()
    lev_num, lev_den = account.leverage.as_integer_ratio()
    spot = account.mode is AccountMode.SPOT
    slip_num = slip_den = 0
    if slippage_bps is not None and slippage_bps / 10_000.0 > 0:
        from fractions import Fraction  # only runs with slippage: 3 ms of imports otherwise

        exact = Fraction(repr(slippage_bps / 10_000.0))  # the float's shortest decimal, as `_slipped` reads it
        slip_num, slip_den = exact.numerator, exact.denominator
    qty_reason = f"quantity below minimum {inst.min_quantity} {inst.base}"
    notional_reason = f"notional below minimum {inst.min_notional} {inst.quote}"

    records: list[list[Any]] = []
    fills: list[tuple[int, int, int, int, int, int]] = []  # order, bar, signed lots, ticks, fee, cash after
    cash = account.cash_units
    fees = realised = lots = cost = pos_realised = pos_fees = 0
    opened_bar = last_bar = -1

    for b, target, fb, px in zip(bars, targets, fill_bars, prices, strict=True):
        # --- Strategy.hold(target): close a position on the wrong side, then enter ---------------
        close: list[Any] | None = None
        entry: list[Any] | None = None
        if lots and (target == 0 or (lots > 0) != (target > 0)):
            q = lots if lots > 0 else -lots
            if q < min_lots:  # SimulatedVenue.submit refuses it on arrival
                records.append([b, lots < 0, True, q, REJECTED, qty_reason, b, -1, True])
            else:
                close_k = len(records)
                close = [b, lots < 0, True, q, ACCEPTED, "", b, -1, False]
                records.append(close)
            if target:
                entry_k = len(records)
                entry = [b, target > 0, False, None, ACCEPTED, "", b, -1, False]
                records.append(entry)
        elif target and not lots:
            entry_k = len(records)
            entry = [b, target > 0, False, None, ACCEPTED, "", b, -1, False]
            records.append(entry)
        if fb >= n:
            continue  # no bar left to fill them: the orders stay working

        # --- SimulatedVenue._execute, in submission order: the close, then the entry --------------
        if close is not None:
            # For the whole position, with nothing filled since `hold` looked at it: the venue's
            # reduce-only rules never cut or cancel it, and a pure reduction always passes the
            # margin check (`Account.check_fill`).
            if px * q * factor < min_notional:  # a market order's minimum notional is judged on arrival
                close[_STATUS], close[_REASON], close[_END] = REJECTED, notional_reason, fb
            else:
                buy = lots < 0
                if slip_num:
                    price = (
                        -((-px * (slip_den + slip_num)) // slip_den)
                        if buy
                        else max(1, px * (slip_den - slip_num) // slip_den)
                    )
                else:
                    price = px
                value = q * price * factor
                fee = -((-fee_num * value) // fee_den)
                cash_after = cash - value - fee if buy else cash + value - fee
                if spot and cash_after < 0:
                    why = _refusal_message(account, inst, cash, lots, cost, -lots, price, fee)
                    close[_STATUS], close[_REASON], close[_END] = REJECTED, why, fb
                else:
                    gained = -value - cost if buy else value - cost  # Position.apply_raw closing it all
                    cash = cash_after
                    fees += fee
                    pos_fees += fee
                    realised += gained
                    pos_realised += gained
                    fills.append((close_k, fb, -lots, price, fee, cash))
                    lots = cost = 0
                    last_bar = fb
                    close[_STATUS], close[_END], close[_FILL] = FILLED, fb, len(fills) - 1
        if entry is None:
            continue
        buy = target > 0
        # SimulatedVenue._resolve_size: a fraction of equity, fee included, the position marked at the price
        price = px
        unit = px * factor
        budget = (cash + lots * unit) * frac_num // frac_den
        size = budget * fee_den // (unit * fee_pos) if budget > 0 else 0
        while size > 0 and size * unit - ((-fee_num * size * unit) // fee_den) > budget:
            size -= 1  # never runs with the estimate above; kept as in the venue
        if size and slip_num:
            price = (
                -((-px * (slip_den + slip_num)) // slip_den) if buy else max(1, px * (slip_den - slip_num) // slip_den)
            )
            unit = price * factor
            budget = (cash + lots * unit) * frac_num // frac_den
            size = budget * fee_den // (unit * fee_pos) if budget > 0 else 0
            while size > 0 and size * unit - ((-fee_num * size * unit) // fee_den) > budget:
                size -= 1
        if not size or size < min_lots or size * unit < min_notional:
            entry[_STATUS], entry[_REASON], entry[_END] = REJECTED, TOO_SMALL, fb
            continue
        entry[_LOTS] = size
        value = size * unit
        fee = -((-fee_num * value) // fee_den)
        signed = size if buy else -size
        # Account.check_fill
        cash_after = cash - value - fee if buy else cash + value - fee
        if spot:
            allowed = lots + signed >= 0 and cash_after >= 0
        elif lots and (lots > 0) != buy and size <= abs(lots):
            allowed = True  # a fill that only shrinks the position
        else:
            held_value = (lots + signed) * unit
            gross = abs(held_value)
            equity = cash_after + held_value
            allowed = not gross or (equity > 0 and gross * lev_den <= lev_num * equity)
        if not allowed:
            why = _refusal_message(account, inst, cash, lots, cost, signed, price, fee)
            entry[_STATUS], entry[_REASON], entry[_END] = REJECTED, why, fb
            continue
        # Account.book + Position.apply_raw
        cash = cash_after
        fees += fee
        pos_fees += fee
        last_bar = fb
        if lots == 0 or (lots > 0) == buy:
            if lots == 0:
                opened_bar = fb
            lots += signed
            cost += signed * unit
        else:
            closing = min(size, abs(lots))
            removed = abs(cost) * closing // abs(lots)
            removed = removed if cost >= 0 else -removed
            gained = closing * unit - removed if lots > 0 else -closing * unit - removed
            pos_realised += gained
            realised += gained
            cost -= removed
            rest = size - closing
            lots = lots - closing if lots > 0 else lots + closing
            if rest:
                lots = rest if buy else -rest
                cost = lots * unit
                opened_bar = fb
        fills.append((entry_k, fb, signed, price, fee, cash))
        entry[_STATUS], entry[_END], entry[_FILL] = FILLED, fb, len(fills) - 1

    ledger = KernelLedger(
        cash=cash,
        fees=fees,
        realised=realised,
        lots=lots,
        cost=cost,
        pos_realised=pos_realised,
        pos_fees=pos_fees,
        opened_bar=opened_bar,
        last_bar=last_bar,
        touched=bool(bars),
    )
    return KernelRun(_orders(records), _fills(fills), ledger)


def _orders(records: list[list[Any]]) -> KernelOrders:
    if not records:
        return KernelOrders()
    c = [list(column) for column in zip(*records, strict=True)]
    return KernelOrders(c[_BAR], c[_BUY], c[_EXIT], c[_LOTS], c[_STATUS], c[_REASON], c[_END], c[_FILL], c[_REFUSED])


def _fills(rows: list[tuple[int, int, int, int, int, int]]) -> KernelFills:
    if not rows:
        return KernelFills()
    c = [list(column) for column in zip(*rows, strict=True)]
    return KernelFills(c[0], c[1], c[2], c[3], c[4], c[5])


def _refusal_message(
    account: Account, inst: Instrument, cash: int, lots: int, cost: int, signed: int, ticks: int, fee: int
) -> str:
    """`Account.check_fill`'s own words for a refused fill, on a scratch account in the same state."""
    scratch = Account(
        account.currency, Money.from_units(account.initial_units, account.currency), mode=account.mode,
        leverage=account.leverage,
    )  # fmt: skip
    scratch.cash_units = cash
    position = scratch.position(inst)
    position.lots = lots
    position.cost_units = cost
    try:
        scratch.check_fill(inst, signed, ticks, fee, {})
    except InsufficientFundsError as exc:
        return str(exc)
    raise AssertionError("the kernel refused a fill that Account.check_fill accepts")  # pragma: no cover
