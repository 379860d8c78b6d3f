"""Authentication: every route but /health/live and the dashboard's files needs a token; scopes read < trade."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select
from starlette.websockets import WebSocketDisconnect

from atb.api.tokens import create_token, list_tokens, revoke_token, verify_token
from atb.store import session_scope
from atb.store.models import ApiTokenRow

from .conftest import Harness

READ_ROUTES = [
    "/api/status",
    "/api/balances",
    "/api/positions",
    "/api/orders",
    "/api/trades",
    "/api/equity",
    "/api/bars",
    "/api/alerts",
    "/api/strategies",
    "/api/backtests",
    "/api/openapi.json",
    "/health/ready",
    "/metrics",
]
TRADE_ROUTES = [
    ("POST", "/api/orders", {"symbol": "BTC/USDT", "side": "buy", "type": "market", "quantity": "0.001"}),
    ("DELETE", "/api/orders/atbapi-pa-1", None),
    ("POST", "/api/alerts/drawdown_pct/silence", {"minutes": 5}),
    ("POST", "/api/backtests", {"strategy": "sma_cross"}),
]


def _assert_error(response: object, status: int, words: str) -> None:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert set(body) == {"error", "detail"}, body
    assert words in body["error"], body
    assert "Traceback" not in response.text  # type: ignore[attr-defined]


@pytest.mark.parametrize("url", READ_ROUTES)
def test_every_read_route_refuses_a_request_without_token(harness: Harness, url: str) -> None:
    response = harness.client.get(url)
    _assert_error(response, 401, "missing API token")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(("method", "url", "body"), TRADE_ROUTES)
def test_trade_routes_refuse_no_token_and_read_tokens(harness: Harness, method: str, url: str, body: object) -> None:
    _assert_error(harness.client.request(method, url, json=body), 401, "missing API token")
    response = harness.client.request(method, url, json=body, headers=harness.headers("read"))
    _assert_error(response, 403, "needs a trade token")
    assert harness.state.node.router.submitted == 0  # type: ignore[union-attr]


def test_bad_tokens_and_malformed_headers_are_401(harness: Harness) -> None:
    for header in (
        "Bearer atb_not-a-real-token",
        "Bearer " + harness.tokens["read"] + "x",
        "Bearer " + harness.tokens["read"][:-1],
        "Bearer nonsense",
        "Bearer " + "a" * 5000,
    ):
        _assert_error(harness.client.get("/api/status", headers={"Authorization": header}), 401, "invalid or revoked")
    for header in ("Basic dXNlcjpwYXNz", "Bearer", "Bearer   ", harness.tokens["read"]):
        _assert_error(harness.client.get("/api/status", headers={"Authorization": header}), 401, "must be 'Bearer")
    # a token in the query string is for the websocket only
    response = harness.client.get("/api/status", params={"token": harness.tokens["read"]})
    _assert_error(response, 401, "missing API token")


def test_read_and_trade_tokens_both_read(harness: Harness) -> None:
    for scope in ("read", "trade"):
        assert harness.get("/api/status", scope).status_code == 200


def test_revoked_token_is_refused_at_once(harness: Harness) -> None:
    assert harness.get("/api/status", "trade").status_code == 200
    name = next(t.name for t in list_tokens(harness.state.sessions) if t.scope == "trade")
    assert harness.on_loop(revoke_token, harness.state.sessions, name) == 1
    _assert_error(harness.get("/api/status", "trade"), 401, "invalid or revoked")
    assert harness.get("/api/status", "read").status_code == 200


def test_open_paths_need_no_token(harness: Harness) -> None:
    live = harness.client.get("/health/live")
    assert live.status_code == 200 and live.json()["ok"] is True
    for path in ("/", "/static/dashboard.js", "/static/results.js", "/static/dashboard.css", "/static/plotly.min.js"):
        assert harness.client.get(path).status_code == 200, path
    _assert_error(harness.client.get("/static/../state.py"), 404, "")
    _assert_error(harness.client.get("/static/secrets.txt"), 404, "no static file")


def test_tokens_are_stored_only_as_hashes_and_last_use_is_recorded(harness: Harness) -> None:
    token = harness.tokens["read"]
    assert harness.get("/api/status").status_code == 200
    harness.wait_for(
        lambda: any(t.last_used_ns for t in list_tokens(harness.state.sessions) if t.scope == "read"),
        what="the monitor to record the token's use",
    )
    with session_scope(harness.state.sessions) as session:
        rows = session.scalars(select(ApiTokenRow)).all()
        stored = [(r.token_hash, r.scope) for r in rows]
    assert (hashlib.sha256(token.encode()).hexdigest(), "read") in stored
    assert all(token not in h for h, _ in stored)
    assert token.startswith("atb_") and len(token) >= 40


def test_token_names_are_unique_among_active_tokens(make_harness: Callable[..., Harness]) -> None:
    h = make_harness(with_node=False)
    create_token(h.state.sessions, "read", "grafana")
    with pytest.raises(Exception, match="exists"):
        create_token(h.state.sessions, "trade", "grafana")
    with pytest.raises(Exception, match="--scope must be read or trade"):
        create_token(h.state.sessions, "admin")
    revoke_token(h.state.sessions, "grafana")
    token, info = create_token(h.state.sessions, "trade", "grafana")
    assert info.scope == "trade" and verify_token(h.state.sessions, token) == info


def test_websocket_refuses_missing_bad_and_revoked_tokens(harness: Harness) -> None:
    for url in ("/api/ws", "/api/ws?token=atb_wrong"):
        with harness.client.websocket_connect(url) as ws:
            message = ws.receive_json()
            assert message["type"] == "error" and "token" in message["error"]
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_json()
            assert closed.value.code == 4401


# ------------------------------------------------------------------------------------------- the CLI


def _atb(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "atb.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=120,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "200"},
    )  # fmt: skip


def test_token_cli_prints_the_token_last_and_it_authenticates(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'atb.db'}"
    created = _atb("token", "create", "--scope", "trade", "--name", "ops", "--db", db, cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip().splitlines()[-1]
    assert token.startswith("atb_") and " " not in token
    assert "trade token 'ops'" in created.stdout
    default = _atb("token", "create", cwd=tmp_path)  # default database in the working folder, read scope
    assert default.returncode == 0 and (tmp_path / "atb.db").is_file()
    listed = _atb("token", "list", "--db", db, cwd=tmp_path)
    assert "ops" in listed.stdout and "trade" in listed.stdout and token not in listed.stdout

    from fastapi.testclient import TestClient

    from atb.api.app import create_app
    from atb.api.state import ApiState
    from atb.store import make_engine

    engine = make_engine(db)
    try:
        with TestClient(create_app(ApiState(engine, results_dir=tmp_path / "r"))) as client:
            auth = {"Authorization": f"Bearer {token}"}
            assert client.get("/api/status", headers=auth).status_code == 200
            revoked = _atb("token", "revoke", "ops", "--db", db, cwd=tmp_path)
            assert revoked.returncode == 0, revoked.stderr
            assert client.get("/api/status", headers=auth).status_code == 401
    finally:
        engine.dispose()
    again = _atb("token", "revoke", "ops", "--db", db, cwd=tmp_path)
    assert again.returncode == 2 and again.stderr.startswith("error: no active token named 'ops'")
    bad = _atb("token", "create", "--scope", "admin", "--db", db, cwd=tmp_path)
    assert bad.returncode == 2 and "--scope must be read or trade" in bad.stderr and "Traceback" not in bad.stderr
