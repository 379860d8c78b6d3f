"""Every limit approves exactly at its boundary and denies one unit beyond it (limits are inclusive).

Prices: BTC 50 000 (one 0.001 lot = 50 USDT), ETH 2 000 (one 0.01 lot = 20 USDT); one quote
unit is 1e-8 USDT, so a notional order one unit over a money limit is `limit + 0.00000001`.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import pytest

from atb.domain import Order
from atb.risk import RiskReason, RiskState

from .helpers import BTC, BTC_ID, ETH, ETH_ID, NS, FakeClock, engine, order, state


def verdict(limits: Mapping[str, Any], o: Order, s: RiskState) -> str:
    return engine(**limits).check(o, s).reason.value


# --- max_order_notional ---------------------------------------------------------------------


def test_order_notional_by_budget_boundary() -> None:
    limits = {"max_order_notional": Decimal(1000)}
    assert verdict(limits, order(notional="1000"), state()) == "approved"
    assert verdict(limits, order(notional="1000.00000001"), state()) == "max_order_notional"


def test_order_notional_in_lots_is_valued_at_the_limit_price() -> None:
    limits = {"max_order_notional": Decimal(1000)}
    assert verdict(limits, order(lots=20), state()) == "approved"  # 20 × 0.001 × 50 000 = 1000
    assert verdict(limits, order(lots=20, limit="50000.00"), state()) == "approved"
    # one tick higher: 0.02 × 50 000.01 = 1000.0002
    decision = engine(**limits).check(order(lots=20, limit="50000.01"), state())
    assert decision.reason is RiskReason.ORDER_NOTIONAL
    assert decision.message == "order notional 1000.0002 (at its price) exceeds max_order_notional 1000"
    assert verdict(limits, order(lots=21), state()) == "max_order_notional"


def test_order_notional_of_an_equity_fraction_is_fraction_times_equity() -> None:
    limits = {"max_order_notional": Decimal(1000)}
    assert verdict(limits, order(fraction="0.1"), state("10000")) == "approved"
    assert verdict(limits, order(fraction="0.1"), state("10000.0000001")) == "max_order_notional"


def test_stop_market_is_valued_at_its_stop_price() -> None:
    limits = {"max_order_notional": Decimal(1000)}
    assert verdict(limits, order(lots=20, stop="50000"), state(btc="40000")) == "approved"
    assert verdict(limits, order(lots=20, stop="50000.01"), state(btc="40000")) == "max_order_notional"


# --- max_position_notional -----------------------------------------------------------------


@pytest.mark.parametrize(("held", "side"), [(10, "buy"), (-10, "sell")])
def test_position_notional_boundary_long_and_short(held: int, side: str) -> None:
    limits = {"max_position_notional": Decimal(1000)}
    s = state(positions={BTC_ID: held})  # worth ±500
    assert verdict(limits, order(side, notional="500"), s) == "approved"
    assert verdict(limits, order(side, notional="500.00000001"), s) == "max_position_notional"
    assert verdict(limits, order(side, lots=10), s) == "approved"
    assert verdict(limits, order(side, lots=11), s) == "max_position_notional"


def test_flipping_through_zero_is_measured_on_the_far_side() -> None:
    limits = {"max_position_notional": Decimal(1000)}
    s = state(positions={BTC_ID: 10})
    assert verdict(limits, order("sell", lots=30), s) == "approved"  # +500 → −1000
    assert verdict(limits, order("sell", lots=31), s) == "max_position_notional"


def test_per_symbol_override() -> None:
    limits = {"max_position_notional": Decimal(1000), "max_position_notional_by_symbol": {"ETH/USDT": Decimal(200)}}
    assert verdict(limits, order(lots=10, inst=ETH), state()) == "approved"  # 10 × 0.01 × 2000 = 200
    decision = engine(**limits).check(order(lots=11, inst=ETH), state())
    assert decision.reason is RiskReason.POSITION_NOTIONAL
    assert "max_position_notional_by_symbol is 200" in decision.message
    assert verdict(limits, order(lots=20), state()) == "approved"  # BTC keeps the general 1000


# --- max_gross_exposure / max_gross_leverage --------------------------------------------------


def test_gross_exposure_sums_absolute_values() -> None:
    limits = {"max_gross_exposure": Decimal(1000)}
    s = state(positions={BTC_ID: 10, ETH_ID: -10})  # |500| + |−200| = 700
    assert verdict(limits, order(notional="300"), s) == "approved"
    assert verdict(limits, order(notional="300.00000001"), s) == "max_gross_exposure"
    assert verdict(limits, order("sell", notional="100", inst=ETH), s) == "approved"  # −200 → −300: 800
    assert verdict(limits, order("sell", lots=16, inst=ETH), s) == "max_gross_exposure"  # −520: 1020


def test_gross_leverage_is_exposure_over_equity() -> None:
    limits = {"max_gross_leverage": Decimal(2)}
    s = state("1000", positions={BTC_ID: 20})  # 1000 exposure on 1000 equity
    assert verdict(limits, order(notional="1000"), s) == "approved"
    decision = engine(**limits).check(order(notional="1000.00000001"), s)
    assert decision.reason is RiskReason.GROSS_LEVERAGE
    assert "max_gross_leverage is 2x" in decision.message
    assert verdict(limits, order(lots=1), state("0")) == "max_gross_leverage"


def test_exposure_needs_the_price_of_every_held_symbol() -> None:
    s = RiskState(
        equity=Decimal(10000),
        instruments={BTC_ID: BTC, ETH_ID: ETH},
        last_prices={BTC_ID: Decimal(50000)},
        positions={ETH_ID: 5},
    )
    decision = engine(max_gross_exposure=Decimal(10**6)).check(order(lots=1), s)
    assert decision.reason is RiskReason.NO_LAST_PRICE
    assert "ETH/USDT" in decision.message


# --- max_open_orders / max_orders_per_minute ------------------------------------------------


def test_open_orders_count_includes_the_new_one() -> None:
    limits = {"max_open_orders": 3}
    assert verdict(limits, order(lots=1), state(open_orders=2)) == "approved"
    assert verdict(limits, order(lots=1), state(open_orders=3)) == "max_open_orders"


def test_order_rate_boundary_and_window_sliding() -> None:
    clock = FakeClock()
    risk = engine(clock, max_orders_per_minute=3)
    start = clock.now
    for offset in (0, 10, 20):
        clock.now = start + offset * NS
        assert risk.check(order(lots=1), state()).approved
        risk.record_submission()
    clock.now = start + 30 * NS
    assert risk.check(order(lots=1), state()).reason is RiskReason.ORDER_RATE
    clock.now = start + 60 * NS - 1  # the first submission is still inside (now − 60 s, now]
    assert risk.check(order(lots=1), state()).reason is RiskReason.ORDER_RATE
    clock.now = start + 60 * NS  # exactly 60 s old: it has left the window
    assert risk.check(order(lots=1), state()).approved
    assert risk.submissions_in_window() == 2
    risk.record_submission()
    assert risk.check(order(lots=1), state()).reason is RiskReason.ORDER_RATE
    clock.now = start + 80 * NS  # the 10 s and 20 s ones have left too
    assert risk.submissions_in_window() == 1


def test_record_submission_with_explicit_timestamps() -> None:
    clock = FakeClock()
    risk = engine(clock, max_orders_per_minute=2)
    risk.record_submission(clock.now - 61 * NS)  # already outside
    risk.record_submission(clock.now - 5 * NS)
    assert risk.check(order(lots=1), state()).approved
    risk.record_submission(clock.now - 1 * NS)
    assert risk.check(order(lots=1), state()).reason is RiskReason.ORDER_RATE


# --- price_band_pct ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limit", "expected"),
    [
        ("52500.00", "approved"),
        ("52500.01", "price_band_pct"),
        ("47500.00", "approved"),
        ("47499.99", "price_band_pct"),
    ],
)
def test_price_band_around_the_last_price(limit: str, expected: str) -> None:
    assert verdict({"price_band_pct": Decimal(5)}, order(lots=1, limit=limit), state()) == expected


def test_price_band_of_a_stop_limit_is_measured_from_its_stop() -> None:
    limits = {"price_band_pct": Decimal(1)}
    assert verdict(limits, order(lots=1, stop="40000", limit="40400"), state()) == "approved"
    assert verdict(limits, order(lots=1, stop="40000", limit="40400.01"), state()) == "price_band_pct"


def test_price_band_message_names_the_limit_and_the_value() -> None:
    decision = engine(price_band_pct=Decimal(5)).check(order(lots=1, limit="55000"), state())
    assert decision.message == "limit price 55000 is 10 % from the last price 50000; price_band_pct is 5 %"


def test_market_orders_have_no_band() -> None:
    assert verdict({"price_band_pct": Decimal("0.01")}, order(lots=1), state()) == "approved"


# --- daily_loss_limit ------------------------------------------------------------------------


def test_daily_loss_boundary_from_the_state() -> None:
    limits = {"daily_loss_limit": Decimal(100)}
    assert verdict(limits, order(lots=1), state("9900", day_start_equity=Decimal(10000))) == "approved"
    assert verdict(limits, order(lots=1), state("9899.99999999", day_start_equity=Decimal(10000))) == "daily_loss_limit"
