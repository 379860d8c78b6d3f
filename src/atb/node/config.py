"""The node's configuration file (TOML), validated before anything connects anywhere.

    [node]
    name = "btc-sma"            # the run id: a restart with the same name resumes the run
    strategy = "sma_cross"      # built-in name or path to a strategy file
    params = { fast = 10, slow = 30 }
    symbols = ["BTC/USDT"]
    timeframe = "1m"
    cash = "1000"               # capital this run trades, in the quote currency
    database = "sqlite:///atb.db"

    [venue]
    exchange = "binance"
    api_key_env = "ATB_API_KEY" # secrets come from the environment, never from this file
    secret_env = "ATB_API_SECRET"

    [risk]                      # any `atb.risk.RiskConfig` limit
    max_order_notional = 500

Unknown keys are errors (with a suggestion), as in the risk config: a misspelt setting that
silently does nothing is the worst kind of setting on a trading node.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from atb.errors import UserInputError
from atb.risk import RiskConfig

_RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _name_unknown_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            known = set(cls.model_fields)
            for key in data:
                if key not in known:
                    near = difflib.get_close_matches(str(key), sorted(known), n=1)
                    hint = f" (did you mean {near[0]!r}?)" if near else ""
                    raise ValueError(f"unknown setting {key!r}{hint}")
        return data


class NodeSection(_Strict):
    name: str = Field(description="Run id: letters, digits, '-' or '_', at most 32; a restart resumes it.")
    strategy: str = "sma_cross"
    params: dict[str, Any] = Field(default_factory=dict)
    symbols: list[str] = Field(min_length=1)
    timeframe: str = "1m"
    cash: Decimal = Field(gt=0, allow_inf_nan=False)
    database: str = "sqlite:///atb.db"
    warmup_bars: int = Field(default=500, ge=0, le=10_000)
    sync_seconds: float = Field(default=5.0, gt=0)
    on_stop: Literal["cancel", "leave"] = "cancel"
    max_bars: int | None = Field(default=None, gt=0)

    @field_validator("name")
    @classmethod
    def _run_name(cls, value: str) -> str:
        if not _RUN_NAME.match(value):
            raise ValueError("must be 1-32 letters, digits, '-' or '_', starting with a letter or digit")
        return value

    @field_validator("symbols")
    @classmethod
    def _symbols(cls, value: list[str]) -> list[str]:
        for symbol in value:
            if symbol.count("/") != 1:
                raise ValueError(f"symbol {symbol!r} must look like BASE/QUOTE")
        if len(set(value)) != len(value):
            raise ValueError("a symbol is listed twice")
        return value


class VenueSection(_Strict):
    exchange: str = "binance"
    api_key_env: str = "ATB_API_KEY"
    secret_env: str = "ATB_API_SECRET"
    urls: dict[str, str] = Field(
        default_factory=dict, description="Replacements for ccxt's urls['api'] entries (testnet, local test venue)."
    )
    options: dict[str, Any] = Field(default_factory=dict)
    timeout_ms: int = Field(default=10_000, gt=0)
    rate_limit_ms: int | None = Field(default=None, gt=0, description="ccxt's pause per request weight unit.")
    poll_seconds: float = Field(default=5.0, gt=0)
    stream: bool = Field(
        default=False, description="Closed bars over the exchange's websocket (ccxt.pro), REST as fallback."
    )
    ws_urls: dict[str, str] = Field(
        default_factory=dict, description="Replacements for ccxt.pro's urls['api']['ws'] entries (e.g. spot)."
    )

    def credentials(self) -> tuple[str | None, str | None]:
        return os.environ.get(self.api_key_env), os.environ.get(self.secret_env)


class PaperSection(_Strict):
    fill: Literal["next_open", "close"] = "next_open"
    commission: Decimal | None = Field(default=None, ge=0, lt=1)
    slippage: str = "none"


class NodeConfig(_Strict):
    node: NodeSection
    venue: VenueSection = Field(default_factory=VenueSection)
    risk: RiskConfig = Field(default_factory=RiskConfig)
    paper: PaperSection = Field(default_factory=PaperSection)


def load_config(path: Path | str) -> NodeConfig:
    """Read and validate a node config; every problem becomes one `UserInputError` naming the key."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserInputError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UserInputError(f"{path}: not valid TOML: {exc}") from None
    try:
        return NodeConfig.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        message = str(first["msg"]).removeprefix("Value error, ")
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise UserInputError(f"{path}: {where}: {message}{more}") from None
