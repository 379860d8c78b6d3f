"""The risk limits, as one validated, immutable settings object.

Every limit is optional: `None` switches it off. Every limit is *inclusive*:
a value equal to the limit is allowed, one unit above it is refused (the
drawdown limit trips the kill switch only when the drawdown is strictly
greater). Percentages are written in percent (5 means 5 %), money in the
account's quote currency. Floats in a config file are read through their
shortest decimal form (0.1 means 0.1), as pydantic does for `Decimal`.

A misspelt key is an error, not a silently ignored limit: a risk setting
that does nothing while the trader believes it protects them is the worst
failure this object could have.
"""

from __future__ import annotations

import difflib
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

PositiveMoney = Annotated[Decimal, Field(gt=0, allow_inf_nan=False)]


class RiskConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_order_notional: PositiveMoney | None = Field(
        default=None,
        description="Largest notional of one order (quote currency), valued at its limit price, else its stop "
        "price, else the last price; notional/fraction orders at their budget.",
    )
    max_position_notional: PositiveMoney | None = Field(
        default=None,
        description="Largest absolute position value per symbol after the order, marked at the last price.",
    )
    max_position_notional_by_symbol: dict[str, PositiveMoney] = Field(
        default_factory=dict,
        description="Per-symbol override of max_position_notional, keyed by unified symbol (e.g. 'BTC/USDT').",
    )
    max_gross_exposure: PositiveMoney | None = Field(
        default=None,
        description="Largest sum of absolute position values over all symbols after the order (quote currency).",
    )
    max_gross_leverage: Annotated[Decimal, Field(gt=0, allow_inf_nan=False)] | None = Field(
        default=None,
        description="Largest gross exposure after the order divided by current equity (e.g. 2 = 2x).",
    )
    max_open_orders: Annotated[int, Field(gt=0)] | None = Field(
        default=None,
        description="Most orders open at the venue at once, counting the one being checked.",
    )
    max_orders_per_minute: Annotated[int, Field(gt=0)] | None = Field(
        default=None,
        description="Most order submissions in any trailing 60-second window, counting the one being checked.",
    )
    price_band_pct: Annotated[Decimal, Field(gt=0, allow_inf_nan=False)] | None = Field(
        default=None,
        description="Fat-finger band: largest distance, in percent of the last price, of a limit order's "
        "price from the last price (a stop-limit's limit from its stop price).",
    )
    daily_loss_limit: PositiveMoney | None = Field(
        default=None,
        description="Largest loss from the UTC day's starting equity before new risk is refused until the "
        "next UTC midnight (quote currency).",
    )
    max_drawdown_pct: Annotated[Decimal, Field(gt=0, le=100, allow_inf_nan=False)] | None = Field(
        default=None,
        description="Drawdown from peak equity, in percent, beyond which the kill switch trips.",
    )
    max_var_95_pct: Annotated[Decimal, Field(gt=0, allow_inf_nan=False)] | None = Field(
        default=None,
        description="Largest one-bar historical 95 % VaR of the portfolio after the order, in percent of equity, "
        "computed from the supplied return history.",
    )

    @model_validator(mode="before")
    @classmethod
    def _name_unknown_keys(cls, data: Any) -> Any:
        """Say which key is unknown and what it probably meant, before pydantic's generic message."""
        if isinstance(data, dict):
            known = set(cls.model_fields)
            unknown = sorted(str(key) for key in data if key not in known)
            if unknown:
                hints = []
                for key in unknown:
                    close = difflib.get_close_matches(key, sorted(known), n=1)
                    hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
                raise ValueError(f"unknown risk setting {', '.join(hints)}; known: {', '.join(sorted(known))}")
        return data

    def position_limit(self, symbol: str) -> Decimal | None:
        """The position limit that applies to `symbol`: its override, else the general one."""
        return self.max_position_notional_by_symbol.get(symbol, self.max_position_notional)

    @property
    def needs_prices(self) -> bool:
        """Whether any configured limit values the order or positions (so a last price is required)."""
        return any(
            limit is not None
            for limit in (
                self.max_order_notional,
                self.max_position_notional,
                self.max_gross_exposure,
                self.max_gross_leverage,
                self.price_band_pct,
                self.max_var_95_pct,
            )
        ) or bool(self.max_position_notional_by_symbol)
