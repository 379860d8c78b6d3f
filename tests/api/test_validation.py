"""Malformed requests: 422 (or 400/404/405/409) as JSON with a message that names the problem; never a traceback."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from .conftest import Harness

GOOD = {"symbol": "BTC/USDT", "side": "buy", "type": "limit", "quantity": "0.01", "limit_price": "40000"}


def _error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"error", "detail"}
    assert "Traceback" not in response.text and 'File "' not in response.text
    return body


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"quantity": 0.01}, "body field quantity: must be a JSON string holding a decimal number"),
        ({"quantity": 1}, "body field quantity: must be a JSON string"),
        ({"limit_price": 40000.5}, "body field limit_price: must be a JSON string"),
        ({"quantity": "abc"}, "body field quantity: 'abc' is not a decimal number"),
        ({"quantity": "NaN"}, "not a finite number"),
        ({"quantity": "-1"}, "body field quantity: must be positive"),
        ({"quantity": "0"}, "must be positive"),
        ({"side": "long"}, "body field side: Input should be 'buy' or 'sell'"),
        ({"type": "stop"}, "body field type"),
        ({"tif": "day"}, "body field tif"),
        ({"reduce_only": "yes"}, "body field reduce_only: Input should be a valid boolean"),
        ({"symbol": 42}, "body field symbol: Input should be a valid string"),
        ({"leverage": "3"}, "body field leverage: Extra inputs are not permitted"),
        ({"tag": "x" * 300}, "body field tag"),
        ({"limit_price": None}, "a limit order needs limit_price"),
        ({"type": "market"}, "a market order takes no limit_price"),
    ],
)
def test_order_body_mistakes_are_422_with_the_field_named(harness: Harness, change: dict[str, Any], words: str) -> None:
    body = _error(harness.post("/api/orders", GOOD | change), 422)
    assert words in body["error"], body
    assert isinstance(body["detail"], list) and body["detail"][0]["loc"][0] == "body"
    assert harness.node.router.submitted == 0  # type: ignore[union-attr]


def test_missing_fields_and_non_json_bodies(harness: Harness) -> None:
    body = _error(harness.post("/api/orders", {"symbol": "BTC/USDT"}), 422)
    assert body["error"].startswith("body field side: Field required (and 1 more)")
    assert {e["loc"][-1] for e in body["detail"]} == {"side", "quantity"}
    response = harness.client.post(
        "/api/orders", content=b"{not json", headers=harness.headers("trade") | {"Content-Type": "application/json"}
    )
    assert _error(response, 422)["error"] == "request body is not valid JSON (error at character 1)"
    _error(harness.post("/api/orders", ["a", "list"]), 422)
    _error(harness.post("/api/orders", None), 422)


def test_values_the_instrument_refuses_are_422_and_no_order_is_made(harness: Harness) -> None:
    off_grid = _error(harness.post("/api/orders", GOOD | {"quantity": "0.000001"}), 422)
    assert "0.000001" in off_grid["error"] and "0.00001" in off_grid["error"]
    price = _error(harness.post("/api/orders", GOOD | {"limit_price": "40000.001"}), 422)
    assert "40000.001" in price["error"]
    unknown = _error(harness.post("/api/orders", GOOD | {"symbol": "ETH/USDT"}), 422)
    assert unknown["error"] == "this node does not trade 'ETH/USDT' (symbols: BTC/USDT)"
    assert _error(harness.get("/api/orders?status=closed"), 422)["error"].startswith("query field status")
    assert _error(harness.get("/api/orders?limit=0"), 422)["error"].startswith("query field limit")
    assert harness.node.router.submitted == 0  # type: ignore[union-attr]


def test_other_bodies_are_validated_too(harness: Harness) -> None:
    assert "minutes" in _error(harness.post("/api/alerts/drawdown_pct/silence", {"minutes": 0}), 422)["error"]
    assert "minutes" in _error(harness.post("/api/alerts/drawdown_pct/silence", {}), 422)["error"]
    assert (
        "Extra inputs" in _error(harness.post("/api/alerts/drawdown_pct/silence", {"minutes": 5, "x": 1}), 422)["error"]
    )
    assert _error(harness.post("/api/alerts/no_such_rule/silence", {"minutes": 5}), 404)["error"].startswith(
        "no alert rule 'no_such_rule'"
    )
    backtest = _error(harness.post("/api/backtests", {"strategy": "sma_crosss"}), 422)["error"]
    assert "unknown strategy 'sma_crosss'" in backtest and "built-in strategies only" in backtest
    path = _error(harness.post("/api/backtests", {"strategy": "/etc/passwd.py"}), 422)["error"]
    assert "built-in strategies only" in path
    param = _error(harness.post("/api/backtests", {"params": {"fastt": 5}}), 422)["error"]
    assert "fastt" in param
    sample = _error(harness.post("/api/backtests", {"data": ["../../etc/passwd"]}), 422)["error"]
    assert sample.startswith("unknown sample data ../../etc/passwd")
    assert "cash" in _error(harness.post("/api/backtests", {"cash": 10000.0}), 422)["error"]
    assert "slippage" in _error(harness.post("/api/backtests", {"slippage": "lots"}), 422)["error"]
    assert harness.state.backtests.jobs() == []


def test_unknown_paths_methods_and_ids(harness: Harness) -> None:
    assert _error(harness.get("/api/nothing"), 404)["error"] == "no such endpoint: GET /api/nothing"
    assert _error(harness.client.put("/api/orders", headers=harness.headers()), 405)["error"].startswith(
        "method PUT not allowed"
    )
    assert _error(harness.delete("/api/orders/nope"), 404)["error"] == "no order 'nope'"
    assert _error(harness.get("/api/backtests/bt-000000000000"), 404)["error"] == "no backtest 'bt-000000000000'"
    assert _error(harness.get("/api/backtests/..%2F..%2Fatb"), 404)["error"].startswith("no ")
    assert _error(harness.get("/api/bars?symbol=ETH/USDT"), 404)["error"].startswith("this node does not trade")


def test_an_unexpected_error_is_a_bare_500_and_the_traceback_goes_to_the_log(
    make_harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from fastapi.testclient import TestClient

    from atb.api import queries

    h = make_harness(with_node=False)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(queries, "runs", broken)
    client = TestClient(h.client.app, raise_server_exceptions=False)
    with caplog.at_level(logging.ERROR, logger="atb.api"):
        response = client.get("/api/status", headers=h.headers())
    body = _error(response, 500)
    assert body["error"] == "internal error" and "secret" not in response.text
    incident = body["detail"].split()[1].rstrip(":")
    logged = [r for r in caplog.records if incident in r.getMessage()]
    assert logged and logged[0].exc_info is not None and "secret internal detail" in str(logged[0].exc_info[1])


def test_without_a_node_order_routes_answer_409(make_harness: Callable[..., Harness]) -> None:
    h = make_harness(with_node=False)
    for response in (h.post("/api/orders", GOOD), h.delete("/api/orders/x"), h.get("/api/bars")):
        assert _error(response, 409)["error"].startswith("no trading node in this process")
