"""Health, Prometheus metrics, the OpenAPI spec, background backtests, strategies and the dashboard's files."""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import orjson
from prometheus_client.parser import text_string_to_metric_families

from atb.api.app import plotly_js_path

from .conftest import SYMBOL, Harness, build_paper_node


def test_readiness_lists_components_and_is_200_when_trading(harness: Harness) -> None:
    response = harness.get("/health/ready")
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["ok"] is True and set(report["components"]) == {"database", "disk", "node", "market_data"}
    assert report["components"]["node"]["reason"] == "run api-paper trading (paper)"
    assert report["components"]["database"]["details"]["revision"]


def test_readiness_is_503_naming_the_failed_component(make_harness: Callable[..., Harness]) -> None:
    h = make_harness()
    h.on_loop(h.state.stop)  # the node stops: the process lives on, but it can no longer trade
    response = h.get("/health/ready")
    assert response.status_code == 503
    node = response.json()["components"]["node"]
    assert node["status"] == "fail" and node["reason"] == "run api-paper has stopped (stopped)"
    assert response.json()["components"]["database"]["status"] == "ok"
    assert h.client.get("/health/live").status_code == 200
    order = h.post("/api/orders", {"symbol": SYMBOL, "side": "buy", "quantity": "0.01"})
    assert (order.status_code, order.json()["error"]) == (409, "the trading node is stopped; it takes no orders")
    assert h.delete("/api/orders/x").json()["error"] == "the trading node is stopped; it cancels nothing now"


def test_readiness_reports_a_node_that_failed_to_start(make_harness: Callable[..., Harness], tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from atb.api.app import create_app
    from atb.api.state import ApiState
    from atb.node.live import NodeSettings

    h = make_harness(with_node=False)
    node, _, node_engine = build_paper_node(f"sqlite:///{tmp_path / 'other.db'}")
    node.settings = NodeSettings(("ETH/USDT",), "5m", Decimal("10000"))  # the venue does not list it
    state = ApiState(h.engine, node=node, mode="paper", results_dir=tmp_path)
    try:
        with TestClient(create_app(state)) as client:
            client.portal.call(state.wait_node_ready, 10.0)  # type: ignore[union-attr]
            response = client.get("/health/ready", headers=h.headers())
            status = client.get("/api/status", headers=h.headers()).json()["node"]
    finally:
        node_engine.dispose()
    assert response.status_code == 503
    assert response.json()["components"]["node"]["reason"] == (
        "run api-paper stopped with an error: the venue does not list ETH/USDT"
    )
    assert status["state"] == "failed" and status["error"] == "the venue does not list ETH/USDT"


def test_metrics_parse_and_carry_the_trading_figures(harness: Harness) -> None:
    harness.post("/api/orders", {"symbol": SYMBOL, "side": "buy", "quantity": "0.01"})
    harness.post("/api/orders", {"symbol": SYMBOL, "side": "buy", "type": "limit", "quantity": "0.01",
                                 "limit_price": "40000"})  # fmt: skip
    harness.advance(1)
    deadline = time.monotonic() + 10
    while True:
        response = harness.get("/metrics")
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
        families = {f.name: f for f in text_string_to_metric_families(response.text)}
        samples = {s.name: s.value for f in families.values() for s in f.samples if not s.labels}
        if samples.get("atb_open_orders") == 1.0 and samples.get("atb_fills_total") == 1.0:
            break
        assert time.monotonic() < deadline, samples
        time.sleep(0.1)
    equity = Decimal(harness.get("/api/positions").json()["portfolio"]["equity"])
    assert abs(samples["atb_equity"] - float(equity)) < 1e-6
    assert samples["atb_gross_exposure"] > 0 and samples["atb_order_roundtrip_seconds_count"] == 2.0
    by_status = {s.labels["status"]: s.value for s in families["atb_orders"].samples if "status" in s.labels}
    assert by_status["submitted"] == 2.0 and by_status["filled"] == 1.0
    staleness = [s for s in families["atb_feed_staleness_seconds"].samples if s.labels.get("symbol") == SYMBOL]
    assert staleness and staleness[0].value == 0.0
    for name in ("atb_system_cpu_percent", "atb_process_rss_bytes", "atb_event_loop_lag_seconds", "atb_drawdown_pct"):
        assert name in families, name


def test_openapi_spec_is_served_to_token_holders(harness: Harness) -> None:
    assert harness.client.get("/api/openapi.json").status_code == 401
    spec = harness.get("/api/openapi.json").json()
    assert spec["info"]["title"] == "ATB API"
    for path in (
        "/api/orders",
        "/api/orders/{client_order_id}",
        "/api/backtests/{job_id}",
        "/health/ready",
        "/metrics",
    ):
        assert path in spec["paths"], path
    order = spec["components"]["schemas"]["OrderBody"]
    assert order["properties"]["quantity"]["type"] == "string" and order["additionalProperties"] is False
    assert harness.client.get("/docs").status_code == 404  # the docs pages would need a CDN


def test_a_background_backtest_is_listed_then_fetched_with_the_result_contract(harness: Harness) -> None:
    started = harness.post("/api/backtests", {"strategy": "sma_cross", "params": {"fast": 10, "slow": 30},
                                              "data": ["BTC_USDT_2h"], "equity_points": 500})  # fmt: skip
    assert started.status_code == 202, started.text
    job = started.json()
    assert job["status"] in ("queued", "running") and job["id"].startswith("bt-")
    assert [j["id"] for j in harness.get("/api/backtests").json()] == [job["id"]]
    harness.wait_for(
        lambda: harness.get(f"/api/backtests/{job['id']}").json()["status"] in ("done", "failed"),
        timeout=60, what="the backtest",
    )  # fmt: skip
    done = harness.get(f"/api/backtests/{job['id']}").json()
    assert done["status"] == "done", done["error"]
    result = done["result"]
    assert set(result) >= {"schema_version", "meta", "stats", "trades", "orders", "equity", "positions", "portfolio"}
    assert result["meta"]["strategy"] == "sma_cross" and result["meta"]["params"] == {
        "fast": 10,
        "slow": 30,
        "short": False,
        "fraction": 1.0,
    }
    assert done["stats"]["trades"] == result["stats"]["trades"] > 0
    raw = harness.get(f"/api/backtests/{job['id']}/result")
    assert raw.headers["content-disposition"] == f'attachment; filename="{job["id"]}.json"'
    saved = Path(harness.state.results_dir) / f"{job['id']}.json"
    assert raw.content == saved.read_bytes() and orjson.loads(saved.read_bytes()) == result
    assert len(result["equity"]) <= 501
    listed = harness.get("/api/backtests").json()[0]
    assert listed["status"] == "done" and listed["title"].startswith("sma_cross on BTC/USDT")


def test_saved_backtests_are_listed_by_a_later_process(make_harness: Callable[..., Harness]) -> None:
    first = make_harness(with_node=False)
    job = first.post("/api/backtests", {"data": ["BTC_USDT_1d"]}).json()
    first.wait_for(lambda: first.get(f"/api/backtests/{job['id']}").json()["status"] == "done", timeout=60)
    from fastapi.testclient import TestClient

    from atb.api.app import create_app
    from atb.api.state import ApiState

    later = ApiState(first.engine, results_dir=first.state.results_dir)
    with TestClient(create_app(later)) as client:
        listed = client.get("/api/backtests", headers=first.headers()).json()
        assert [(j["id"], j["status"]) for j in listed] == [(job["id"], "done")]
        result = client.get(f"/api/backtests/{job['id']}/result", headers=first.headers())
        assert result.status_code == 200 and orjson.loads(result.content)["schema_version"] == 1


def test_strategies_lists_the_builtins_with_typed_parameters(harness: Harness) -> None:
    strategies = {s["name"]: s for s in harness.get("/api/strategies").json()}
    assert {"sma_cross", "rsi_reversion", "donchian_breakout", "momentum_rotation"} <= set(strategies)
    fast = next(p for p in strategies["sma_cross"]["params"] if p["name"] == "fast")
    assert (fast["type"], fast["default"], fast["ge"]) == ("int", 10, 1)
    assert strategies["momentum_rotation"]["multi_asset"] is True


def test_the_dashboard_page_and_its_scripts_are_served_offline(harness: Harness) -> None:
    page = harness.client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    html = page.text
    for src in ("/static/plotly.min.js", "/static/dashboard.js", "/static/results.js", "/static/dashboard.css"):
        assert src in html
    assert "http://" not in html and "https://" not in html  # nothing from the network
    plotly = harness.client.get("/static/plotly.min.js")
    assert plotly.content == plotly_js_path().read_bytes() and len(plotly.content) > 1_000_000
    for name in ("dashboard.js", "results.js"):
        script = harness.client.get(f"/static/{name}").text
        assert ".innerHTML" not in script and "https://" not in script  # server text is set as text only
