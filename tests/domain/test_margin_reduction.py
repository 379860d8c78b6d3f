"""A margin account over its leverage limit may still reduce risk, never add to it."""

from __future__ import annotations

from decimal import Decimal

import pytest

from atb.domain import Account, AccountMode, Instrument, InsufficientFundsError, Money


def _over_limit_account() -> tuple[Account, Instrument]:
    inst = Instrument.spot("BTC/USDT", tick="0.01", lot="0.001", maker_fee="0", taker_fee="0")
    account = Account(inst.quote, Money.of("1000", inst.quote), mode=AccountMode.MARGIN, leverage=Decimal(2))
    # long 20 BTC... at 100.00: notional 2000 = 2x equity, the limit exactly
    account.book(inst, 20_000, 10_000, 0, 0)
    return account, inst


def test_reducing_fill_is_allowed_when_a_loss_pushed_exposure_over_the_limit() -> None:
    account, inst = _over_limit_account()
    # price falls to 60.00: equity 1000 - 800 = 200, exposure 1200 = 6x > 2x
    account.check_fill(inst, -5_000, 6_000, 0, {})  # selling 5 of 20 reduces risk: allowed
    account.book(inst, -5_000, 6_000, 0, 1)
    assert account.positions[inst.id].lots == 15_000


def test_adding_or_flipping_is_refused_over_the_limit() -> None:
    account, inst = _over_limit_account()
    with pytest.raises(InsufficientFundsError):
        account.check_fill(inst, 1_000, 6_000, 0, {})  # adding to the long
    with pytest.raises(InsufficientFundsError):
        account.check_fill(inst, -30_000, 6_000, 0, {})  # flipping to a 10 BTC short at 5x
    assert account.positions[inst.id].lots == 20_000
