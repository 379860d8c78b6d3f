"""The dashboard in Debian's Chromium, driven by Playwright, against the app on a real socket with a paper node.

Logs in with a token, checks that the equity, drawdown and candlestick charts drew their data
(plotly keeps each chart's traces on its element), that fills are marked on the candles, that a
new bar reaches the equity chart over the websocket, cancels a resting order with its Cancel
button (and checks the venue and the database), opens a saved backtest result, and keeps a
screenshot: written to the test's tmp dir and copied to tests/artifacts/dashboard.png.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's Chromium is not installed at /usr/bin/chromium (.ci/run installs it)"
)
playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright (the dev extra) is not installed")

from sqlalchemy import select  # noqa: E402

from atb.api.state import ApiState  # noqa: E402
from atb.api.tokens import create_token  # noqa: E402
from atb.store import make_engine, session_scope, upgrade  # noqa: E402
from atb.store.models import OrderRow  # noqa: E402
from atb.strategy.registry import resolve  # noqa: E402

from .conftest import SYMBOL, build_paper_node  # noqa: E402
from .live_server import LiveServer  # noqa: E402

ARTIFACT = Path(__file__).resolve().parents[1] / "artifacts" / "dashboard.png"
INITIAL_BARS = 150


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[LiveServer, str, Any]]:
    db = f"sqlite:///{tmp_path / 'atb.db'}"
    strategy = resolve("sma_cross")(fast=5, slow=20, fraction=0.5)
    node, feed, node_engine = build_paper_node(db, strategy=strategy, initial=INITIAL_BARS)
    engine = make_engine(db)
    upgrade(engine)
    state = ApiState(engine, node=node, mode="paper", results_dir=tmp_path / "results", monitor_interval=0.5,
                     monitor_fast_interval=0.25, disk_path=tmp_path)  # fmt: skip
    token = create_token(state.sessions, "trade", "browser")[0]
    live = LiveServer(state).start()
    try:
        live.call(state.wait_node_ready(20.0))
        deadline = 200
        while node.summary.bars < INITIAL_BARS and deadline:
            live.call(_pause(0.05))
            deadline -= 1
        assert node.summary.bars == INITIAL_BARS, state.node_error
        yield live, token, feed
    finally:
        live.stop()
        engine.dispose()
        node_engine.dispose()


async def _pause(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)


async def _release(feed: Any, count: int) -> None:
    feed.release(count)


def _wait_js(page: Any, expression: str, timeout: float = 10.0) -> Any:
    """Poll `expression` until truthy. Playwright's own wait_for_function evaluates its predicate with
    `eval` inside the page, which the dashboard's Content-Security-Policy (rightly) refuses."""
    deadline = time.monotonic() + timeout
    while True:
        value = page.evaluate(expression)
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {expression}"
        time.sleep(0.05)


def _saved_result(folder: Path) -> Path:
    from atb.data.sample import sample_path
    from atb.services.backtest import BacktestRequest, run_backtest_request

    outcome = run_backtest_request(BacktestRequest(data=[sample_path("BTC_USDT_1d")], equity_points=300))
    path = folder / "result.json"
    path.write_bytes(outcome.json_bytes())
    return path


def test_dashboard_logs_in_draws_live_data_and_cancels_an_order(
    server: tuple[LiveServer, str, Any], tmp_path: Path
) -> None:
    live, token, feed = server
    auth = {"Authorization": f"Bearer {token}"}
    last = httpx.get(f"{live.url}/api/bars?limit=1", headers=auth).json()["close"][-1]
    order = httpx.post(f"{live.url}/api/orders", headers=auth, json={
        "symbol": SYMBOL, "side": "buy", "type": "limit", "quantity": "0.001", "limit_price": f"{last * 0.8:.2f}",
    }).json()  # fmt: skip
    assert order["status"] == "accepted", order
    cid = order["client_order_id"]
    fills = httpx.get(f"{live.url}/api/trades", headers=auth).json()["trades"]
    assert fills, "sma_cross should have traded on the first 150 bars"

    problems: list[str] = []
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
            page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
            page.on("request", lambda req: None if req.url.startswith(live.url) else problems.append(req.url))
            page.goto(live.url + "/")

            # a wrong token is refused with the server's message; the right one opens the dashboard
            page.fill("#token-input", "atb_wrong")
            page.click("#login-form button[type=submit]")
            _wait_js(page, "document.getElementById('login-error').textContent.length > 0")
            assert "invalid or revoked" in page.text_content("#login-error")
            problems.clear()  # the refused request is logged by the browser as a failed load
            page.fill("#token-input", token)
            page.click("#login-form button[type=submit]")
            page.wait_for_selector("#app:not([hidden])")
            _wait_js(page, "document.getElementById('live-state').textContent === 'live'")

            equity_points = "document.getElementById('equity-chart').data?.[0]?.x?.length ?? 0"
            _wait_js(page, f"{equity_points} >= {INITIAL_BARS}")
            _wait_js(page, "document.getElementById('candles-chart').data?.length === 3")
            candles = page.evaluate("document.getElementById('candles-chart').data.map(t => [t.type, t.x.length])")
            assert candles[0] == ["candlestick", 300] and candles[1][1] + candles[2][1] == len(fills), candles
            drawdown = page.evaluate("document.getElementById('drawdown-chart').data[0].y")
            assert len(drawdown) >= INITIAL_BARS and max(drawdown) == 0 and min(drawdown) < 0
            assert page.evaluate("document.querySelectorAll('#equity-chart .scatterlayer path.js-line').length") == 1

            # live: three more bars arrive over the websocket
            before = page.evaluate(equity_points)
            live.call(_release(feed, 3))
            _wait_js(page, f"{equity_points} >= {before + 3}")

            # the resting order, cancelled from its row
            button = page.locator(f"button.cancel-order[data-order-id='{cid}']")
            button.wait_for()
            assert page.locator("#health-list").inner_text().count("OK") >= 3
            page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
            button.click()
            _wait_js(page, f"!document.querySelector(\"button.cancel-order[data-order-id='{cid}']\")")
            assert page.locator("#orders-table td.empty").inner_text() == "no open order"

            # a saved backtest result, opened from a file, drawn with the same charts
            page.set_input_files("#result-file", str(_saved_result(tmp_path)))
            page.wait_for_selector("#result-view:not([hidden])")
            result = orjson.loads((tmp_path / "result.json").read_bytes())
            drawn = page.evaluate("document.getElementById('result-equity-chart').data[0].x.length")
            assert drawn == len(result["equity"]) > 100
            assert "sma_cross on BTC/USDT" in page.text_content("#result-title")
            bad = tmp_path / "not-a-result.json"
            bad.write_text('{"hello": 1}')
            page.set_input_files("#result-file", str(bad))
            _wait_js(page, "document.getElementById('result-error').textContent.length > 0")
            assert 'not an ATB result: no "schema_version"' in page.text_content("#result-error")
        finally:
            browser.close()

    assert problems == [], problems  # no script error, no CSP refusal, no request off this server
    with session_scope(live.state.sessions) as session:
        stored = session.scalars(select(OrderRow).where(OrderRow.client_order_id == cid)).one()
        assert stored.status == "canceled"
    venue = live.state.node.exchange.inner  # type: ignore[union-attr]
    assert cid not in [o.client_order_id for o in venue._venue.open_orders(SYMBOL)]
    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(tmp_path / "dashboard.png", ARTIFACT)
    assert ARTIFACT.stat().st_size > 20_000
