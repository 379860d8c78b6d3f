"""Trading routes against a running paper node: orders through the risk engine, fills, positions, equity."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from atb.risk import RiskConfig
from atb.store import AuditLog, session_scope
from atb.store.models import FillRow, OrderRow

from .conftest import RUN_ID, SYMBOL, WARMUP, Harness, sample_bars

LIMIT = {"symbol": SYMBOL, "side": "buy", "type": "limit", "quantity": "0.01", "limit_price": "40000"}


def _db_order(h: Harness, cid: str) -> OrderRow:
    with session_scope(h.state.sessions) as session:
        return session.scalars(select(OrderRow).where(OrderRow.client_order_id == cid)).one()


def test_status_reports_the_node_and_its_run(harness: Harness) -> None:
    status = harness.get("/api/status").json()
    node = status["node"]
    assert status["mode"] == "paper" and node["state"] == "running" and node["run_status"] == "running"
    assert node["run_id"] == RUN_ID and node["symbols"] == [SYMBOL] and node["timeframe"] == "5m"
    assert node["bars"] == 30 and node["equity"] == "10000" and node["halted"] is False
    assert [r["id"] for r in status["runs"]] == [RUN_ID]


def test_a_limit_order_rests_at_the_venue_and_is_cancelled(harness: Harness) -> None:
    response = harness.post("/api/orders", LIMIT)
    assert response.status_code == 201, response.text
    order = response.json()
    cid = order["client_order_id"]
    assert cid.startswith("atbapi-pa-") and order["run_id"] == RUN_ID
    assert (order["status"], order["open"], order["quantity"], order["limit_price"], order["tag"]) == (
        "accepted", True, "0.01", "40000", "api",
    )  # fmt: skip
    venue = harness.node.exchange.inner  # type: ignore[attr-defined]
    assert [o.client_order_id for o in venue._venue.open_orders(SYMBOL)] == [cid]
    listed = harness.get("/api/orders").json()
    assert listed["run_id"] == RUN_ID and [o["client_order_id"] for o in listed["orders"]] == [cid]

    cancelled = harness.delete(f"/api/orders/{cid}")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "canceled" and cancelled.json()["open"] is False
    assert venue._venue.open_orders(SYMBOL) == []
    assert _db_order(harness, cid).status == "canceled"
    assert harness.get("/api/orders").json()["orders"] == []
    assert [o["status"] for o in harness.get("/api/orders?status=all").json()["orders"]] == ["canceled"]
    again = harness.delete(f"/api/orders/{cid}")
    assert (
        again.status_code == 409
        and again.json()["error"] == f"order {cid} is canceled: only open orders can be cancelled"
    )
    with session_scope(harness.state.sessions) as session:
        actions = [(e.actor, e.action, e.details["client_order_id"]) for e in AuditLog.entries(session) if
                   e.action.startswith("api_order")]  # fmt: skip
    assert actions == [("api:trade-1", "api_order_submitted", cid), ("api:trade-1", "api_order_cancelled", cid)]


def test_a_market_order_fills_on_the_next_bar_and_shows_in_trades_positions_and_balances(harness: Harness) -> None:
    order = harness.post("/api/orders", {"symbol": SYMBOL, "side": "buy", "quantity": "0.02"}).json()
    assert order["type"] == "market" and order["status"] == "accepted"
    harness.advance(1)
    bars = sample_bars()
    open_price = Decimal(repr(float(bars.open[WARMUP + 30])))  # the bar after the 30 initial ones
    trades = harness.get("/api/trades").json()["trades"]
    assert len(trades) == 1
    fill = trades[0]
    assert (fill["client_order_id"], fill["side"], fill["quantity"]) == (order["client_order_id"], "buy", "0.02")
    assert Decimal(fill["price"]) == open_price and Decimal(fill["fee"]) == open_price * Decimal("0.02") * Decimal(
        "0.001"
    )
    with session_scope(harness.state.sessions) as session:
        stored = session.scalars(select(FillRow)).one()
    assert (stored.price, stored.fee) == (Decimal(fill["price"]), Decimal(fill["fee"]))

    positions = harness.get("/api/positions").json()
    assert positions["source"] == "node"
    (pos,) = positions["positions"]
    mark = Decimal(repr(float(bars.close[WARMUP + 30])))
    assert (pos["symbol"], pos["side"], Decimal(pos["quantity"])) == (SYMBOL, "long", Decimal("0.02"))
    assert Decimal(pos["mark_price"]) == mark and Decimal(pos["avg_entry_price"]) == open_price
    assert Decimal(pos["unrealised_pnl"]) == (mark - open_price) * Decimal("0.02")
    for key in ("mae_pct", "mfe_pct", "var_95_pct", "holding_time_s", "leverage"):
        assert pos[key] is not None, key
    portfolio = positions["portfolio"]
    cash = Decimal("10000") - open_price * Decimal("0.02") * Decimal("1.001")
    assert Decimal(portfolio["cash"]) == cash
    assert Decimal(portfolio["equity"]) == cash + mark * Decimal("0.02")

    balances = harness.get("/api/balances").json()
    assert Decimal(balances["cash"]) == cash and Decimal(balances["equity"]) == Decimal(portfolio["equity"])
    assert balances["currency"] == "USDT" and balances["venue"]["USDT"]["total"] == "10000"
    assert harness.get("/api/orders").json()["orders"] == []
    assert harness.get("/api/orders?status=all").json()["orders"][0]["status"] == "filled"


def test_a_risk_denial_is_a_stored_order_with_its_reason(make_harness: Callable[..., Harness]) -> None:
    h = make_harness(risk=RiskConfig(max_order_notional=Decimal("100")))
    response = h.post("/api/orders", LIMIT)  # 0.01 x 40000 = 400 USDT > 100
    assert response.status_code == 201
    order = response.json()
    assert order["status"] == "denied" and order["open"] is False
    assert order["reason"].startswith("max_order_notional:"), order["reason"]
    assert h.node.exchange.inner._orders == {}  # type: ignore[attr-defined]  # nothing reached the venue
    assert _db_order(h, order["client_order_id"]).status == "denied"
    small = h.post("/api/orders", LIMIT | {"quantity": "0.002"}).json()  # 80 USDT: allowed
    assert small["status"] == "accepted"


def test_equity_curve_and_bars_follow_the_node(harness: Harness) -> None:
    equity = harness.get("/api/equity").json()
    assert len(equity["points"]) == 30 and len(equity["drawdown_pct"]) == 30
    assert {p["equity"] for p in equity["points"]} == {"10000"} and set(equity["drawdown_pct"]) == {0.0}
    harness.advance(2)
    points = harness.get("/api/equity?limit=5").json()["points"]
    assert len(points) == 5 and points[-1]["ts_ms"] - points[-2]["ts_ms"] == 300_000

    bars = harness.get("/api/bars?limit=50").json()
    sample = sample_bars()
    last = WARMUP + 32 - 1
    assert bars["symbol"] == SYMBOL and bars["timeframe_s"] == 300 and len(bars["close"]) == 50
    assert bars["close"][-1] == float(sample.close[last]) and bars["ts_ms"][-1] == int(sample.ts[last]) // 10**6
    assert bars["ts_ms"][-1] == points[-1]["ts_ms"]
    everything = harness.get("/api/bars?limit=5000").json()
    assert len(everything["close"]) == WARMUP + 32


def test_without_a_node_the_database_still_answers(make_harness: Callable[..., Harness]) -> None:
    h = make_harness()
    h.post("/api/orders", {"symbol": SYMBOL, "side": "buy", "quantity": "0.01"})
    h.advance(1)
    # a second app on the first one's database, without a node
    from fastapi.testclient import TestClient

    from atb.api.app import create_app
    from atb.api.state import ApiState

    state = ApiState(h.engine, results_dir=h.state.results_dir)
    with TestClient(create_app(state)) as client:
        auth = h.headers()

        def get(url: str) -> Any:
            response = client.get(url, headers=auth)
            assert response.status_code == 200, (url, response.text)
            return response.json()

        assert get("/api/status")["node"] is None and get("/api/status")["runs"][0]["id"] == RUN_ID
        assert [o["status"] for o in get("/api/orders?status=all")["orders"]] == ["filled"]
        assert len(get("/api/trades")["trades"]) == 1
        positions = get("/api/positions")
        assert positions["source"] == "database" and positions["positions"][0]["quantity"] == "0.01"
        assert get(f"/api/orders?run={RUN_ID}")["run_id"] == RUN_ID
        assert client.get("/api/orders?run=nope", headers=auth).status_code == 404
        assert get("/api/balances")["venue"]["USDT"]["free"] == "10000"
        assert get("/api/equity")["points"] == [] and "no trading node" in get("/api/equity")["note"]
