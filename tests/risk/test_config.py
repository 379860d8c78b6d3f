"""RiskConfig: misspelt keys and bad limits fail with a clear message; values are exact."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from atb.risk import RiskConfig


def test_all_limits_are_off_by_default() -> None:
    config = RiskConfig()
    assert all(value is None for name, value in config if name != "max_position_notional_by_symbol")
    assert config.max_position_notional_by_symbol == {}
    assert not config.needs_prices


def test_every_field_is_described() -> None:
    assert all(field.description for field in RiskConfig.model_fields.values())


def test_misspelt_key_is_refused_with_a_suggestion() -> None:
    with pytest.raises(ValidationError) as info:
        RiskConfig.model_validate({"max_order_notinal": "1000"})
    message = str(info.value)
    assert "unknown risk setting 'max_order_notinal'" in message
    assert "did you mean 'max_order_notional'?" in message


def test_unrelated_unknown_key_is_refused_without_a_guess() -> None:
    with pytest.raises(ValidationError, match="unknown risk setting 'colour'") as info:
        RiskConfig.model_validate({"colour": "red"})
    assert "did you mean" not in str(info.value)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("max_order_notional", "-1"),
        ("max_order_notional", "0"),
        ("max_gross_leverage", "-2"),
        ("max_open_orders", 0),
        ("max_orders_per_minute", -5),
        ("daily_loss_limit", "-100"),
        ("max_drawdown_pct", "150"),
        ("price_band_pct", "NaN"),
        ("max_var_95_pct", "Infinity"),
    ],
)
def test_non_positive_or_non_finite_limits_are_refused(key: str, value: object) -> None:
    with pytest.raises(ValidationError, match=key):
        RiskConfig.model_validate({key: value})


def test_negative_per_symbol_override_is_refused() -> None:
    with pytest.raises(ValidationError, match="BTC/USDT"):
        RiskConfig(max_position_notional_by_symbol={"BTC/USDT": Decimal(-1)})


def test_frozen() -> None:
    config = RiskConfig(max_open_orders=3)
    with pytest.raises(ValidationError, match="frozen"):
        config.max_open_orders = 4  # type: ignore[misc]


def test_values_are_exact_decimals_and_floats_read_by_their_shortest_form() -> None:
    config = RiskConfig.model_validate({"max_order_notional": 0.1, "daily_loss_limit": "250.55"})
    assert config.max_order_notional == Decimal("0.1")
    assert config.daily_loss_limit == Decimal("250.55")


def test_per_symbol_override_takes_precedence() -> None:
    config = RiskConfig(max_position_notional=Decimal(1000), max_position_notional_by_symbol={"ETH/USDT": Decimal(200)})
    assert config.position_limit("ETH/USDT") == Decimal(200)
    assert config.position_limit("BTC/USDT") == Decimal(1000)
    assert RiskConfig(max_position_notional_by_symbol={"ETH/USDT": Decimal(1)}).position_limit("BTC/USDT") is None
