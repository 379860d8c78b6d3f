"""Request bodies (validated by pydantic: unknown fields refused) and how stored rows are written out.

Money, prices and quantities travel as decimal strings both ways. A JSON number is refused for
them with a message that says why: most clients (JavaScript's `JSON.parse`, Python's `json`)
turn `0.1` into a binary float before we ever see it, so the exact ledger cannot trust one.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, field_validator, model_validator

from atb.api.live_view import iso_ns, plain
from atb.domain.enums import OPEN_STATUSES
from atb.store.models import AlertRow, FillRow, OrderRow, PositionRow, RunRow

__all__ = [
    "BacktestBody",
    "DecimalText",
    "OrderBody",
    "SilenceBody",
    "alert_row_dict",
    "fill_row_dict",
    "order_row_dict",
    "position_row_dict",
    "run_row_dict",
]

_OPEN = {s.value for s in OPEN_STATUSES}
_FLOAT_REFUSED = (
    'must be a JSON string holding a decimal number, e.g. "0.015": JSON numbers are binary floats '
    "in most clients, so money, prices and quantities are never taken as one"
)


def _decimal_text(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(_FLOAT_REFUSED)
    text = value.strip()
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a decimal number") from None
    if not number.is_finite():
        raise ValueError(f"{value!r} is not a finite number")
    return text


DecimalText = Annotated[str, BeforeValidator(_decimal_text), Field(examples=["0.015"])]
"""A decimal number written as a JSON string."""


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=200)


class OrderBody(_Body):
    """A manual order for the running node; it passes the same risk engine as the strategy's orders."""

    symbol: str = Field(examples=["BTC/USDT"])
    side: Literal["buy", "sell"]
    type: Literal["market", "limit"] = "market"
    quantity: DecimalText = Field(description="Base-asset quantity on the instrument's lot grid, as a string.")
    limit_price: DecimalText | None = Field(default=None, description="Required for limit orders, on the tick grid.")
    tif: Literal["gtc", "ioc", "fok"] = "gtc"
    reduce_only: StrictBool = False
    tag: str = Field(default="api", max_length=100, description="Stored with the order; 'api' marks manual orders.")

    @field_validator("quantity")
    @classmethod
    def _positive(cls, value: str) -> str:
        if Decimal(value) <= 0:
            raise ValueError("must be positive")
        return value

    @field_validator("limit_price")
    @classmethod
    def _positive_price(cls, value: str | None) -> str | None:
        if value is not None and Decimal(value) <= 0:
            raise ValueError("must be positive")
        return value

    @model_validator(mode="after")
    def _price_matches_type(self) -> OrderBody:
        if self.type == "limit" and self.limit_price is None:
            raise ValueError("a limit order needs limit_price")
        if self.type == "market" and self.limit_price is not None:
            raise ValueError("a market order takes no limit_price")
        return self


class SilenceBody(_Body):
    minutes: int = Field(gt=0, le=7 * 24 * 60, description="How long notifications of the rule are suppressed.")


ParamValue = str | int | float | bool


class BacktestBody(_Body):
    """A subset of `atb backtest`'s options; data are bundled samples (the API exposes no server files)."""

    strategy: str = Field(default="sma_cross", description="A built-in strategy (GET /api/strategies).")
    params: dict[str, ParamValue] = Field(default_factory=dict, max_length=50)
    data: list[str] = Field(default_factory=list, max_length=20, description="Bundled sample names, e.g. BTC_USDT_2h.")
    symbol: str | None = None
    cash: DecimalText = "10000"
    commission: DecimalText | None = None
    fill: Literal["next_open", "close"] = "next_open"
    slippage: str | None = Field(default=None, pattern=r"^(none|\d+(\.\d+)?|sqrt(:[0-9.]+(:[0-9.]+)?)?)$")
    latency: int = Field(default=0, ge=0, le=1000)
    account: Literal["margin", "spot"] = "margin"
    leverage: DecimalText = "1"
    equity_points: int = Field(default=2000, ge=0, le=100_000)
    engine: Literal["auto", "event", "signals"] = "auto"

    def param_text(self) -> dict[str, str]:
        """Parameters as `-p key=value` text, the form strategies parse and validate."""
        return {k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in self.params.items()}


# --------------------------------------------------------------------------------------------- rows out


def order_row_dict(row: OrderRow) -> dict[str, Any]:
    return {
        "client_order_id": row.client_order_id,
        "run_id": row.run_id,
        "symbol": row.instrument,
        "side": row.side,
        "type": row.type,
        "quantity": plain(row.quantity),
        "notional": plain(row.notional),
        "equity_fraction": plain(row.equity_fraction),
        "limit_price": plain(row.limit_price),
        "stop_price": plain(row.stop_price),
        "tif": row.tif,
        "reduce_only": row.reduce_only,
        "status": row.status,
        "open": row.status in _OPEN,
        "filled_quantity": plain(row.filled_quantity),
        "reason": row.reason,
        "tag": row.tag,
        "venue_order_id": row.venue_order_id,
        "created": iso_ns(row.created_ns),
        "updated": iso_ns(row.updated_ns),
    }


def fill_row_dict(row: FillRow, client_order_id: str) -> dict[str, Any]:
    return {
        "trade_id": row.trade_id,
        "client_order_id": client_order_id,
        "symbol": row.instrument,
        "side": row.side,
        "quantity": plain(row.quantity),
        "price": plain(row.price),
        "fee": plain(row.fee),
        "fee_currency": row.fee_currency,
        "liquidity": row.liquidity,
        "time": iso_ns(row.ts_event),
        "ts_ms": row.ts_event // 1_000_000,
    }


def position_row_dict(row: PositionRow) -> dict[str, Any]:
    return {
        "symbol": row.instrument,
        "side": "long" if row.lots > 0 else "short" if row.lots < 0 else "flat",
        "quantity": plain(abs(row.quantity)),
        "cost": plain(row.cost),
        "realised_pnl": plain(row.realised),
        "fees_paid": plain(row.fees),
        "currency": row.currency,
        "opened": iso_ns(row.opened_ns) if row.lots else None,
        "updated": iso_ns(row.updated_ns),
    }


def run_row_dict(row: RunRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "mode": row.mode,
        "strategy": row.strategy,
        "params": row.params,
        "status": row.status,
        "started": iso_ns(row.started_ns),
        "ended": iso_ns(row.ended_ns),
    }


def alert_row_dict(row: AlertRow) -> dict[str, Any]:
    def num(text: str) -> float | None:
        value = float(text)
        return value if value == value and abs(value) != float("inf") else None

    return {
        "id": row.id,
        "rule": row.rule,
        "severity": row.severity,
        "kind": row.kind,
        "value": num(row.value),
        "threshold": num(row.threshold),
        "message": row.message,
        "silenced": row.silenced,
        "time": iso_ns(row.ts_ns),
    }
