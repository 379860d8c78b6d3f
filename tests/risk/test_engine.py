"""The engine: the fixed order of checks, reduce-only exemptions, UTC-day rollover, denial events."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from atb.domain import Account, AccountMode, Currency, Money, OrderStatus
from atb.risk import RiskConfig, RiskEngine, RiskReason, RiskState

from .helpers import BTC, BTC_ID, DAY, ETH_ID, NS, FakeClock, engine, order, returns_matrix, state

ALL_LIMITS: dict[str, Any] = {
    "price_band_pct": Decimal(1),
    "daily_loss_limit": Decimal(10),
    "max_open_orders": 1,
    "max_orders_per_minute": 1,
    "max_order_notional": Decimal(10),
    "max_position_notional": Decimal(10),
    "max_gross_exposure": Decimal(10),
    "max_gross_leverage": Decimal("0.001"),
    "max_var_95_pct": Decimal("0.0001"),
}
DOCUMENTED_ORDER = list(ALL_LIMITS)


def test_first_failure_wins_in_the_documented_order() -> None:
    """An order breaking every limit is denied by each in turn as the earlier ones are switched off."""
    clock = FakeClock()
    s = state(
        "9000",
        day_start_equity=Decimal(10000),
        open_orders=5,
        positions={BTC_ID: 100},
        returns=returns_matrix(),
        return_symbols=(BTC_ID, ETH_ID),
    )
    far_limit = order(lots=100, limit="60000")
    seen = []
    for i, name in enumerate(DOCUMENTED_ORDER):
        risk = RiskEngine(RiskConfig.model_validate(dict(list(ALL_LIMITS.items())[i:])), clock)
        risk.record_submission()
        seen.append(risk.check(far_limit, s).reason.value)
        assert seen[-1] == name
    assert seen == DOCUMENTED_ORDER


def test_kill_switch_unknown_instrument_and_missing_price_come_first() -> None:
    risk = engine(max_order_notional=Decimal(10))
    no_btc = RiskState(equity=Decimal(1), instruments={}, last_prices={})
    assert risk.check(order(lots=1), no_btc).reason is RiskReason.UNKNOWN_INSTRUMENT
    no_price = RiskState(equity=Decimal(1), instruments={BTC_ID: BTC}, last_prices={})
    assert risk.check(order(lots=1), no_price).reason is RiskReason.NO_LAST_PRICE
    risk.kill_switch.trip("manual")
    assert risk.check(order(lots=1), no_btc).reason is RiskReason.KILL_SWITCH


def test_no_limits_approve_without_prices() -> None:
    bare = RiskState(equity=Decimal(1), instruments={BTC_ID: BTC}, last_prices={})
    assert engine().check(order(lots=10**9), bare).approved


@pytest.mark.parametrize(
    ("o", "held"),
    [
        (order("sell", lots=100, reduce_only=True), 100),
        (order("sell", notional="99999", reduce_only=True), 100),
        (order("sell", lots=100), 100),  # lots no larger than the long: can only reduce
        (order("buy", lots=40), -40),
    ],
)
def test_reducing_orders_pass_every_exposure_and_loss_limit(o: object, held: int) -> None:
    limits = {k: v for k, v in ALL_LIMITS.items() if k != "price_band_pct"}
    s = state("9000", day_start_equity=Decimal(10000), open_orders=5, positions={BTC_ID: held})
    risk = engine(**limits)
    risk.record_submission()
    decision = risk.check(o, s)  # type: ignore[arg-type]
    assert decision.approved
    assert decision.reason is RiskReason.APPROVED


def test_orders_that_might_not_reduce_are_checked() -> None:
    risk = engine(max_position_notional=Decimal(10))
    long = state(positions={BTC_ID: 100})  # worth 5000, far over the limit
    assert risk.check(order("sell", lots=101), long).reason is RiskReason.POSITION_NOTIONAL  # flips
    assert risk.check(order("buy", lots=1), long).reason is RiskReason.POSITION_NOTIONAL  # adds
    # sized by budget: the lots are unknown, so it is not trusted to reduce and is estimated instead
    assert risk.check(order("sell", notional="4990"), long).approved  # 5000 − 4990 = 10
    assert risk.check(order("sell", notional="4989.99999999"), long).reason is RiskReason.POSITION_NOTIONAL


def test_price_band_still_applies_to_reducing_orders() -> None:
    risk = engine(price_band_pct=Decimal(1))
    s = state(positions={BTC_ID: 10})
    assert risk.check(order("sell", lots=10, limit="40000", reduce_only=True), s).reason is RiskReason.PRICE_BAND


def test_daily_loss_rolls_over_at_utc_midnight() -> None:
    midnight = (T := FakeClock().now) - T % DAY + DAY  # the next 00:00 UTC
    clock = FakeClock(midnight - 3600 * NS)
    risk = engine(clock, daily_loss_limit=Decimal(100))
    risk.observe_equity(Decimal(10000))  # 23:00: the day started earlier at 10 000 as far as we know
    clock.now = midnight - 1
    assert risk.check(order(lots=1), state("9900")).approved
    decision = risk.check(order(lots=1), state("9899.99"))
    assert decision.reason is RiskReason.DAILY_LOSS
    assert decision.message == (
        "loss today 100.01 (from 10000 at the UTC day start to 9899.99) exceeds daily_loss_limit 100"
    )
    clock.now = midnight  # a new UTC day starts from the equity observed now
    assert risk.check(order(lots=1), state("9850")).approved
    assert risk.watermarks.day_start == Decimal(9850)
    clock.now = midnight + DAY - 1
    assert risk.check(order(lots=1), state("9750")).approved
    assert risk.check(order(lots=1), state("9749.99999999")).reason is RiskReason.DAILY_LOSS


def test_state_day_start_overrides_the_watermark() -> None:
    risk = engine(daily_loss_limit=Decimal(100))
    risk.observe_equity(Decimal(20000))
    assert risk.check(order(lots=1), state("9950", day_start_equity=Decimal(10000))).approved


def test_denied_event_moves_the_order_to_denied_with_the_code() -> None:
    risk = engine(max_order_notional=Decimal(10))
    o = order(lots=1)
    decision = risk.check(o, state())
    event = decision.denied_event(o, ts=123)
    assert (event.client_order_id, event.ts_event, event.ts_init) == (o.client_order_id, 123, 123)
    o.apply(event)
    assert o.status is OrderStatus.DENIED
    assert o.reason.split(":")[0] == "max_order_notional"
    assert o.reason == "max_order_notional: order notional 50 (at its price) exceeds max_order_notional 10"
    approved = engine().check(o, state())
    with pytest.raises(ValueError, match="approved"):
        approved.denied_event(o, 1)


def test_state_from_account_marks_positions_exactly() -> None:
    usdt = Currency("USDT", 8)
    account = Account(usdt, Money.of("10000", usdt), mode=AccountMode.MARGIN, leverage=Decimal(3))
    account.book(BTC, 7, 4_000_000, 0, 0)  # buy 0.007 BTC at 40 000.00 → cash 9720
    account.book(BTC, -2, 4_100_000, 0, 0)  # sell 0.002 at 41 000.00 → cash 9802, 5 lots left
    s = RiskState.from_account(account, {BTC_ID: Decimal("45123.45")})
    assert s.positions == {BTC_ID: 5}
    assert s.equity == Decimal(9802) + Decimal("0.005") * Decimal("45123.45")
    assert s.equity == Decimal("10027.61725")
    assert s.instruments[BTC_ID] is BTC
    with pytest.raises(TypeError):
        s.positions[BTC_ID] = 1  # type: ignore[index]
    with pytest.raises(ValueError, match="no last price for BTC/USDT"):
        RiskState.from_account(account, {})


def test_state_refuses_float_equity_and_mismatched_returns() -> None:
    with pytest.raises(TypeError, match="equity"):
        RiskState(equity=1.5, instruments={}, last_prices={})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="one column per return symbol"):
        state(returns=returns_matrix(), return_symbols=(BTC_ID,))
