"""VaR limit: historical one-bar 95 % VaR of the post-trade weights, via analytics.risk.portfolio_var."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from atb.analytics.risk import portfolio_var
from atb.risk import RiskReason

from .helpers import BTC_ID, ETH, ETH_ID, engine, order, returns_matrix, state

R = returns_matrix()


def hand_var_pct(weights: list[float]) -> float:
    """Independent reference: −5 % quantile (linear interpolation) of the portfolio returns, in percent."""
    return float(-np.quantile(R @ np.array(weights), 0.05) * 100)


def var_pct(weights: list[float]) -> float:
    """The number the engine compares with the limit (cross-checked against the reference below)."""
    return portfolio_var(R, weights, 0.95, "historical").var_pct


def test_reference_agrees_with_portfolio_var() -> None:
    for w in ([0.5, -0.2], [0.2, 0.1], [0.1, -0.1]):
        assert var_pct(w) == pytest.approx(hand_var_pct(w), rel=1e-12)


def test_var_limit_boundary_on_post_trade_weights() -> None:
    # 10 000 equity, 40 BTC lots (2000) held; buying ETH notional 1000 gives weights 0.2 / 0.1
    s = state("10000", positions={BTC_ID: 40}, returns=R, return_symbols=(BTC_ID, ETH_ID))
    var = var_pct([0.2, 0.1])
    o = order(notional="1000", inst=ETH)
    limit = Decimal(repr(var))
    assert engine(max_var_95_pct=limit).check(o, s).approved
    decision = engine(max_var_95_pct=limit - Decimal("1e-9")).check(o, s)
    assert decision.reason is RiskReason.VAR
    assert f"{var:.4f} % of equity" in decision.message
    # the pre-trade portfolio (weights 0.2 / 0) is within that lower limit: the order is what breaks it
    assert var_pct([0.2, 0.0]) < var - 1e-9


def test_shorts_enter_with_negative_weights() -> None:
    s = state("10000", positions={ETH_ID: -50}, returns=R, return_symbols=(BTC_ID, ETH_ID))  # −1000: −0.1
    var = var_pct([0.1, -0.1])
    o = order(lots=20)  # 1000 of BTC: +0.1
    assert engine(max_var_95_pct=Decimal(repr(var))).check(o, s).approved
    assert engine(max_var_95_pct=Decimal(repr(var)) - Decimal("1e-9")).check(o, s).reason is RiskReason.VAR


def test_missing_history_fails_closed_but_reducing_orders_pass() -> None:
    risk = engine(max_var_95_pct=Decimal(50))
    no_history = state(positions={BTC_ID: 10})
    decision = risk.check(order(lots=1), no_history)
    assert decision.reason is RiskReason.VAR
    assert "no return history for the portfolio" in decision.message
    only_btc = state(returns=R[:, :1], return_symbols=(BTC_ID,))
    assert "no return history for ETH/USDT" in risk.check(order(lots=1, inst=ETH), only_btc).message
    assert risk.check(order("sell", lots=10), no_history).approved
