"""The ledger: cash, positions and equity exact to the unit.

Hand-worked cases first, then property tests over random fill sequences checked after every fill
against an independent average-cost reference kept in `fractions.Fraction`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atb.domain import (
    Account,
    AccountMode,
    ClientOrderId,
    Currency,
    FeeRate,
    Instrument,
    InstrumentId,
    Liquidity,
    Money,
    OrderFilled,
    OrderSide,
    TradeId,
)
from atb.domain.errors import CurrencyMismatchError, InsufficientFundsError, InvalidValueError

USDT = Currency("USDT", 8)
USD0 = Currency("USD", 0)
E8 = 10**8
BTC = Instrument.spot("BTC/USDT", tick="0.01", lot="0.00001", quote_precision=8)  # factor 10
ETH = Instrument.spot("ETH/USDT", tick="0.05", lot="0.0001", quote_precision=8)  # factor 500
XYZ = Instrument.spot("XYZ/USDT", tick="5", lot="0.003", quote_precision=8)  # factor 1_500_000
X = Instrument.spot("X/USD", tick="1", lot="1", quote_precision=0, base_precision=0)  # factor 1
Y = Instrument.spot("Y/USD", tick="1", lot="1", quote_precision=0, base_precision=0)
RATES = [FeeRate.of("0"), FeeRate.of("0.001"), FeeRate.of("0.00075"), FeeRate.of("-0.0001")]
_seq = itertools.count(1)


def fill(inst: Instrument, signed_lots: int, ticks: int, fee_units: int = 0, ts: int = 0) -> OrderFilled:
    n = next(_seq)
    side = OrderSide.BUY if signed_lots > 0 else OrderSide.SELL
    return OrderFilled(
        ClientOrderId(f"c{n}"),
        ts,
        ts,
        TradeId(f"t{n}"),
        inst,
        side,
        abs(signed_lots),
        ticks,
        fee_units,
        Liquidity.TAKER,
    )


def state(acct: Account) -> tuple[object, ...]:
    """Everything a refused fill must leave untouched."""
    return (
        acct.cash_units,
        acct.fees_units,
        acct.realised_units,
        acct.initial_units,
        tuple(
            (iid, p.lots, p.cost_units, p.realised_units, p.fees_units, p.opened_ts, p.ts_last)
            for iid, p in acct.positions.items()
        ),
    )


# --- hand-worked cases --------------------------------------------------------------------------


def test_spot_round_trip_by_hand() -> None:
    acct = Account(USDT, Money.of("10000", USDT))
    # buy 0.1 BTC at 60000, fee 0.1 % = 6 USDT
    fee = BTC.taker_fee.fee_units(BTC.notional_units(6_000_000, 10_000))
    assert fee == 6 * E8
    assert acct.apply(fill(BTC, 10_000, 6_000_000, fee)) == 0
    assert acct.cash.amount == Decimal("3994")
    marks = {BTC.id: 6_100_000}
    assert acct.equity_units(marks) == 10_094 * E8  # 3994 + 0.1 × 61000
    assert acct.unrealised_units(marks) == 100 * E8
    # sell 0.05 at 62000, fee 3.1
    fee = BTC.taker_fee.fee_units(BTC.notional_units(6_200_000, 5_000))
    assert fee == 310_000_000
    assert acct.apply(fill(BTC, -5_000, 6_200_000, fee)) == 100 * E8  # 0.05 × (62000 − 60000)
    assert acct.cash.amount == Decimal("7090.9")
    marks = {BTC.id: 6_200_000}
    assert acct.equity_units(marks) == 1_019_090_000_000  # 10190.9
    assert (
        acct.equity_units(marks)
        == acct.initial_units + acct.realised_units + acct.unrealised_units(marks) - acct.fees_units
    )
    assert (acct.realised_units, acct.fees_units) == (100 * E8, 910_000_000)
    assert acct.gross_exposure_units(marks) == 3100 * E8
    assert acct.balances() == {"USDT": Decimal("7090.9"), "BTC": Decimal("0.05")}


def test_spot_refuses_overdraft_and_short_without_trace() -> None:
    acct = Account(USD0, Money.of(1000, USD0))
    before = state(acct)
    with pytest.raises(InsufficientFundsError):
        acct.apply(fill(X, -1, 100))  # no holding: a spot account cannot short
    with pytest.raises(InsufficientFundsError):
        acct.apply(fill(X, 10, 100, 1))  # 1000 + fee 1 > 1000
    assert state(acct) == before
    assert acct.positions == {}  # a refused check leaves not even an empty position
    acct.apply(fill(X, 10, 100))  # exactly all the cash
    assert acct.cash_units == 0
    before = state(acct)
    for bad in (fill(X, 1, 1), fill(X, -11, 100), fill(Y, 1, 1), fill(X, -10, 1, 11)):
        with pytest.raises(InsufficientFundsError) as info:
            acct.apply(bad)
        assert info.value.reason == "insufficient_funds"
        assert state(acct) == before
    acct.apply(fill(X, -10, 1, 10))  # sell everything for 10, fee 10: cash back to exactly 0
    assert (acct.cash_units, acct.positions[X.id].lots, acct.realised_units) == (0, 0, -990)


def test_margin_leverage_boundary_is_exact() -> None:
    acct = Account(USD0, Money.of(1000, USD0), mode=AccountMode.MARGIN, leverage=Decimal(2))
    acct.check_fill(X, 20, 100, 0, {})  # gross 2000 = 2 × equity 1000: admitted
    with pytest.raises(InsufficientFundsError):
        acct.check_fill(X, 21, 100, 0, {})  # 2100 > 2000
    with pytest.raises(InsufficientFundsError):
        acct.check_fill(X, 20, 100, 1, {})  # equity 999: 2000 > 1998
    acct.check_fill(X, -20, 100, 0, {})  # shorting is allowed on margin
    assert acct.positions == {}
    frac = Account(USD0, Money.of(1000, USD0), mode=AccountMode.MARGIN, leverage=Decimal("1.5"))
    frac.check_fill(X, 15, 100, 0, {})  # 1500 = 1.5 × 1000
    with pytest.raises(InsufficientFundsError):
        frac.check_fill(X, 15, 100, 1, {})  # 1500 > 1.5 × 999 = 1498.5


def test_margin_check_marks_other_positions() -> None:
    acct = Account(USD0, Money.of(1000, USD0), mode=AccountMode.MARGIN, leverage=Decimal(2))
    acct.apply(fill(X, 10, 100))  # cash 0, equity 1000
    acct.check_fill(Y, 10, 50, 0, {X.id: 50})  # equity 500, gross 500 + 500 = 2 × 500
    with pytest.raises(InsufficientFundsError):
        acct.check_fill(Y, 10, 50, 0, {X.id: 49})  # equity 490, gross 990 > 980
    acct.apply(fill(Y, 10, 50), {X.id: 50})
    assert acct.cash_units == -500
    assert acct.equity_units({X.id: 50, Y.id: 50}) == 500
    with pytest.raises(InsufficientFundsError):
        acct.check_fill(X, 1, 1, 0, {Y.id: 0})  # equity below zero


def test_account_construction_rules() -> None:
    with pytest.raises(CurrencyMismatchError):
        Account(USDT, Money.of(1, USD0))
    with pytest.raises(InvalidValueError):
        Account(USD0, Money.of(-1, USD0))
    with pytest.raises(InvalidValueError):
        Account(USD0, Money.of(1, USD0), mode=AccountMode.MARGIN, leverage=Decimal("0.5"))
    with pytest.raises(InvalidValueError):
        Account(USD0, Money.of(1, USD0), leverage=Decimal(2))  # spot has no leverage
    with pytest.raises(InvalidValueError):
        Account(USD0, Money.of(1, USD0), mode=AccountMode.MARGIN, leverage=Decimal("NaN"))
    with pytest.raises(TypeError):
        Account(USD0, Money.of(1, USD0), mode=AccountMode.MARGIN, leverage=2.5)  # type: ignore[arg-type]
    three = Account(USD0, Money.of(1, USD0), mode=AccountMode.MARGIN, leverage=3)  # type: ignore[arg-type]
    assert three.leverage == Decimal(3) and type(three.leverage) is Decimal


def test_instrument_in_another_quote_is_refused() -> None:
    acct = Account(USD0, Money.of(1000, USD0))
    with pytest.raises(CurrencyMismatchError):
        acct.check_fill(BTC, 1, 1, 0, {})
    with pytest.raises(CurrencyMismatchError):
        acct.apply(fill(BTC, 1, 1))
    assert acct.positions == {} and acct.cash_units == 1000


# --- property tests -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    inst: Instrument
    max_lots: int
    max_ticks: int


MARGIN_SPECS = [Spec(BTC, 10**5, 10**7), Spec(ETH, 10**4, 10**6), Spec(XYZ, 1_000, 1_000)]
# |notional| per fill <= 1.5e13 units, so 200 fills move equity by < 1e16 = the initial cash / 10.
MARGIN_INITIAL = 10**17


@dataclass
class Ref:
    """Independent average-cost bookkeeping in exact quote-currency Fractions (not in units)."""

    qty: Fraction = Fraction(0)
    cost: Fraction = Fraction(0)
    realised: Fraction = Fraction(0)
    reductions: int = 0

    def book(self, q: Fraction, price: Fraction) -> None:
        if self.qty == 0 or (self.qty > 0) == (q > 0):
            self.qty += q
            self.cost += q * price
            return
        self.reductions += 1
        closing = min(abs(q), abs(self.qty))
        direction = 1 if self.qty > 0 else -1
        avg = self.cost / self.qty
        self.realised += closing * (price - avg) * direction
        self.cost -= closing * avg * direction
        self.qty -= closing * direction
        rest = abs(q) - closing
        if rest:
            self.qty = rest if q > 0 else -rest
            self.cost = self.qty * price


def value(inst: Instrument, lots: int, ticks: int) -> Fraction:
    return lots * Fraction(inst.lot) * ticks * Fraction(inst.tick)


def unpack(word: int, *sizes: int) -> list[int]:
    """Split one drawn integer into fields in range(size) each.

    One draw per fill instead of seven keeps generating 200 sequences of up to 200 fills fast;
    the fields are still uniform, and shrinking still moves every field toward its low end.
    """
    out = []
    for size in sizes:
        word, field = divmod(word, size)
        out.append(field)
    return out


WORD = st.integers(0, 2**192 - 1)


@st.composite
def margin_scenario(draw: st.DrawFn) -> list[tuple[int, int, int, int, tuple[int, ...]]]:
    n = draw(st.integers(1, 3))
    specs = MARGIN_SPECS[:n]
    length = draw(st.integers(1, 200))
    steps = []
    for word in draw(st.lists(WORD, min_size=length, max_size=length)):
        k, sell, size, rate, rest = unpack(word, n, 2, 8, len(RATES), 2**160)
        spec = specs[k]
        lots, ticks, *marks = unpack(
            rest, 20 if size < 4 else spec.max_lots, spec.max_ticks, *(s.max_ticks for s in specs)
        )
        signed = 0 if size == 7 else -(lots + 1) if sell else lots + 1  # 0: close the position out
        steps.append((k, signed, ticks + 1, rate, tuple(m + 1 for m in marks)))
    return steps


def assert_all_int(acct: Account) -> None:
    for v in (acct.cash_units, acct.fees_units, acct.realised_units, acct.initial_units):
        assert type(v) is int
    for pos in acct.positions.values():
        for v in (pos.lots, pos.cost_units, pos.realised_units, pos.fees_units, pos.opened_ts, pos.ts_last):
            assert type(v) is int


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(steps=margin_scenario())
def test_margin_ledger_identities_after_every_fill(steps: list[tuple[int, int, int, int, tuple[int, ...]]]) -> None:
    acct = Account(USDT, Money.from_units(MARGIN_INITIAL, USDT), mode=AccountMode.MARGIN, leverage=Decimal(100))
    refs: dict[InstrumentId, Ref] = {}
    ref_cash = Fraction(MARGIN_INITIAL, E8)
    ref_fees = 0
    for ts, (k, signed, ticks, rate, mark_ticks) in enumerate(steps):
        inst = MARGIN_SPECS[k].inst
        marks = {MARGIN_SPECS[i].inst.id: m for i, m in enumerate(mark_ticks)}
        pos = acct.positions.get(inst.id)
        if signed == 0:
            signed = -pos.lots if pos is not None and pos.lots else 1
        fee = RATES[rate].fee_units(inst.notional_units(ticks, abs(signed)))
        realised_before = pos.realised_units if pos is not None else 0
        got = acct.apply(fill(inst, signed, ticks, fee, ts), marks)  # high leverage: never refused
        assert got == acct.positions[inst.id].realised_units - realised_before

        ref = refs.setdefault(inst.id, Ref())
        q = signed * Fraction(inst.lot)
        ref.book(q, ticks * Fraction(inst.tick))
        ref_cash -= value(inst, signed, ticks) + Fraction(fee, E8)
        ref_fees += fee

        # cash moves exactly by notional and fee
        assert acct.cash_units == ref_cash * E8
        assert acct.fees_units == ref_fees == sum(p.fees_units for p in acct.positions.values())
        # equity = cash + Σ lots × mark × factor, and the same in independent Fractions
        equity = acct.equity_units(marks)
        holdings = sum(p.lots * marks[iid] * p.instrument.notional_factor for iid, p in acct.positions.items())
        assert equity == acct.cash_units + holdings
        assert (
            equity
            == (ref_cash + sum(value(p.instrument, p.lots, marks[iid]) for iid, p in acct.positions.items())) * E8
        )
        # equity = initial + realised + unrealised − fees, exactly
        assert acct.realised_units == sum(p.realised_units for p in acct.positions.values())
        assert equity == acct.initial_units + acct.realised_units + acct.unrealised_units(marks) - acct.fees_units
        # realised matches average cost in Fractions up to the documented truncation
        for iid, pos in acct.positions.items():
            r = refs[iid]
            assert pos.lots * Fraction(pos.instrument.lot) == r.qty
            diff = pos.realised_units - r.realised * E8
            assert diff == pos.cost_units - r.cost * E8  # the truncation remainder stays in cost
            assert abs(diff) < max(r.reductions, 1)
            assert diff * pos.lots >= 0  # truncation toward zero leaves the remainder on the position's side
            if pos.lots == 0:
                assert diff == 0
    assert_all_int(acct)
    assert type(acct.equity_units(marks)) is int


SPOT_SPECS = [Spec(BTC, 5_000, 7_000_000), Spec(XYZ, 1_000, 100)]


@st.composite
def spot_scenario(draw: st.DrawFn) -> list[tuple[int, int, int, int]]:
    n = draw(st.integers(1, 2))
    length = draw(st.integers(1, 200))
    steps = []
    for word in draw(st.lists(WORD, min_size=length, max_size=length)):
        k, sell, rate, rest = unpack(word, n, 2, len(RATES), 2**160)
        spec = SPOT_SPECS[k]
        lo = 2_000_000 if spec.inst is BTC else 1  # BTC between 20000 and 70000 USDT
        lots, ticks = unpack(rest, spec.max_lots, spec.max_ticks - lo + 1)
        steps.append((k, -(lots + 1) if sell else lots + 1, ticks + lo, rate))
    return steps


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(steps=spot_scenario())
def test_spot_account_never_overdraws(steps: list[tuple[int, int, int, int]]) -> None:
    initial = 1000 * E8  # 1000 USDT: a 0.05 BTC buy (up to 3500 USDT) is often refused
    acct = Account(USDT, Money.from_units(initial, USDT))
    held: dict[InstrumentId, int] = {}
    cash = Fraction(initial, E8)
    for ts, (k, signed, ticks, rate) in enumerate(steps):
        inst = SPOT_SPECS[k].inst
        fee = RATES[rate].fee_units(inst.notional_units(ticks, abs(signed)))
        cash_after = cash - value(inst, signed, ticks) - Fraction(fee, E8)
        admissible = held.get(inst.id, 0) + signed >= 0 and cash_after >= 0
        before = state(acct)
        if admissible:
            acct.apply(fill(inst, signed, ticks, fee, ts))
            held[inst.id] = held.get(inst.id, 0) + signed
            cash = cash_after
        else:
            with pytest.raises(InsufficientFundsError):
                acct.apply(fill(inst, signed, ticks, fee, ts))
            assert state(acct) == before
        assert acct.cash_units == cash * E8
        assert acct.cash_units >= 0
        assert all(p.lots >= 0 for p in acct.positions.values())
        assert {iid: p.lots for iid, p in acct.positions.items()} == {
            iid: lots for iid, lots in held.items() if iid in acct.positions
        }
    marks = {s.inst.id: s.max_ticks for s in SPOT_SPECS}
    assert (
        acct.equity_units(marks)
        == acct.initial_units + acct.realised_units + acct.unrealised_units(marks) - acct.fees_units
    )
    assert_all_int(acct)


# --- no binary float anywhere -------------------------------------------------------------------


def test_ledger_holds_only_ints_and_decimals() -> None:
    acct = Account(USDT, Money.of("100000", USDT), mode=AccountMode.MARGIN, leverage=Decimal(5))
    rng = np.random.default_rng(7)  # numpy only to *generate* inputs; they enter as Python ints
    marks = {BTC.id: 6_000_000, ETH.id: 300_000}
    for ts in range(300):
        inst = BTC if rng.integers(2) else ETH
        lots = int(rng.integers(1, 500))
        signed = lots if rng.integers(2) else -lots
        ticks = marks[inst.id] + int(rng.integers(-5_000, 5_000))
        fee = RATES[int(rng.integers(len(RATES)))].fee_units(inst.notional_units(ticks, lots))
        realised = acct.apply(fill(inst, signed, ticks, fee, ts), marks)
        assert type(realised) is int
        marks[inst.id] = ticks
    assert_all_int(acct)
    for v in (acct.equity_units(marks), acct.unrealised_units(marks), acct.gross_exposure_units(marks)):
        assert type(v) is int
    assert type(acct.cash.amount) is Decimal
    assert all(type(v) is Decimal for v in acct.balances().values())
    for pos in acct.positions.values():
        assert type(pos.quantity.value) is Decimal
        assert type(pos.realised.amount) is Decimal
        assert type(pos.fees.amount) is Decimal
        assert pos.avg_entry_price is None or type(pos.avg_entry_price) is Decimal
        assert type(pos.unrealised_units(marks[pos.instrument.id])) is int
    f = fill(BTC, 3, 6_000_000, 18)
    assert type(f.price.value) is Decimal and type(f.quantity.value) is Decimal
    assert (type(f.notional.amount), type(f.fee.amount), type(f.notional_units)) == (Decimal, Decimal, int)
    assert f.notional.amount == Decimal("1.8") and f.fee.amount == Decimal("0.00000018")


@pytest.mark.parametrize(
    "make",
    [
        lambda: Money.of(0.1, USDT),
        lambda: FeeRate(0.001),
        lambda: FeeRate.of(0.001),
        lambda: Account(USDT, Money.of(1, USDT), mode=AccountMode.MARGIN, leverage=2.0),
        lambda: Instrument.spot("A/B", tick=0.01, lot="1"),
    ],
    ids=["money", "fee rate", "fee rate of", "leverage", "tick"],
)
def test_floats_are_refused_at_every_entrance(make: object) -> None:
    with pytest.raises(TypeError):
        make()  # type: ignore[operator]
