"""What the API reads from a running node: its equity curve, position metrics and recent bars.

Everything here runs on the node's event loop thread (the API's `async` routes and the monitor),
between the node's own steps, so it sees a consistent ledger without taking the node's lock:
the ledger only changes inside synchronous stretches of the node's code.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from atb.api.errors import ApiError

if TYPE_CHECKING:
    from atb.analytics.positions import PortfolioMetrics
    from atb.node.live import LiveNode
    from atb.node.live_market import LiveContext
    from atb.node.router import OrderRouter

__all__ = ["EquityCurve", "bars_payload", "iso_ms", "iso_ns", "node_parts", "node_portfolio", "plain"]


def iso_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_ns(ns: int | None) -> str | None:
    return None if ns is None else iso_ms(ns // 1_000_000)


def plain(value: Decimal | None) -> str | None:
    """A Decimal as fixed-point text without trailing zeros ("0.0010000" -> "0.001", 1E+2 -> "100")."""
    if value is None:
        return None
    if value == 0:
        return "0"
    return format(value.normalize(), "f")


@dataclass(frozen=True, slots=True)
class EquityPoint:
    bar_ts_ms: int
    equity: Decimal


class EquityCurve:
    """The node's equity at each bar close since this process started, bounded (oldest points dropped).

    The database keeps orders, fills and positions but not an equity history: this curve is what
    the dashboard draws and what drawdown is measured on.
    """

    def __init__(self, max_points: int = 20_000) -> None:
        self._points: deque[EquityPoint] = deque(maxlen=max_points)

    def add(self, bar_ts_ms: int, equity: Decimal) -> None:
        if self._points and bar_ts_ms <= self._points[-1].bar_ts_ms:
            self._points[-1] = EquityPoint(self._points[-1].bar_ts_ms, equity)  # same bar re-marked
            return
        self._points.append(EquityPoint(bar_ts_ms, equity))

    def __len__(self) -> int:
        return len(self._points)

    def values(self) -> list[Decimal]:
        return [p.equity for p in self._points]

    def payload(self, limit: int | None = None) -> dict[str, Any]:
        points = list(self._points)
        peak = -math.inf
        drawdowns = []
        for p in points:
            value = float(p.equity)
            peak = max(peak, value)
            drawdowns.append(round((value / peak - 1.0) * 100.0, 6) if peak > 0 else 0.0)
        if limit is not None and len(points) > limit:
            points, drawdowns = points[-limit:], drawdowns[-limit:]
        return {
            "points": [{"time": iso_ms(p.bar_ts_ms), "ts_ms": p.bar_ts_ms, "equity": plain(p.equity)} for p in points],
            "drawdown_pct": drawdowns,
        }


def node_parts(node: LiveNode | None) -> tuple[LiveNode, OrderRouter, LiveContext]:
    """The node with its router and context, or 409 explaining why there are none yet."""
    if node is None:
        raise ApiError(409, "no trading node in this process (start one with atb serve --config node.toml)")
    router, ctx = node.router, node.context
    if router is None or ctx is None:
        raise ApiError(409, "the trading node is starting (reconciling and warming up); try again shortly")
    return node, router, ctx


def node_portfolio(node: LiveNode, curve: EquityCurve) -> PortfolioMetrics:
    """Positions and portfolio metrics at the last closes, by the shared position metrics service."""
    from atb.analytics.positions import portfolio_metrics

    _, router, ctx = node_parts(node)
    account = router.account
    marks = {sym: ctx.last_price(sym) for sym in ctx.symbols()}
    bars = {sym: ctx.feed(sym).bars for sym in ctx.symbols()}
    primary = ctx.feed(ctx.symbols()[0])
    now_ns = ctx.now_ns() + primary.timeframe_ns
    opened = [p.opened_ts for p in account.positions.values() if p.lots]
    now_ns = max([now_ns, *opened])
    curve_values = curve.values()
    equity = Decimal(ctx.equity_units()).scaleb(-account.currency.precision)
    return portfolio_metrics(account, marks, now_ns=now_ns, bars=bars, equity_curve=[*curve_values, equity])


def bars_payload(node: LiveNode, symbol: str, limit: int) -> dict[str, Any]:
    """The node's last `limit` closed bars of `symbol`, column-wise (what plotly's candlestick takes)."""
    _, _, ctx = node_parts(node)
    if symbol not in ctx.symbols():
        raise ApiError(404, f"this node does not trade {symbol!r} (symbols: {', '.join(ctx.symbols())})")
    bars = ctx.feed(symbol).bars
    start = max(0, len(bars) - limit)
    ts_ms = [int(t) // 1_000_000 for t in bars.ts[start:]]
    return {
        "symbol": symbol,
        "timeframe_s": bars.timeframe_ns // 1_000_000_000,
        "time": [iso_ms(t) for t in ts_ms],
        "ts_ms": ts_ms,
        "open": bars.open[start:].tolist(),
        "high": bars.high[start:].tolist(),
        "low": bars.low[start:].tolist(),
        "close": bars.close[start:].tolist(),
        "volume": bars.volume[start:].tolist(),
    }
