"""Kill switch: drawdown trips it through the engine, it latches, only reducing orders pass, flatten."""

from __future__ import annotations

from decimal import Decimal

import pytest

from atb.domain import Account, AccountMode, Currency, InstrumentId, Money, OrderSide
from atb.risk import FlattenOrder, KillSwitch, RiskReason, flatten_orders

from .helpers import BTC, BTC_ID, ETH, ETH_ID, engine, order, state


def test_drawdown_at_the_limit_does_not_trip_one_unit_beyond_does() -> None:
    risk = engine(max_drawdown_pct=Decimal(10))
    risk.observe_equity(Decimal(10000))
    assert risk.check(order(lots=1), state("9000")).approved  # exactly 10 %
    assert not risk.kill_switch.tripped
    decision = risk.check(order(lots=1), state("8999.99999999"))
    assert decision.reason is RiskReason.KILL_SWITCH
    assert risk.kill_switch.tripped
    assert risk.kill_switch.reason is not None
    assert risk.kill_switch.reason.startswith("max_drawdown_pct: drawdown 10.0000 % from peak 10000 to 8999.99999999")
    assert "max_drawdown_pct" in decision.message


def test_observe_equity_trips_without_any_order() -> None:
    risk = engine(max_drawdown_pct=Decimal(20))
    for equity in ("10000", "12000", "9700"):
        assert not risk.observe_equity(Decimal(equity))
    assert risk.watermarks.peak == Decimal(12000)
    assert risk.observe_equity(Decimal("9599.99"))  # 20.0008 % below 12 000
    assert risk.kill_switch.ts_tripped == risk.clock()


def test_peak_from_the_state_overrides_the_watermark() -> None:
    risk = engine(max_drawdown_pct=Decimal(10))
    assert risk.check(order(lots=1), state("9000", peak_equity=Decimal(10000))).approved
    assert risk.check(order(lots=1), state("8999", peak_equity=Decimal(10000))).reason is RiskReason.KILL_SWITCH


def test_tripped_switch_latches_and_lets_only_reducing_orders_through() -> None:
    risk = engine(max_drawdown_pct=Decimal(10))
    risk.observe_equity(Decimal(10000))
    risk.observe_equity(Decimal(8000))
    s = state("11000", positions={BTC_ID: 10, ETH_ID: -5})  # recovered: still tripped
    assert risk.check(order(lots=1), s).reason is RiskReason.KILL_SWITCH
    assert risk.check(order("sell", lots=11), s).reason is RiskReason.KILL_SWITCH  # would flip to short
    assert risk.check(order("sell", notional="10"), s).reason is RiskReason.KILL_SWITCH  # lots unknown
    assert risk.check(order("sell", lots=10), s).approved
    assert risk.check(order("buy", lots=5, inst=ETH), s).approved
    assert risk.check(order("sell", notional="10", reduce_only=True), s).approved
    for symbol, side, lots in risk.flatten_orders(s.positions):
        flatten = order(side.value, lots=lots, reduce_only=True, inst=BTC if symbol == BTC_ID else ETH)
        assert risk.check(flatten, s).approved


def test_manual_trip_keeps_the_first_reason_and_reset_needs_confirmation() -> None:
    risk = engine(max_drawdown_pct=Decimal(10))
    assert risk.kill_switch.trip("operator: exchange outage", ts=5)
    assert not risk.kill_switch.trip("second reason")
    assert risk.kill_switch.reason == "operator: exchange outage"
    assert risk.check(order(lots=1), state()).message.startswith("kill switch tripped (operator: exchange outage)")
    with pytest.raises(ValueError, match="confirm=True"):
        risk.reset_kill_switch()
    assert risk.kill_switch.tripped
    risk.reset_kill_switch(confirm=True)
    assert not risk.kill_switch.tripped and risk.kill_switch.reason is None
    assert risk.check(order(lots=1), state()).approved
    with pytest.raises(ValueError, match="reason"):
        KillSwitch().trip("")


def test_reset_rebases_the_peak_so_the_old_drawdown_does_not_trip_again() -> None:
    risk = engine(max_drawdown_pct=Decimal(10))
    risk.observe_equity(Decimal(10000))
    assert risk.observe_equity(Decimal(8000))
    risk.reset_kill_switch(confirm=True, equity=Decimal(8000))
    assert not risk.observe_equity(Decimal(7200))  # 10 % below the new peak
    assert risk.observe_equity(Decimal("7199.99"))


def test_flatten_orders_for_long_short_and_flat_positions() -> None:
    positions: dict[InstrumentId, int] = {ETH_ID: -7, BTC_ID: 12, InstrumentId("SOL/USDT"): 0}
    assert flatten_orders(positions) == [
        FlattenOrder(BTC_ID, OrderSide.SELL, 12),
        FlattenOrder(ETH_ID, OrderSide.BUY, 7),
    ]
    assert KillSwitch().flatten_orders({}) == []


def test_flatten_orders_from_an_account() -> None:
    usdt = Currency("USDT", 8)
    account = Account(usdt, Money.of("100000", usdt), mode=AccountMode.MARGIN, leverage=Decimal(3))
    account.book(BTC, 3, 5_000_000, 0, 0)
    account.book(ETH, -40, 200_000, 0, 0)
    account.book(ETH, 15, 190_000, 0, 0)  # short cut to 25 lots
    assert engine().flatten_orders(account.positions) == [
        (BTC_ID, OrderSide.SELL, 3),
        (ETH_ID, OrderSide.BUY, 25),
    ]
