"""The websocket event stream, and alerts from rule to database, notification, websocket and silence."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from atb.monitor.alerts import AlertRule, AlertsConfig, Severity
from atb.monitor.notify import Notifier

from .conftest import SYMBOL, Harness


class Events:
    """Reads websocket frames with a deadline (the test client's `receive_json` would wait forever)."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.seen: list[dict[str, Any]] = []
        self._pool = ThreadPoolExecutor(1)

    def until(self, done: Callable[[list[dict[str, Any]]], bool], timeout: float = 10.0) -> list[dict[str, Any]]:
        while not done(self.seen):
            try:
                self.seen.append(self._pool.submit(self.ws.receive_json).result(timeout))
            except FutureTimeout:
                pytest.fail(f"no more websocket events; got {[e['type'] for e in self.seen]}")
        return self.seen

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.seen if e["type"] == kind]


def test_websocket_streams_order_fill_and_equity_events(harness: Harness) -> None:
    with harness.client.websocket_connect(f"/api/ws?token={harness.tokens['read']}") as ws:
        events = Events(ws)
        events.until(lambda seen: len(seen) >= 1)
        hello = events.seen[0]
        assert (hello["type"], hello["token"], hello["mode"], hello["run_id"]) == (
            "hello",
            "read-1",
            "paper",
            "api-paper",
        )
        assert harness.get("/api/status").json()["websocket_clients"] == 1

        order = harness.post("/api/orders", {"symbol": SYMBOL, "side": "buy", "quantity": "0.01"}).json()
        cid = order["client_order_id"]
        events.until(lambda seen: any(e["type"] == "order" for e in seen))
        assert events.of("order")[0] | {"ts": 0} == {
            "type": "order", "ts": 0, "client_order_id": cid, "symbol": SYMBOL, "status": "accepted", "reason": "",
        }  # fmt: skip

        harness.advance(1)
        events.until(lambda seen: any(e["type"] == "equity" for e in seen))
        (fill,) = events.of("fill")
        trade = harness.get("/api/trades").json()["trades"][0]
        assert (fill["client_order_id"], fill["side"], Decimal(fill["quantity"]), Decimal(fill["price"])) == (
            cid, "buy", Decimal("0.01"), Decimal(trade["price"]),
        )  # fmt: skip
        assert [e["status"] for e in events.of("order")] == ["accepted", "filled"]
        (equity,) = events.of("equity")
        assert equity["bar_ts_ms"] == harness.get("/api/equity").json()["points"][-1]["ts_ms"]
        order_types = [e["type"] for e in events.seen]
        assert order_types.index("fill") < order_types.index("equity")
    harness.wait_for(lambda: harness.state.websocket_clients == 0, what="the websocket to be released")
    assert harness.state.bus.subscribers == 1  # the monitor's own subscription only


@pytest.fixture
def webhook() -> Iterator[list[dict[str, Any]]]:
    """An HTTP receiver on 127.0.0.1 for Apprise's json:// notifications; yields what it received."""
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0")))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    received.append({"port": server.server_address[1]})
    try:
        yield received
    finally:
        server.shutdown()
        server.server_close()


def test_an_alert_is_stored_notified_streamed_and_silenced(
    make_harness: Callable[..., Harness], webhook: list[dict[str, Any]]
) -> None:
    port = webhook.pop(0)["port"]
    rule = AlertRule(
        name="equity_seen", metric="equity", comparison=">", threshold=0, severity=Severity.WARNING,
        description="Test rule: fires as soon as the node reports its equity.",
    )  # fmt: skip
    config = AlertsConfig(
        rules=[rule], channels={"ops": [f"json://127.0.0.1:{port}/hook"]}, routes={Severity.WARNING: ["ops"]}
    )
    notifier = Notifier.from_config(config, attempts=1)
    h = make_harness(alerts=config, notifier=notifier, monitor_interval=0.3)
    with h.client.websocket_connect(f"/api/ws?token={h.tokens['read']}") as ws:
        events = Events(ws)
        events.until(lambda seen: any(e["type"] == "alert" for e in seen))
        (fired,) = events.of("alert")
        assert (fired["rule"], fired["kind"], fired["severity"], fired["value"]) == (
            "equity_seen", "FIRED", "WARNING", 10000.0,
        )  # fmt: skip
        alerts = h.get("/api/alerts").json()
        assert [a["rule"] for a in alerts["active"]] == ["equity_seen"]
        assert alerts["active"][0]["silenced_until"] is None
        assert [(e["rule"], e["kind"]) for e in alerts["history"]] == [("equity_seen", "FIRED")]
        assert "equity_seen" in {r["name"] for r in alerts["rules"]} and "drawdown_pct" in {
            r["name"] for r in alerts["rules"]
        }
        assert h.state.monitor.sampler.current_interval() == pytest.approx(0.15)  # fast while firing

        silenced = h.post("/api/alerts/equity_seen/silence", {"minutes": 30})
        assert silenced.status_code == 200, silenced.text
        assert "SILENCED" in silenced.json()["message"]
        events.until(lambda seen: len([e for e in seen if e["type"] == "alert"]) >= 2)
        assert events.of("alert")[1]["kind"] == "SILENCED"
    alerts = h.get("/api/alerts").json()
    assert alerts["active"][0]["silenced_until"] == pytest.approx(silenced.json()["silenced_until"])
    assert [e["kind"] for e in alerts["history"]] == ["SILENCED", "FIRED"]
    assert h.state.notifier is not None and h.state.notifier.flush(10)
    titles = [m["title"] for m in webhook]
    assert titles[0].startswith("[WARNING] equity_seen: equity > 0 (value 10000) FIRING"), titles
    assert "SILENCED" in titles[1] and len(titles) == 2
    metrics = h.get("/metrics").text
    assert "atb_metrics_sample_interval_seconds 0.15" in metrics
