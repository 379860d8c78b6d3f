"""Shared set-up for the live-node tests: a node config pointed at the fake venue."""

from __future__ import annotations

from pathlib import Path
from typing import Any

API_KEY = "fake-api-key"
SECRET = "fake-secret"


def venue_urls(venue: Any) -> dict[str, str]:
    """ccxt's Binance API URLs moved onto `venue.base_url` (paths kept)."""
    from urllib.parse import urlsplit

    import ccxt

    return {key: venue.base_url + urlsplit(url).path for key, url in ccxt.binance().urls["api"].items()}


def node_config_dict(venue: Any, db: Path | str, *, name: str = "t1", **node: Any) -> dict[str, Any]:
    """A node config for the fake venue; `db` is a SQLite file path or a database URL."""
    settings: dict[str, Any] = {
        "name": name,
        "strategy": "sma_cross",
        "params": {"fast": 3, "slow": 8},
        "symbols": ["BTC/USDT"],
        "timeframe": "5m",
        "cash": "1000",
        "database": db if isinstance(db, str) else f"sqlite:///{db}",
        "warmup_bars": 30,
        "sync_seconds": 0.05,
    } | node
    return {
        "node": settings,
        "venue": {
            "exchange": "binance",
            "urls": venue_urls(venue),
            "options": {"warnOnFetchOpenOrdersWithoutSymbol": False},
            "timeout_ms": 2_000,
            "rate_limit_ms": 1,
            "poll_seconds": 0.02,
        },
    }


def toml_text(config: dict[str, Any]) -> str:
    """A small TOML writer for the config shapes above (tests only: strings, numbers, bools, lists, tables)."""

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{ " + ", ".join(f'"{k}" = {value(x)}' for k, x in v.items()) + " }"
        raise TypeError(type(v))

    lines = []
    for section, table in config.items():
        lines.append(f"[{section}]")
        lines.extend(f"{k} = {value(v)}" for k, v in table.items())
        lines.append("")
    return "\n".join(lines)
