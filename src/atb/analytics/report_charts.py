"""Series and plotly figure dicts for the HTML report (`atb.analytics.report`).

Figures are plain dicts rendered with `validate=False`: the report never
imports `plotly.graph_objects` (a second of import time and a validation pass
over every array). Numeric arrays are embedded as plotly.js typed arrays
(base64 little-endian, `{"dtype", "bdata"}`), about half the size of JSON
number lists, which keeps a 35k-bar report light. Times travel as float64
milliseconds since the epoch on axes declared `type: "date"`.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from atb.data.bars import Bars

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Figure = dict[str, Any]

MAX_CANDLES = 4_000
"""Candles drawn at most; longer series are aggregated into equal buckets of consecutive bars."""

ROLLING_DAYS = 90
"""Window of the rolling Sharpe chart, in days (converted to equity points)."""

GREEN = "#2e9d52"
RED = "#d1495b"
GREY = "#7f8c8d"
BLUE = "#1f5fa8"
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

_NS_PER_MS = 1_000_000


def typed(values: npt.ArrayLike, dtype: str = "f8") -> dict[str, str]:
    """A plotly.js typed array: base64 of little-endian `dtype` values ("f8", "f4", "i4").

    Chart y values go as "f4" (7 significant digits, plenty for a chart; the
    exact figures are in the tables). Times stay "f8": epoch milliseconds need 41 bits.
    """
    arr = np.ascontiguousarray(np.asarray(values, dtype="<" + dtype))
    return {"dtype": dtype, "bdata": base64.b64encode(arr.tobytes()).decode("ascii")}


def parse_times(times: Sequence[str]) -> IntArray:
    """ISO 8601 UTC strings ('...Z') → epoch nanoseconds."""
    if not times:
        return np.empty(0, dtype=np.int64)
    naive = [t[:-1] if t.endswith("Z") else t for t in times]
    return np.array(naive, dtype="datetime64[ns]").astype(np.int64)


def to_ms(ns: IntArray) -> FloatArray:
    return (np.asarray(ns, dtype=np.int64) // _NS_PER_MS).astype(np.float64)


def _layout(height: int, **extra: Any) -> dict[str, Any]:
    """A small fixed style instead of a plotly template (templates add ~7 kB per figure)."""
    axis = {"gridcolor": "#e5e8ec", "zerolinecolor": "#c9ced6", "linecolor": "#c9ced6"}
    layout: dict[str, Any] = {
        "height": height,
        "margin": {"l": 60, "r": 20, "t": 30, "b": 40},
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
        "font": {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 12},
        "hovermode": "x unified",
        "legend": {"orientation": "h", "y": 1.08, "x": 0},
        "xaxis": {**axis, "type": "date"},
        "yaxis": dict(axis),
    }
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(layout.get(key), dict):
            layout[key] = {**layout[key], **value}
        else:
            layout[key] = value
    return layout


# --- equity and drawdown -------------------------------------------------------------------------


@dataclass(frozen=True)
class EquitySeries:
    ts: IntArray
    equity: FloatArray


def equity_series(result: dict[str, Any]) -> EquitySeries:
    points = result["equity"]
    return EquitySeries(
        ts=parse_times([p["time"] for p in points]),
        equity=np.array([float(p["equity"]) for p in points], dtype=np.float64),
    )


def point_spacing_ns(result: dict[str, Any], series: EquitySeries) -> int:
    """Time between equity points: timeframe x `equity_every`, else the median gap of the points (else 1 day)."""
    meta = result["meta"]
    tf, every = meta.get("timeframe_s"), meta.get("equity_every") or 1
    if isinstance(tf, int | float) and tf > 0 and isinstance(every, int) and every >= 1:
        return int(tf * every * 1_000_000_000)
    gaps = np.diff(series.ts)
    gaps = gaps[gaps > 0]
    return int(np.median(gaps)) if len(gaps) else 86_400 * 1_000_000_000


def anchored(series: EquitySeries, initial: Any) -> EquitySeries:
    """The points preceded by the initial equity at the first point's time, so tables start from the cash."""
    if not isinstance(initial, int | float) or isinstance(initial, bool) or initial <= 0 or len(series.ts) == 0:
        return series
    return EquitySeries(np.insert(series.ts, 0, series.ts[0]), np.insert(series.equity, 0, float(initial)))


def buy_hold(series: EquitySeries, bars: Bars) -> FloatArray | None:
    """Buy & hold of `bars` scaled to the first equity value, at each equity point.

    Same convention as `stats.buy_hold_return_pct`: close over the first bar's
    close. An equity point is the value at the close of the bar stamped with its
    time, so the price is the close of that bar (the last bar at or before it).
    """
    if len(bars) == 0 or len(series.ts) == 0 or bars.close[0] <= 0.0:
        return None
    idx = np.searchsorted(bars.ts, series.ts, side="right") - 1
    if idx[0] < 0:
        return None
    return np.asarray(series.equity[0] * bars.close[idx] / bars.close[0], dtype=np.float64)


def drawdown_pct(equity: FloatArray) -> FloatArray:
    """Distance below the running peak, in % (0 at a new high, negative below it)."""
    if len(equity) == 0:
        return np.empty(0)
    peak = np.maximum.accumulate(equity)
    with np.errstate(divide="ignore", invalid="ignore"):
        dd = np.where(peak > 0.0, equity / peak - 1.0, 0.0)
    return np.asarray(dd * 100.0, dtype=np.float64)


def equity_figure(series: EquitySeries, bh: FloatArray | None, symbol: str) -> Figure:
    x = typed(to_ms(series.ts))
    data: list[dict[str, Any]] = [
        {
            "type": "scatter",
            "mode": "lines",
            "name": "Strategy",
            "x": x,
            "y": typed(series.equity, "f4"),
            "line": {"color": BLUE, "width": 1.6},
            "hovertemplate": "%{y:,.2f}",
        }
    ]
    if bh is not None:
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": f"Buy & hold {html.escape(symbol)}",
                "x": x,
                "y": typed(bh, "f4"),
                "line": {"color": GREY, "width": 1.2, "dash": "dot"},
                "hovertemplate": "%{y:,.2f}",
            }
        )
    scale_buttons = [
        {"label": "Linear", "method": "relayout", "args": [{"yaxis.type": "linear"}]},
        {"label": "Log", "method": "relayout", "args": [{"yaxis.type": "log"}]},
    ]
    menu = {"type": "buttons", "direction": "right", "x": 1, "xanchor": "right", "y": 1.12, "buttons": scale_buttons}
    return {"data": data, "layout": _layout(420, updatemenus=[menu], yaxis={"title": {"text": "Equity"}})}


def drawdown_figure(series: EquitySeries) -> Figure:
    dd = drawdown_pct(series.equity)
    trace = {
        "type": "scatter",
        "mode": "lines",
        "name": "Drawdown",
        "x": typed(to_ms(series.ts)),
        "y": typed(dd, "f4"),
        "fill": "tozeroy",
        "line": {"color": RED, "width": 1},
        "fillcolor": "rgba(209,73,91,0.25)",
        "hovertemplate": "%{y:.2f} %",
    }
    return {"data": [trace], "layout": _layout(260, showlegend=False, yaxis={"title": {"text": "Drawdown %"}})}


def rolling_sharpe_figure(ts: IntArray, sharpe: FloatArray, days: int) -> Figure:
    """Rolling Sharpe line from the first complete window on (the NaN warm-up is not drawn)."""
    keep = ~np.isnan(sharpe)
    trace = {
        "type": "scatter",
        "mode": "lines",
        "name": f"Sharpe ({days} d)",
        "x": typed(to_ms(ts[keep])),
        "y": typed(sharpe[keep], "f4"),
        "line": {"color": BLUE, "width": 1.2},
        "hovertemplate": "%{y:.2f}",
    }
    zero = {"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": 0, "y1": 0, "line": {"color": GREY, "width": 1}}
    layout = _layout(260, showlegend=False, shapes=[zero], yaxis={"title": {"text": "Sharpe (annualised)"}})
    return {"data": [trace], "layout": layout}


# --- candles and trades ------------------------------------------------------------------------


@dataclass(frozen=True)
class Candles:
    """OHLC after aggregating `bucket` consecutive bars per candle (bucket 1 = the bars as they are)."""

    ts: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    bucket: int
    last_index: IntArray  # index in the source bars of each candle's last bar


def downsample(bars: Bars, max_candles: int = MAX_CANDLES) -> Candles:
    """Aggregate runs of `ceil(n / max_candles)` consecutive bars into one candle.

    A candle keeps the first bar's time and open, the run's highest high and
    lowest low, and the last bar's close, so no price extreme is lost. Buckets
    count bars, not wall time: a data gap inside a bucket simply makes it span
    a little longer.
    """
    n = len(bars)
    bucket = max(1, math.ceil(n / max_candles)) if n else 1
    starts = np.arange(0, n, bucket, dtype=np.int64)
    if n == 0:
        empty = np.empty(0)
        return Candles(starts, empty, empty, empty, empty, bucket, starts)
    last = np.minimum(starts + bucket, n) - 1
    return Candles(
        ts=bars.ts[starts],
        open=bars.open[starts],
        high=np.maximum.reduceat(bars.high, starts),
        low=np.minimum.reduceat(bars.low, starts),
        close=bars.close[last],
        bucket=bucket,
        last_index=last,
    )


@dataclass(frozen=True)
class Markers:
    """Trade markers on the price chart: one per entry, one per exit of a closed trade."""

    long_entries: list[tuple[int, float, str]]
    short_entries: list[tuple[int, float, str]]
    exits: list[tuple[int, float, str]]

    @property
    def count(self) -> int:
        return len(self.long_entries) + len(self.short_entries) + len(self.exits)


def trade_markers(trades: list[dict[str, Any]], symbol: str) -> Markers:
    """Markers for `symbol`'s trades. A still-open trade has an entry but no exit marker."""
    mine = [t for t in trades if t.get("symbol") == symbol]
    entry_ns = parse_times([t["entry_time"] for t in mine])
    exit_ns = parse_times([t["exit_time"] for t in mine])
    longs: list[tuple[int, float, str]] = []
    shorts: list[tuple[int, float, str]] = []
    exits: list[tuple[int, float, str]] = []
    for k, t in enumerate(mine):
        side = str(t["side"])
        # Plain short text: plotly reads hover text as HTML-ish markup, and every '<' or '&' costs
        # six bytes in the JSON, times a marker per trade.
        text = f"{_plain(side)} entry {_plain(t['quantity'])} @ {_plain(t['entry_price'])}"
        (longs if side == "long" else shorts).append((int(entry_ns[k]), float(t["entry_price"]), text))
        if not t.get("open"):
            text = f"exit {_plain(side)} @ {_plain(t['exit_price'])}, P/L {_rounded(t['pnl'])}"
            text += f" ({_rounded(t['return_pct'], '+,.2f')} %)"
            exits.append((int(exit_ns[k]), float(t["exit_price"]), text))
    return Markers(longs, shorts, exits)


def _plain(value: Any) -> str:
    """Result text for plotly hover labels: markup characters dropped, not interpreted."""
    text = str(value)
    return html.escape(text) if any(c in text for c in "<>&\"'") else text


def _rounded(value: Any, spec: str = ",.2f") -> str:
    """A number (or decimal string) to two decimals for a hover label; anything else as plain text."""
    try:
        return format(float(value), spec)
    except (TypeError, ValueError):
        return _plain(value)


def _marker_trace(name: str, points: list[tuple[int, float, str]], symbol: str, color: str) -> dict[str, Any]:
    ns = np.array([p[0] for p in points], dtype=np.int64)
    return {
        "type": "scatter",
        "mode": "markers",
        "name": name,
        "x": typed(to_ms(ns)),
        "y": typed(np.array([p[1] for p in points], dtype=np.float64), "f4"),
        "hovertext": [p[2] for p in points],
        "hoverinfo": "text",
        "marker": {"symbol": symbol, "color": color, "size": 8, "opacity": 0.85, "line": {"width": 0.5}},
    }


def price_figure(bars: Bars, candles: Candles, markers: Markers, overlays: list[tuple[str, FloatArray]]) -> Figure:
    data: list[dict[str, Any]] = [
        {
            "type": "candlestick",
            "name": html.escape(bars.symbol),
            "x": typed(to_ms(candles.ts)),
            "open": typed(candles.open, "f4"),
            "high": typed(candles.high, "f4"),
            "low": typed(candles.low, "f4"),
            "close": typed(candles.close, "f4"),
            "increasing": {"line": {"color": GREEN, "width": 1}},
            "decreasing": {"line": {"color": RED, "width": 1}},
        }
    ]
    colors = ("#e69f00", "#8e44ad", "#2a9d8f")
    for k, (label, values) in enumerate(overlays):
        # Value at each candle's last bar, so the line meets the candle close it belongs to.
        line = values[candles.last_index]
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": html.escape(label),
                "x": typed(to_ms(candles.ts)),
                "y": typed(line, "f4"),
                "line": {"color": colors[k % len(colors)], "width": 1.1},
                "hovertemplate": "%{y:,.2f}",
            }
        )
    for name, points, shape, color in (
        ("Long entry", markers.long_entries, "triangle-up", GREEN),
        ("Short entry", markers.short_entries, "triangle-down", RED),
        ("Exit", markers.exits, "x", "#222222"),
    ):
        if points:
            data.append(_marker_trace(name, points, shape, color))
    layout = _layout(
        560,
        xaxis={"rangeslider": {"visible": False}},
        yaxis={"title": {"text": "Price"}},
        hovermode="closest",
    )
    return {"data": data, "layout": layout}


# --- monthly returns and trade distribution ---------------------------------------------------


@dataclass(frozen=True)
class MonthlyReturns:
    years: list[int]
    pct: FloatArray  # shape (len(years), 12), NaN where the equity curve has no point in that month
    yearly_pct: list[float]

    @property
    def months(self) -> int:
        return int(np.count_nonzero(~np.isnan(self.pct)))


def monthly_returns(series: EquitySeries, initial: float | None = None) -> MonthlyReturns:
    """Month-over-month return of the equity curve, in %.

    A month's return is its last equity point over the previous month's last
    point (the first month is measured from `initial`, default the first
    point). Thinned equity points are the curve's own values, so a month-end
    point may be a few bars before the calendar month end.
    """
    if len(series.ts) == 0:
        return MonthlyReturns([], np.empty((0, 12)), [])
    months = series.ts.astype("datetime64[ns]").astype("datetime64[M]").astype(np.int64)  # months since 1970-01
    is_last = np.append(months[1:] != months[:-1], True)
    month_id = months[is_last]
    close = series.equity[is_last]
    base0 = float(series.equity[0] if initial is None else initial)
    prev = np.concatenate(([base0], close[:-1]))
    with np.errstate(divide="ignore", invalid="ignore"):
        ret = np.where(prev > 0.0, close / prev - 1.0, np.nan) * 100.0
    first_year = int(month_id[0] // 12) + 1970
    years = list(range(first_year, int(month_id[-1] // 12) + 1970 + 1))
    grid = np.full((len(years), 12), np.nan)
    grid[month_id // 12 + 1970 - first_year, month_id % 12] = ret
    yearly: list[float] = []
    for year in years:
        in_year = (month_id // 12 + 1970) == year
        end = close[in_year][-1] if in_year.any() else math.nan
        before = close[(month_id // 12 + 1970) < year]
        start = before[-1] if len(before) else base0
        yearly.append(float(end / start - 1.0) * 100.0 if start > 0 else math.nan)
    return MonthlyReturns(years, grid, yearly)


def monthly_figure(monthly: MonthlyReturns) -> Figure:
    z = [[None if math.isnan(v) else round(float(v), 4) for v in row] for row in monthly.pct]
    labels = [
        f"{y} ({r:+.1f} %)" if not math.isnan(r) else str(y)
        for y, r in zip(monthly.years, monthly.yearly_pct, strict=True)
    ]
    limit = float(np.nanmax(np.abs(monthly.pct))) if monthly.months else 1.0
    trace = {
        "type": "heatmap",
        "x": list(MONTHS),
        "y": labels,
        "z": z,
        "zmid": 0,
        "zmin": -limit,
        "zmax": limit,
        "colorscale": [[0.0, RED], [0.5, "#f7f7f7"], [1.0, GREEN]],
        "texttemplate": "%{z:.1f}",
        "hovertemplate": "%{y} %{x}: %{z:.2f} %<extra></extra>",
        "colorbar": {"title": {"text": "%"}},
        "xgap": 2,
        "ygap": 2,
    }
    layout = _layout(
        max(220, 34 * len(labels) + 80),
        xaxis={"type": "category", "side": "top"},
        yaxis={"type": "category", "autorange": "reversed"},
        margin={"l": 130, "t": 50},
        hovermode="closest",
    )
    return {"data": [trace], "layout": layout}


@dataclass(frozen=True)
class Histogram:
    counts: IntArray
    edges: FloatArray


def trade_histogram(returns_pct: FloatArray) -> Histogram:
    """Bins by numpy's 'auto' rule, capped at 80 bins so a few outliers keep the bars readable."""
    edges = np.histogram_bin_edges(returns_pct, bins="auto")
    if len(edges) > 81:
        edges = np.histogram_bin_edges(returns_pct, bins=80)
    counts, edges = np.histogram(returns_pct, bins=edges)
    return Histogram(counts.astype(np.int64), edges.astype(np.float64))


def histogram_figure(hist: Histogram, mean_pct: float) -> Figure:
    centers = (hist.edges[:-1] + hist.edges[1:]) / 2.0
    colors = [GREEN if c >= 0 else RED for c in centers]
    trace = {
        "type": "bar",
        "x": typed(centers),
        "y": typed(hist.counts, "i4"),
        "width": typed(np.diff(hist.edges) * 0.95),
        "marker": {"color": colors},
        "customdata": [[float(a), float(b)] for a, b in zip(hist.edges[:-1], hist.edges[1:], strict=True)],
        "hovertemplate": "%{customdata[0]:.2f} … %{customdata[1]:.2f} %: %{y} trades<extra></extra>",
    }
    mean_line = {
        "type": "line",
        "x0": mean_pct,
        "x1": mean_pct,
        "yref": "paper",
        "y0": 0,
        "y1": 1,
        "line": {"color": BLUE, "dash": "dash", "width": 1.5},
    }
    layout = _layout(
        320,
        showlegend=False,
        hovermode="closest",
        shapes=[mean_line],
        xaxis={"type": "linear", "title": {"text": f"Trade return % (mean {mean_pct:+.2f} %)"}},
        yaxis={"title": {"text": "Trades"}},
    )
    return {"data": [trace], "layout": layout}
