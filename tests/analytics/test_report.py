"""The HTML backtest report: offline, complete, escaped, and its charts match the result numbers."""

from __future__ import annotations

import base64
import copy
import json
import math
import re
import shutil
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
import talib

from atb.analytics import report_charts as charts
from atb.analytics import report_overlays as overlays
from atb.analytics.report import load_result, render_report, stat_label, write_report
from atb.data.loader import load_ohlcv
from atb.data.sample import sample_path
from atb.errors import UserInputError
from atb.services.backtest import BacktestRequest, run_backtest_request

HEADINGS = (
    "Performance",
    "Risk",
    "Equity curve",
    "Drawdown (underwater)",
    "Drawdowns",
    "Rolling Sharpe ratio (90 days)",
    "Price and trades",
    "Monthly returns",
    "Yearly returns",
    "Trade return distribution",
    "Trades",
)


def _run(**params: str) -> dict[str, Any]:
    outcome = run_backtest_request(BacktestRequest(params=dict(params)))
    result: dict[str, Any] = orjson.loads(outcome.json_bytes())
    return result


@pytest.fixture(scope="module")
def result() -> dict[str, Any]:
    """The default `atb backtest`: sma_cross 10/20 long-only on the bundled BTC/USDT 2h (35,123 bars)."""
    return _run()


@pytest.fixture(scope="module")
def report(result: dict[str, Any]) -> str:
    return render_report(result)


def _plotly_js() -> str:
    import plotly.offline

    js: str = plotly.offline.get_plotlyjs()
    return js


def _outside_plotly_js(doc: str) -> str:
    """The document without the inlined plotly.js library (whose code holds attribution links as strings)."""
    js = _plotly_js()
    assert doc.count(js) == 1
    return doc.replace(js, "")


def _figure(doc: str, div_id: str) -> list[dict[str, Any]]:
    """The traces passed to Plotly.newPlot for one chart div, decoded from the document."""
    start = doc.index(f'Plotly.newPlot(                        "{div_id}",') + len("Plotly.newPlot(")
    rest = doc[doc.index("[", start) :]
    data, _ = json.JSONDecoder().raw_decode(rest)
    traces: list[dict[str, Any]] = data
    return traces


def _values(spec: Any) -> np.ndarray[Any, Any]:
    """A plotly typed-array spec (or plain list) as a numpy array."""
    if isinstance(spec, dict):
        return np.frombuffer(base64.b64decode(spec["bdata"]), dtype="<" + spec["dtype"])
    return np.asarray(spec)


def test_report_is_offline(report: str) -> None:
    page = _outside_plotly_js(report)
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", page, re.I)
    assert not re.search(r"<script[^>]*\bsrc\s*=", report, re.I)
    assert not re.search(r"<link\b", page, re.I)
    assert "@import" not in page and "url(" not in page
    assert "http://" not in page and "https://" not in page


def test_plotly_js_inlined_exactly_once(report: str) -> None:
    js = _plotly_js()
    assert report.count(js) == 1
    assert report.count(js[:300]) == 1
    assert report.index(js) < report.index('id="equity-chart"')


def test_every_section_and_stat_is_present(report: str, result: dict[str, Any]) -> None:
    for heading in HEADINGS:
        assert f"<h2>{heading}</h2>" in report
    for key in result["stats"]:
        assert f"<td>{stat_label(key)}</td>".replace("&", "&amp;") in report, key
    header = report[report.index("<header>") : report.index("</header>")]
    assert "fast=10, slow=20" in header
    assert "BTC_USDT_2h.parquet" in header
    assert "18 gaps (53 missing 2h bars)" in header
    assert "2 bars with zero volume" in header
    assert "2017-08-17 04:00:00 UTC → 2025-08-26 12:00:00 UTC" in header


def test_trade_markers_match_trades(report: str, result: dict[str, Any]) -> None:
    trades = result["trades"]
    closed = [t for t in trades if not t["open"]]
    expected = len(trades) + len(closed)  # every entry, and every exit of a closed trade
    assert len(trades) == result["stats"]["trades"] == 1023
    assert f'data-markers="{expected}"' in report
    traces = {t.get("name"): t for t in _figure(report, "price-chart")}
    assert set(traces) == {"BTC/USDT", "SMA 10", "SMA 20", "Long entry", "Exit"}  # long-only: no short entries
    entry_ms = _values(traces["Long entry"]["x"])
    exit_ms = _values(traces["Exit"]["x"])
    assert len(entry_ms) + len(exit_ms) == expected
    want = [datetime.fromisoformat(t["entry_time"].replace("Z", "+00:00")).timestamp() * 1000 for t in trades]
    np.testing.assert_array_equal(entry_ms, want)
    exit_prices = _values(traces["Exit"]["y"])
    np.testing.assert_allclose(exit_prices, [float(t["exit_price"]) for t in closed], rtol=1e-6)


def test_short_entries_are_down_triangles() -> None:
    result = _run(short="true")
    bars = load_ohlcv(sample_path("BTC_USDT_2h")).bars
    doc = render_report(result, bars)
    traces = {t.get("name"): t for t in _figure(doc, "price-chart")}
    shorts = [t for t in result["trades"] if t["side"] == "short"]
    longs = [t for t in result["trades"] if t["side"] == "long"]
    assert shorts and longs
    assert traces["Short entry"]["marker"]["symbol"] == "triangle-down"
    assert traces["Long entry"]["marker"]["symbol"] == "triangle-up"
    assert len(_values(traces["Short entry"]["x"])) == len(shorts)
    assert len(_values(traces["Long entry"]["x"])) == len(longs)


def test_monthly_returns_match_pandas(report: str, result: dict[str, Any]) -> None:
    months = {p["time"][:7] for p in result["equity"]}
    assert len(months) == 97  # 2017-08 .. 2025-08
    assert f'data-months="{len(months)}"' in report
    series = charts.equity_series(result)
    monthly = charts.monthly_returns(series, result["stats"]["initial_equity"])
    assert monthly.months == len(months)
    # Independent reference: pandas month-end resample of the same points.
    eq = pd.Series(series.equity, index=pd.to_datetime(series.ts, utc=True))
    month_end = eq.resample("ME").last().dropna()
    ref = month_end.pct_change() * 100.0
    ref.iloc[0] = (month_end.iloc[0] / result["stats"]["initial_equity"] - 1.0) * 100.0
    got = monthly.pct[~np.isnan(monthly.pct)]  # row-major = chronological
    np.testing.assert_allclose(got, ref.to_numpy(), rtol=1e-12)
    # Year totals compound the months; 2017 starts at the initial equity.
    by_year = month_end.groupby(month_end.index.year).last()
    assert monthly.yearly_pct[0] == pytest.approx((by_year.iloc[0] / 10_000.0 - 1) * 100, rel=1e-12)
    assert monthly.yearly_pct[1] == pytest.approx((by_year.iloc[1] / by_year.iloc[0] - 1) * 100, rel=1e-12)
    z = _figure(report, "monthly-chart")[0]["z"]
    assert sum(v is not None for row in z for v in row) == len(months)


def _section_rows(doc: str, sid: str) -> list[list[str]]:
    """Cell texts of the first table in a section."""
    section = doc[doc.index(f'<section id="{sid}"') :]
    body = section[section.index("<tbody>") : section.index("</tbody>")]
    return [re.findall(r"<td>(.*?)</td>", row) for row in body.split("<tr>")[1:]]


def test_drawdowns_table(report: str, result: dict[str, Any]) -> None:
    rows = _section_rows(report, "drawdowns")
    assert len(rows) == 5 and 'data-rows="5"' in report
    depths = [float(r[3].removesuffix(" %")) for r in rows]
    assert depths == sorted(depths)
    # Independent: the deepest drawdown of the points (anchored at the initial equity) via pandas cummax.
    series = charts.equity_series(result)
    eq = pd.Series(np.concatenate(([result["stats"]["initial_equity"]], series.equity)))
    deepest = (eq / eq.cummax() - 1.0).min() * 100.0
    assert depths[0] == pytest.approx(deepest, abs=0.005)
    assert result["stats"]["max_drawdown_pct"] <= depths[0] < result["stats"]["max_drawdown_pct"] + 2.0
    peak_at = eq.iloc[: int((eq / eq.cummax()).argmin()) + 1].idxmax()
    assert rows[0][0] == _point_time(series, int(peak_at) - 1)
    assert rows[0][2] == "not recovered"  # the final equity is far below the 2021 peak
    assert all(r[2] != "not recovered" for r in rows[1:])


def _point_time(series: charts.EquitySeries, k: int) -> str:
    """Point k's time as the report prints it (k = -1: the anchor, at the first point's time)."""
    ns = int(series.ts[max(k, 0)])
    return pd.Timestamp(ns, tz="UTC").strftime("%Y-%m-%d %H:%M:%S UTC")


def test_yearly_returns_table(report: str, result: dict[str, Any]) -> None:
    rows = _section_rows(report, "yearly")
    series = charts.equity_series(result)
    eq = pd.Series(series.equity, index=pd.to_datetime(series.ts, utc=True))
    year_end = eq.resample("YE").last()
    ref = year_end.pct_change() * 100.0
    ref.iloc[0] = (year_end.iloc[0] / result["stats"]["initial_equity"] - 1.0) * 100.0
    assert [r[0] for r in rows] == [str(y) for y in range(2017, 2026)]
    assert [r[1] for r in rows] == [f"{v:,.2f} %" for v in ref]
    monthly = charts.monthly_returns(series, result["stats"]["initial_equity"])
    assert [float(r[1].removesuffix(" %")) for r in rows] == pytest.approx(monthly.yearly_pct, abs=0.005)


def test_rolling_sharpe_chart_matches_pandas(report: str, result: dict[str, Any]) -> None:
    assert result["meta"]["timeframe_s"] == 7200 and result["meta"]["equity_every"] == 4
    window = 270  # 90 days of points 8 hours apart
    assert f'data-window="{window}"' in report
    trace = _figure(report, "rolling-chart")[0]
    series = charts.equity_series(result)
    r = pd.Series(series.equity).pct_change().iloc[1:]
    ref = (r.rolling(window).mean() / r.rolling(window).std() * math.sqrt(365 * 3)).dropna()
    np.testing.assert_allclose(_values(trace["y"]), ref.to_numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(_values(trace["x"]), series.ts[ref.index] // 1_000_000)


def test_extended_stats_in_performance_table(result: dict[str, Any]) -> None:
    bars = load_ohlcv(sample_path("BTC_USDT_2h")).bars
    doc = render_report(result, bars)
    perf = dict(_section_rows(doc, "performance"))
    series = charts.equity_series(result)
    bh = charts.buy_hold(series, bars)
    assert bh is not None
    slope, _ = np.polyfit(np.diff(bh) / bh[:-1], np.diff(series.equity) / series.equity[:-1], 1)
    assert perf["Beta vs buy &amp; hold"] == f"{slope:,.3f}"
    stats = result["stats"]
    assert perf["Return per unit of exposure"] == f"{stats['return_pct'] / stats['exposure_pct'] * 100:,.2f} %"
    filled = [o for o in result["orders"] if o["price"] is not None]
    notional = sum(float(o["filled_quantity"]) * float(o["price"]) for o in filled)
    avg = float(series.equity.mean())
    assert perf["Turnover (× average equity per year)"] == f"{notional / avg * 365 / stats['duration_days']:,.3f}"
    for label in (
        "Omega ratio (gains / losses around 0)",
        "Skewness of returns",
        "Information ratio vs buy &amp; hold",
    ):
        assert perf[label] != "— (undefined)"
    # Without price data there is no benchmark: alpha and beta are undefined, not made up.
    no_data = copy.deepcopy(result)
    no_data["meta"]["data"][0]["source"] = "/nonexistent.parquet"
    assert dict(_section_rows(render_report(no_data), "performance"))["Beta vs buy &amp; hold"] == "— (undefined)"


def test_buy_hold_ends_at_the_stats_buy_hold_return(result: dict[str, Any]) -> None:
    bars = load_ohlcv(sample_path("BTC_USDT_2h")).bars
    series = charts.equity_series(result)
    bh = charts.buy_hold(series, bars)
    assert bh is not None
    assert bh[0] == pytest.approx(10_000.0 * bars.close[0] / bars.close[0])
    assert bh[-1] == pytest.approx(10_000.0 * (1 + result["stats"]["buy_hold_return_pct"] / 100.0), rel=1e-12)


def test_drawdown_against_stats(result: dict[str, Any]) -> None:
    series = charts.equity_series(result)
    dd = charts.drawdown_pct(series.equity)
    ref = (pd.Series(series.equity) / pd.Series(series.equity).cummax() - 1.0) * 100.0
    np.testing.assert_allclose(dd, ref.to_numpy(), rtol=1e-12, atol=1e-12)
    # Thinned points can only miss the deepest bar, never go deeper than it.
    assert result["stats"]["max_drawdown_pct"] <= dd.min() < result["stats"]["max_drawdown_pct"] + 2.0
    assert charts.drawdown_pct(np.array([100.0, 50.0, 200.0, 150.0])).tolist() == [0.0, -50.0, 0.0, -25.0]


def test_downsampling_keeps_the_extremes() -> None:
    bars = load_ohlcv(sample_path("BTC_USDT_2h")).bars
    candles = charts.downsample(bars)
    n = len(bars)
    assert candles.bucket == math.ceil(n / 4000) == 9
    assert len(candles.ts) == math.ceil(n / 9) <= 4000
    assert candles.high.max() == bars.high.max() and candles.low.min() == bars.low.min()
    for k in (0, 1234, len(candles.ts) - 1):  # first, middle, and the short last bucket
        lo, hi = 9 * k, min(9 * k + 9, n)
        assert candles.ts[k] == bars.ts[lo] and candles.open[k] == bars.open[lo]
        assert candles.high[k] == bars.high[lo:hi].max() and candles.low[k] == bars.low[lo:hi].min()
        assert candles.close[k] == bars.close[hi - 1]
    small = bars.slice(0, 100)
    same = charts.downsample(small)
    assert same.bucket == 1 and np.array_equal(same.close, small.close)


def test_sma_overlay_matches_talib() -> None:
    close = load_ohlcv(sample_path("BTC_USDT_2h")).bars.close[:3000]
    for n in (10, 20, 200):
        np.testing.assert_allclose(overlays.sma(close, n), talib.SMA(close, n), rtol=1e-9, equal_nan=True)
    assert overlays.sma_lengths({"strategy": "sma_cross", "params": {"fast": 5, "slow": 30}}) == [5, 30]
    assert overlays.sma_lengths({"strategy": "rsi_reversion", "params": {"period": 14}}) == []


def test_trade_histogram_counts_every_closed_trade(report: str, result: dict[str, Any]) -> None:
    closed = [t["return_pct"] for t in result["trades"] if not t["open"]]
    bars = _figure(report, "hist-chart")[0]
    assert int(_values(bars["y"]).sum()) == len(closed)
    assert "Showing the first 50 and the last 50 of 1,023 trades" in report


def test_strings_from_the_result_are_escaped(result: dict[str, Any]) -> None:
    evil = copy.deepcopy(result)
    evil["meta"]["strategy"] = "<script>alert(1)</script>"
    evil["meta"]["params"] = {"<b>x</b>": "\"'><img onerror=1>"}
    evil["meta"]["data"][0]["warnings"] = ["<iframe>"]
    evil["trades"][0]["pnl"] = "<script>alert(2)</script>"
    doc = render_report(evil)
    page = _outside_plotly_js(doc)
    assert "<script>alert" not in page and "<img" not in page and "<iframe>" not in page and "<b>x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in page
    assert "<title>&lt;script&gt;alert(1)&lt;/script&gt; on BTC/USDT</title>" in page


def test_zero_trades_and_missing_data_file(result: dict[str, Any]) -> None:
    empty = copy.deepcopy(result)
    empty["trades"], empty["orders"] = [], []
    empty["meta"]["data"][0]["source"] = "/nonexistent/BTC_USDT_2h.parquet"
    doc = render_report(empty)
    for heading in HEADINGS:
        assert f"<h2>{heading}</h2>" in doc
    assert "No candlestick chart: the data file /nonexistent/BTC_USDT_2h.parquet is not available." in doc
    assert "Buy &amp; hold is not shown" in doc
    assert 'id="price-chart"' not in doc and 'id="hist-chart"' not in doc
    assert "No closed trades." in doc and "No trades." in doc
    # Explicit bars still give the candles, with no markers.
    bars = load_ohlcv(sample_path("BTC_USDT_2h")).bars
    doc = render_report(empty, bars, title="no trades")
    assert 'data-markers="0"' in doc and "<h1>no trades</h1>" in doc
    names = {t.get("name") for t in _figure(doc, "price-chart")}
    assert names == {"BTC/USDT", "SMA 10", "SMA 20"}


def test_load_result_round_trip_and_rejections(result: dict[str, Any], tmp_path: Path) -> None:
    good = tmp_path / "result.json"
    good.write_bytes(orjson.dumps(result))
    assert load_result(good) == result
    cases = {
        "list.json": (b"[1, 2]", "not a backtest result"),
        "config.json": (b'{"name": "x", "stats": {}}', "missing key(s) meta, trades, equity"),
        "broken.json": (b"{not json", "is not JSON"),
        "types.json": (b'{"meta": {}, "stats": [], "trades": [], "equity": []}', "'stats' must be a JSON dict"),
        "v2.json": (b'{"schema_version": 2, "meta": {}, "stats": {}, "trades": [], "equity": []}', "version 2"),
        "points.json": (b'{"meta": {}, "stats": {}, "trades": [], "equity": [{"t": 1}]}', "'time' and 'equity'"),
    }
    for name, (payload, message) in cases.items():
        path = tmp_path / name
        path.write_bytes(payload)
        with pytest.raises(UserInputError, match=re.escape(message)):
            load_result(path)
    with pytest.raises(UserInputError, match="result file not found"):
        load_result(tmp_path / "missing.json")


def test_default_report_size(result: dict[str, Any], tmp_path: Path) -> None:
    path = write_report(result, tmp_path / "report.html")
    size = path.stat().st_size
    print(f"default BTC/USDT 2h report: {size:,} bytes ({size / 1e6:.2f} MB)")
    assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert size < 6_000_000


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed")
def test_headless_screenshot(result: dict[str, Any], tmp_path: Path) -> None:
    page = write_report(result, tmp_path / "report.html")
    shot = tmp_path / "report.png"
    assert CHROMIUM is not None
    subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--hide-scrollbars", "--window-size=1280,4200", "--virtual-time-budget=10000",
         f"--screenshot={shot}", page.resolve().as_uri()],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 100_000  # charts drawn: a blank page compresses to a few kB


def test_price_overlays_follow_the_strategy() -> None:
    import talib

    from atb.data.sample import load_sample

    bars = load_sample("BTC_USDT_1d").bars
    bb = overlays.price_overlays({"strategy": "bollinger_reversion", "params": {"period": 20, "width": 2.0}}, bars)
    upper, middle, lower = talib.BBANDS(bars.close, 20, 2.0, 2.0, 0)
    np.testing.assert_allclose(bb[0][1][19:], middle[19:], rtol=1e-9)
    assert [name for name, _ in bb] == ["BB mid 20", "BB upper 2σ", "BB lower 2σ"]
    np.testing.assert_allclose(bb[1][1][19:], upper[19:], rtol=1e-9)
    np.testing.assert_allclose(bb[2][1][19:], lower[19:], rtol=1e-9)
    dc = overlays.price_overlays({"strategy": "donchian_breakout", "params": {"entry": 10}}, bars)
    np.testing.assert_array_equal(dc[0][1][9:], talib.MAX(bars.high, 10)[9:])
    np.testing.assert_array_equal(dc[1][1][9:], talib.MIN(bars.low, 10)[9:])
    assert overlays.price_overlays({"strategy": "rsi_reversion", "params": {}}, bars) == []
