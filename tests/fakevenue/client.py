"""An unmodified ccxt Binance client pointed at the fake venue, and nowhere else."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from .server import FakeVenue

CLIENT_OPTIONS: dict[str, Any] = {
    "defaultType": "spot",
    "fetchMarkets": {"types": ["spot"]},  # else load_markets also calls fapi/dapi exchangeInfo
    "fetchCurrencies": False,  # else sapi capital/config/getall
    "fetchMargins": False,  # on by default in 4.5.90: sapi margin/allPairs, margin/isolated/allPairs
    "warnOnFetchOpenOrdersWithoutSymbol": False,
}
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def local_urls(venue: FakeVenue, template: dict[str, str]) -> dict[str, str]:
    """Every ccxt API base URL moved onto the venue, path kept (`/api/v3`, `/sapi/v1`, `/fapi/v1`, ...).

    Spot needs only `public`/`private` (and `sapi` for a few account calls), but moving them all
    means a code path that strays to futures or margin hits the fake, is answered 404 and recorded
    in `venue.unexpected`, instead of leaving the machine.
    """
    return {key: venue.base_url + urlsplit(url).path for key, url in template.items()}


def assert_local(client: Any) -> None:
    """Fail unless every API URL of the client points at a loopback host."""
    for key, url in client.urls["api"].items():
        host = urlsplit(url).hostname
        assert host in LOCAL_HOSTS, f"ccxt API url {key}={url} is not local"


def make_client(venue: FakeVenue, async_: bool = False, **config: Any) -> Any:
    """A `ccxt.binance` (or `ccxt.async_support.binance`) talking to `venue`.

    `config` overrides or extends the ccxt constructor config (e.g. `timeout=500` in ms).
    """
    if async_:
        import ccxt.async_support as ccxt_module
    else:
        import ccxt as ccxt_module

    options = dict(CLIENT_OPTIONS) | config.pop("options", {})
    settings: dict[str, Any] = {
        "apiKey": "fake-api-key",
        "secret": "fake-secret",
        "enableRateLimit": True,
        "rateLimit": 1,  # ms per weight unit: keeps ccxt's throttler in the path without slowing tests
        "timeout": 5_000,
        "options": options,
    } | config
    client = ccxt_module.binance(settings)
    client.urls["api"] = local_urls(venue, client.urls["api"])
    for table in ("test", "demo"):  # sandbox / demo tables: unused (both modes stay off) but kept local too
        if isinstance(client.urls.get(table), dict):
            client.urls[table] = local_urls(venue, client.urls[table])
    assert_local(client)
    return client
