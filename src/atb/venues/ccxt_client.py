"""Build a ccxt client for spot trading or data, optionally pointed at another base URL.

`api_url` moves every REST endpoint of the exchange onto that base (same
paths), which is how a local test venue or a recording proxy is used with
the unmodified client. The options keep `load_markets()` to spot markets
only (see ../shared/VENUE_NOTES.md: otherwise futures and margin endpoints are
called too).
"""

from __future__ import annotations

import importlib
from typing import Any
from urllib.parse import urlsplit

from atb.errors import MissingExtraError, UserInputError

SPOT_OPTIONS: dict[str, Any] = {
    "defaultType": "spot",
    "fetchMarkets": {"types": ["spot"]},
    "fetchCurrencies": False,
    "fetchMargins": False,
    "warnOnFetchOpenOrdersWithoutSymbol": False,
}


def _rebase(urls: dict[str, Any], base: str) -> dict[str, Any]:
    return {key: base.rstrip("/") + urlsplit(url).path if isinstance(url, str) else url for key, url in urls.items()}


def make_ccxt_client(
    exchange_id: str,
    *,
    api_url: str | None = None,
    async_: bool = False,
    api_key: str | None = None,
    secret: str | None = None,
    timeout_ms: int = 10_000,
) -> Any:
    """A configured ccxt exchange (sync or `ccxt.async_support`) with its rate limiter on."""
    try:
        module = importlib.import_module("ccxt.async_support" if async_ else "ccxt")
    except ImportError as exc:
        raise MissingExtraError("exchange access", "live", "ccxt") from exc
    exchange_class = getattr(module, exchange_id.lower(), None)
    if exchange_class is None:
        raise UserInputError(f"unknown exchange {exchange_id!r} (ccxt id, e.g. binance, kraken, okx)")
    config: dict[str, Any] = {"enableRateLimit": True, "timeout": timeout_ms, "options": dict(SPOT_OPTIONS)}
    if api_key:
        config["apiKey"] = api_key
    if secret:
        config["secret"] = secret
    client = exchange_class(config)
    if api_url:
        if urlsplit(api_url).scheme not in ("http", "https"):
            raise UserInputError(f"--api-url must be an http(s) URL, got {api_url!r}")
        client.urls["api"] = _rebase(client.urls["api"], api_url)
        for table in ("test", "demo"):
            if isinstance(client.urls.get(table), dict):
                client.urls[table] = _rebase(client.urls[table], api_url)
    return client
