"""A self-contained HTML report of one backtest, built from the result JSON.

The document opens offline: plotly.js is inlined once in the <head>, every
chart is a div + inline script drawing into it, styles are inline and use the
system font stack. Nothing references the network. Every string taken from the
result (strategy name, params, symbols, file names, order reasons) is
HTML-escaped, since a result file may come from anywhere.

plotly is imported inside the functions that need it, never at module level:
this module is imported by the CLI, and plotly must not slow down
`atb backtest` without `--report`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from atb.analytics import report_charts as charts
from atb.analytics import report_overlays as overlays
from atb.analytics.metrics import EXTENDED_STAT_KEYS, exposure_adjusted_return, extended_stats, rolling_sharpe, turnover
from atb.analytics.periods import drawdown_table, period_returns
from atb.analytics.report_html import days as _days
from atb.analytics.report_html import escape as _e
from atb.analytics.report_html import note as _note
from atb.analytics.report_html import num as _num
from atb.analytics.report_html import section as _section
from atb.analytics.report_html import table as _table
from atb.data.bars import Bars
from atb.errors import UserInputError

TRADE_ROWS = 50
"""The trades table shows the first and the last this many trades (all of them when there are fewer than 2×)."""

_REQUIRED = {"meta": dict, "stats": dict, "trades": list, "equity": list}

# --- loading ------------------------------------------------------------------------------------


def load_result(path: Path) -> dict[str, Any]:
    """Read a result JSON written by `atb backtest --json`; anything else is a `UserInputError`."""
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"result file not found: {path}")
    try:
        result = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise UserInputError(f"{path} is not JSON ({exc}); expected a result file from `atb backtest --json`") from None
    if not isinstance(result, dict):
        raise UserInputError(f"{path} is not a backtest result (a JSON object from `atb backtest --json`)")
    missing = [key for key in _REQUIRED if key not in result]
    if missing:
        raise UserInputError(
            f"{path} is not a backtest result: missing key(s) {', '.join(missing)} "
            "(expected the JSON from `atb backtest --json`)"
        )
    for key, kind in _REQUIRED.items():
        if not isinstance(result[key], kind):
            raise UserInputError(f"{path} is not a backtest result: {key!r} must be a JSON {kind.__name__}")
    version = result.get("schema_version", 1)
    if version != 1:
        raise UserInputError(f"{path}: result schema version {version!r} is not supported (this ATB reads version 1)")
    for row in result["equity"][:1] + result["equity"][-1:]:
        if not isinstance(row, dict) or "time" not in row or "equity" not in row:
            raise UserInputError(f"{path} is not a backtest result: equity points need 'time' and 'equity'")
    return result


def write_report(result: dict[str, Any], path: Path, bars: Bars | None = None) -> Path:
    path = Path(path)
    path.write_text(render_report(result, bars), encoding="utf-8")
    return path


def _primary_bars(result: dict[str, Any]) -> tuple[Bars | None, str | None]:
    """The primary instrument's bars from `meta.data[0].source`, or why they are unavailable."""
    data = result["meta"].get("data") or []
    source = data[0].get("source") if data and isinstance(data[0], dict) else None
    if not source:
        return None, "the result names no data file"
    if not Path(source).is_file():
        return None, f"the data file {source} is not available"
    from atb.data.loader import load_ohlcv

    symbols = result["meta"].get("symbols") or [None]
    try:
        loaded = load_ohlcv(source, symbol=symbols[0], repair=bool(data[0].get("repairs")))
    except UserInputError as exc:
        return None, f"the data file could not be read: {exc}"
    return loaded.bars, None


# --- formatting ---------------------------------------------------------------------------------


_STAT_LABELS: dict[str, tuple[str, str]] = {
    # key: (label, unit kind) — kinds: time, days, int, money, pct, ratio, text
    "start": ("Start", "time"),
    "end": ("End", "time"),
    "duration_days": ("Duration", "days"),
    "bars": ("Bars", "int"),
    "warmup_bars": ("Warm-up bars", "int"),
    "exposure_pct": ("Exposure (time in market)", "pct"),
    "initial_equity": ("Initial equity", "money"),
    "final_equity": ("Final equity", "money"),
    "final_equity_exact": ("Final equity (exact ledger value)", "text"),
    "peak_equity": ("Peak equity", "money"),
    "return_pct": ("Total return", "pct"),
    "buy_hold_return_pct": ("Buy & hold return (primary instrument)", "pct"),
    "cagr_pct": ("CAGR", "pct"),
    "volatility_ann_pct": ("Volatility (annualised)", "pct"),
    "sharpe": ("Sharpe ratio (annualised, rf 0)", "ratio"),
    "sortino": ("Sortino ratio (annualised)", "ratio"),
    "calmar": ("Calmar ratio (CAGR / |max DD|)", "ratio"),
    "max_drawdown_pct": ("Max drawdown", "pct"),
    "max_drawdown_duration_days": ("Longest drawdown", "days"),
    "avg_drawdown_pct": ("Average drawdown", "pct"),
    "var_95_pct": ("Value at Risk 95 % (historical, one bar)", "pct"),
    "cvar_95_pct": ("Conditional VaR 95 % (expected shortfall, one bar)", "pct"),
    "trades": ("Trades", "int"),
    "orders": ("Orders", "int"),
    "win_rate_pct": ("Win rate", "pct"),
    "best_trade_pct": ("Best trade", "pct"),
    "worst_trade_pct": ("Worst trade", "pct"),
    "avg_trade_pct": ("Average trade", "pct"),
    "max_trade_duration_days": ("Longest trade", "days"),
    "avg_trade_duration_days": ("Average trade duration", "days"),
    "profit_factor": ("Profit factor", "ratio"),
    "expectancy_pct": ("Expectancy per trade", "pct"),
    "sqn": ("SQN (system quality number)", "ratio"),
    "fees": ("Fees paid", "money"),
    "omega": ("Omega ratio (gains / losses around 0)", "ratio"),
    "tail_ratio": ("Tail ratio (95th pct / |5th pct|)", "ratio"),
    "skew": ("Skewness of returns", "ratio"),
    "kurtosis": ("Excess kurtosis of returns", "ratio"),
    "ulcer_index": ("Ulcer index (RMS drawdown, %)", "ratio"),
    "exposure_adjusted_return_pct": ("Return per unit of exposure", "pct"),
    "turnover_ann": ("Turnover (× average equity per year)", "ratio"),
    "alpha_ann_pct": ("Alpha vs buy & hold (annualised)", "pct"),
    "beta": ("Beta vs buy & hold", "ratio"),
    "information_ratio": ("Information ratio vs buy & hold", "ratio"),
}
_RISK_KEYS = (
    "var_95_pct",
    "cvar_95_pct",
    "volatility_ann_pct",
    "max_drawdown_pct",
    "max_drawdown_duration_days",
    "avg_drawdown_pct",
)


def stat_label(key: str) -> str:
    """Readable label for a stats key; unknown keys get one from their name."""
    if key in _STAT_LABELS:
        return _STAT_LABELS[key][0]
    for suffix in ("_pct", "_days"):
        if key.endswith(suffix):
            key = key[: -len(suffix)]
    return key.replace("_", " ").capitalize()


def _stat_value(key: str, value: Any, currency: str) -> str:
    kind = _STAT_LABELS[key][1] if key in _STAT_LABELS else _kind_from_name(key)
    if value is None:
        return "— (undefined)"
    formatters: dict[str, Callable[[Any], str]] = {
        "time": lambda v: _e(str(v).replace("T", " ").replace("Z", " UTC")),
        "days": _days,
        "int": lambda v: _num(v, 0),
        "money": lambda v: f"{_num(v)} {_e(currency)}".rstrip(),
        "pct": lambda v: f"{_num(v)} %",
        "ratio": lambda v: _num(v, 3),
        "text": _e,
    }
    return formatters[kind](value)


def _kind_from_name(key: str) -> str:
    if key.endswith("_pct"):
        return "pct"
    if key.endswith("_days"):
        return "days"
    return "ratio"


def _timeframe(seconds: Any) -> str:
    if not isinstance(seconds, int | float) or seconds <= 0:
        return "—"
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


# --- sections -----------------------------------------------------------------------------------


def _header(result: dict[str, Any], title: str) -> str:
    meta, stats = result["meta"], result["stats"]
    params = meta.get("params") or {}
    param_text = ", ".join(f"{_e(k)}={_e(v)}" for k, v in params.items()) or "defaults"
    period = "—"
    if stats.get("start") and stats.get("end"):
        period = f"{_stat_value('start', stats['start'], '')} → {_stat_value('end', stats['end'], '')}"
        if isinstance(stats.get("duration_days"), int | float):
            period += f" ({_days(stats['duration_days'])})"
    facts = [
        ("Strategy", _e(meta.get("strategy", "?"))),
        ("Parameters", param_text),
        ("Symbols", _e(", ".join(str(s) for s in meta.get("symbols") or []) or "—")),
        ("Timeframe", _e(_timeframe(meta.get("timeframe_s")))),
        ("Period", period),
        ("Starting cash", _e(meta.get("cash", "—"))),
        (
            "Account",
            _e(
                f"{meta.get('account_mode', '—')}, leverage {meta.get('leverage', '—')}, fill {meta.get('fill', '—')}, "
                f"latency {meta.get('latency_bars', 0)} bars"
            ),
        ),
    ]
    items = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts)
    data_rows = []
    for entry in meta.get("data") or []:
        if not isinstance(entry, dict):
            continue
        notes = [*(f"repaired: {r}" for r in entry.get("repairs") or []), *(entry.get("warnings") or [])]
        data_rows.append(
            [
                _e(Path(str(entry.get("source", "?"))).name),
                _num(entry.get("rows_used"), 0),
                _e(entry.get("gap_summary", f"{entry.get('gaps', '?')} gaps")),
                "<br>".join(_e(n) for n in notes) or "—",
            ]
        )
    data_html = _table(["Data file", "Rows used", "Gaps", "Notes"], data_rows) if data_rows else ""
    return f"<header><h1>{_e(title)}</h1><dl>{items}</dl>{data_html}</header>"


def _extended(result: dict[str, Any], series: charts.EquitySeries, bh: Any) -> dict[str, float | None]:
    """`extended_stats` of the equity points; exposure-adjusted return and turnover from the exact stats."""
    stats = result["stats"]
    if len(series.ts) == 0:
        return dict.fromkeys(EXTENDED_STAT_KEYS)
    notional = 0.0
    for order in result.get("orders") or []:
        try:
            notional += abs(float(order["filled_quantity"]) * float(order["price"]))
        except (KeyError, TypeError, ValueError):  # unfilled: no price
            continue
    step = charts.point_spacing_ns(result, series)
    ext = extended_stats(series.equity, series.ts, step, bh, stats.get("exposure_pct"), notional)
    ret, exposure, days = stats.get("return_pct"), stats.get("exposure_pct"), stats.get("duration_days")
    if isinstance(ret, int | float) and isinstance(exposure, int | float):
        ext["exposure_adjusted_return_pct"] = exposure_adjusted_return(ret, exposure)
    if isinstance(days, int | float):
        ext["turnover_ann"] = turnover(notional, float(np.maximum(series.equity, 0.0).mean()), days)
    return ext


def _stats_sections(result: dict[str, Any], currency: str, extended: dict[str, float | None]) -> str:
    stats = result["stats"]
    perf = [[_e(stat_label(k)), _stat_value(k, v, currency)] for k, v in stats.items() if k not in _RISK_KEYS]
    perf += [[_e(stat_label(k)), _stat_value(k, v, currency)] for k, v in extended.items() if k not in stats]
    final = stats.get("final_equity")
    risk = []
    for key in _RISK_KEYS:
        if key not in stats:
            continue
        value = stats[key]
        money = "—"
        if key in ("var_95_pct", "cvar_95_pct") and isinstance(value, int | float) and isinstance(final, int | float):
            money = f"{_num(value / 100.0 * final)} {_e(currency)}".rstrip()
        risk.append([_e(stat_label(key)), _stat_value(key, value, currency), money])
    note = (
        '<p class="note">VaR and CVaR are historical, over one-bar returns: the loss (as % of equity) that one bar '
        "exceeded in 5 % of bars, and the average loss in those bars. The amount is that share of the final equity.</p>"
    )
    return (
        f'<section id="performance"><h2>Performance</h2>{_table(["Statistic", "Value"], perf, "stats")}'
        '<p class="note">Omega to information ratio are computed from the equity points in the result '
        "(thinned curves give coarser returns); alpha, beta and the information ratio are against buy &amp; hold "
        "of the primary instrument.</p></section>"
        f'<section id="risk"><h2>Risk</h2>{_table(["Measure", "Value", "At final equity"], risk, "stats")}'
        f"{note}</section>"
    )


def _trades_table(trades: list[dict[str, Any]]) -> str:
    n = len(trades)
    if n == 0:
        return '<section id="trades"><h2>Trades</h2><p class="note">No trades.</p></section>'
    if n > 2 * TRADE_ROWS:
        shown = list(enumerate(trades[:TRADE_ROWS], 1)) + list(enumerate(trades[-TRADE_ROWS:], n - TRADE_ROWS + 1))
        note = (
            f"Showing the first {TRADE_ROWS} and the last {TRADE_ROWS} of {n:,} trades; "
            "the full list is in the result JSON."
        )
    else:
        shown = list(enumerate(trades, 1))
        note = f"All {n:,} trades."
    rows = []
    for k, t in shown:
        if k == n - TRADE_ROWS + 1 and n > 2 * TRADE_ROWS:
            rows.append([f"… {n - 2 * TRADE_ROWS:,} trades not shown …"] + [""] * 13)
        ret = t.get("return_pct")
        cls = "pos" if isinstance(ret, int | float) and ret > 0 else "neg"
        rows.append(
            [
                str(k),
                _e(t.get("symbol", "")),
                _e(t.get("side", "")),
                _e(str(t.get("entry_time", "")).replace("T", " ").rstrip("Z")),
                _e(str(t.get("exit_time", "")).replace("T", " ").rstrip("Z")) + (" (open)" if t.get("open") else ""),
                _e(t.get("quantity", "")),
                _e(t.get("entry_price", "")),
                _e(t.get("exit_price", "")),
                f'<span class="{cls}">{_e(t.get("pnl", ""))}</span>',
                f'<span class="{cls}">{_num(ret)}</span>',
                _e(t.get("fees", "")),
                _days(t["duration_s"] / 86_400.0) if isinstance(t.get("duration_s"), int | float) else "—",
                _num(t.get("mae_pct")),
                _num(t.get("mfe_pct")),
            ]
        )
    head = ["#", "Symbol", "Side", "Entry (UTC)", "Exit (UTC)", "Quantity", "Entry price", "Exit price", "P&amp;L",
            "Return %", "Fees", "Duration", "MAE %", "MFE %"]  # fmt: skip
    return (
        f'<section id="trades"><h2>Trades</h2><p class="note">{_e(note)}</p>'
        f'<div class="scroll">{_table(head, rows, "trades")}</div></section>'
    )


# --- assembly -----------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0;background:#f4f6f8;
color:#1d2430}
main{max-width:1200px;margin:0 auto;padding:16px 24px 48px}
header,section{background:#fff;border-radius:8px;padding:12px 20px;margin:14px 0;box-shadow:0 1px 2px #0001}
h1{font-size:22px;margin:6px 0 12px}h2{font-size:17px;margin:4px 0 10px}
dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:0 0 10px}dt{color:#5b6675}dd{margin:0}
table{border-collapse:collapse;font-size:13px;width:100%}th,td{padding:4px 8px;border-bottom:1px solid #e5e8ec;
text-align:left;white-space:nowrap}
table.stats{width:auto;min-width:420px}table.stats td:nth-child(n+2){text-align:right;font-variant-numeric:tabular-nums}
table.trades td{font-variant-numeric:tabular-nums}.scroll{overflow-x:auto}
.pos{color:#2e7d32}.neg{color:#c62828}.note{color:#5b6675;font-size:13px;margin:6px 0}
.cols{display:grid;grid-template-columns:1fr 1fr;gap:0 14px}@media(max-width:900px){.cols{grid-template-columns:1fr}}
footer{color:#8a94a3;font-size:12px;text-align:center}
"""


def _figure_div(fig: charts.Figure, div_id: str) -> str:
    import plotly.io as pio  # type: ignore[import-untyped]

    config = {"displaylogo": False, "responsive": True}
    height = f"{fig['layout']['height']}px"
    out: str = pio.to_html(
        fig,
        full_html=False,
        include_plotlyjs=False,
        include_mathjax=False,
        validate=False,
        config=config,
        div_id=div_id,
        default_height=height,
    )
    return out


def _drawdowns_section(anchored: charts.EquitySeries) -> str:
    rows = [
        [
            _stat_value("start", r["start"], ""),
            _stat_value("start", r["valley"], ""),
            "not recovered" if r["recovery"] is None else _stat_value("start", r["recovery"], ""),
            f"{_num(r['depth_pct'])} %",
            _days(r["length_days"]),
            _days(r["valley_days"]),
        ]
        for r in (drawdown_table(anchored.equity, anchored.ts) if len(anchored.ts) else [])
    ]
    head = ["Peak", "Valley", "Recovery", "Depth", "Length", "Peak to valley"]
    body = _note("The five deepest drawdowns of the equity points (from the initial equity).")
    body += _table(head, rows, "stats") if rows else _note("Never below a previous peak.")
    return _section("drawdowns", "Drawdowns", body, f' data-rows="{len(rows)}"')


def _yearly_section(anchored: charts.EquitySeries) -> str:
    years = period_returns(anchored.equity, anchored.ts, "year") if len(anchored.ts) else []
    rows = [[_e(label), f"{_num(value)} %"] for label, value in years]
    body = _note("Return of each calendar year (UTC), year-end equity over the previous year-end (or initial).")
    body += _table(["Year", "Return"], rows, "stats") if rows else _note("No equity points.")
    return _section("yearly", "Yearly returns", body, f' data-years="{len(rows)}"')


def _rolling_section(result: dict[str, Any], series: charts.EquitySeries) -> str:
    step = charts.point_spacing_ns(result, series)
    window = max(2, round(charts.ROLLING_DAYS * 86_400 * 10**9 / step))
    heading = f"Rolling Sharpe ratio ({charts.ROLLING_DAYS} days)"
    if len(series.equity) <= window or (series.equity <= 0.0).any():
        return _section("rolling", heading, _note("Not enough equity points for one window."))
    r = series.equity[1:] / series.equity[:-1] - 1.0
    sharpe = rolling_sharpe(r, window, 365 * 86_400 * 10**9 / step)
    body = _note(f"Annualised Sharpe ratio (rf 0) over the last {window:,} equity points, about 90 days.")
    body += _figure_div(charts.rolling_sharpe_figure(series.ts[1:], sharpe, charts.ROLLING_DAYS), "rolling-chart")
    return _section("rolling", heading, body, f' data-window="{window}"')


def _chart_sections(
    result: dict[str, Any], bars: Bars | None, bars_note: str | None, series: charts.EquitySeries, bh: Any
) -> list[str]:
    meta, stats = result["meta"], result["stats"]
    symbols = [str(s) for s in meta.get("symbols") or []]
    primary = bars.symbol if bars is not None else (symbols[0] if symbols else "")
    out: list[str] = []
    anchored = charts.anchored(series, stats.get("initial_equity"))

    body = _figure_div(charts.equity_figure(series, bh, primary), "equity-chart")
    if bh is None:
        why = bars_note or "the price data does not cover the equity curve"
        body = _note(f"Buy & hold is not shown: {why}.") + body
    if meta.get("equity_every", 1) not in (None, 1):
        body += _note(f"Equity points are every {meta['equity_every']} bars (thinned in the result JSON).")
    out.append(_section("equity", "Equity curve", body))

    dd_note = ""
    if isinstance(stats.get("max_drawdown_pct"), int | float):
        dd_note = _note(
            f"Max drawdown {stats['max_drawdown_pct']:.2f} % (from every bar; the chart uses the equity points)."
        )
    dd_chart = _figure_div(charts.drawdown_figure(series), "drawdown-chart")
    out.append(_section("drawdown", "Drawdown (underwater)", dd_note + dd_chart))
    out.append(_drawdowns_section(anchored))
    out.append(_rolling_section(result, series))

    if bars is None or len(bars) == 0:
        out.append(_section("price", "Price and trades", _note(f"No candlestick chart: {bars_note or 'no bars'}.")))
    else:
        candles = charts.downsample(bars)
        markers = charts.trade_markers(result["trades"], bars.symbol)
        fig = charts.price_figure(bars, candles, markers, overlays.price_overlays(meta, bars))
        note = f"{len(candles.ts):,} candles"
        if candles.bucket > 1:
            note += (
                f" of {candles.bucket} bars each ({len(bars):,} bars aggregated: first open, highest high, lowest low,"
                " last close)"
            )
        note += f"; {markers.count:,} trade markers (▲ long entry, ▼ short entry, × exit)"
        if len(symbols) > 1:
            note += f"; {primary} only"
        body = _note(note + ".") + _figure_div(fig, "price-chart")
        out.append(_section("price", "Price and trades", body, f' data-markers="{markers.count}"'))

    initial = stats.get("initial_equity")
    monthly = charts.monthly_returns(series, float(initial) if isinstance(initial, int | float) else None)
    if monthly.months:
        body = _note("Return of each calendar month in %, from the equity points; year totals beside the year.")
        body += _figure_div(charts.monthly_figure(monthly), "monthly-chart")
    else:
        body = _note("No equity points.")
    out.append(_section("monthly", "Monthly returns", body, f' data-months="{monthly.months}"'))
    out.append(_yearly_section(anchored))

    returns = np.array(
        [float(t["return_pct"]) for t in result["trades"] if not t.get("open") and t.get("return_pct") is not None]
    )
    if len(returns):
        hist = charts.trade_histogram(returns)
        body = _note(f"{len(returns):,} closed trades; dashed line: mean.")
        body += _figure_div(charts.histogram_figure(hist, float(returns.mean())), "hist-chart")
    else:
        body = _note("No closed trades.")
    out.append(_section("distribution", "Trade return distribution", body))
    return out


def render_report(result: dict[str, Any], bars: Bars | None = None, *, title: str | None = None) -> str:
    """One self-contained HTML document (plotly.js inlined, no network) from a result dict (the result JSON)."""
    import plotly.offline  # type: ignore[import-untyped]

    meta = result["meta"]
    symbols = [str(s) for s in meta.get("symbols") or []]
    if title is None:
        title = f"{meta.get('strategy', 'backtest')} on {', '.join(symbols) or '?'}"
    bars_note = None
    if bars is None:
        bars, bars_note = _primary_bars(result)
    currency = symbols[0].split("/")[-1] if symbols and "/" in symbols[0] else ""
    series = charts.equity_series(result)
    bh = charts.buy_hold(series, bars) if bars is not None else None
    parts = [
        _header(result, title),
        _stats_sections(result, currency, _extended(result, series, bh)),
        *_chart_sections(result, bars, bars_note, series, bh),
        _trades_table(result["trades"]),
    ]
    plotly_js: str = plotly.offline.get_plotlyjs()
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style>"
        f'<script type="text/javascript">{plotly_js}</script></head>'
        f"<body><main>{''.join(parts)}"
        "<footer>ATB backtest report · generated offline from the result JSON</footer></main></body></html>\n"
    )
