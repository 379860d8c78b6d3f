"""`atb serve` as a user starts it: a real process, a fresh folder, the embedded database, real HTTP.

With `--config`, the paper node reads its market data from the fake Binance venue on 127.0.0.1
(through the unmodified ccxt client, as it would read Binance) and trades on the simulated venue.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

CLI = [sys.executable, "-c", "from atb.cli import main; main()"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _atb(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=cwd, timeout=120, env=_env())


def _env() -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "COLUMNS": "200", "HOME": os.environ.get("HOME", "/tmp")}


class Served:
    def __init__(self, cwd: Path, *args: str) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = cwd / "serve.log"
        with self.log.open("wb") as sink:
            self.proc = subprocess.Popen(
                [*CLI, "serve", "--port", str(self.port), *args], cwd=cwd, stdout=sink, stderr=sink, env=_env()
            )

    def wait_live(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()
            try:
                if httpx.get(self.url + "/health/live", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError("atb serve did not answer:\n" + self.log.read_text())

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise

    def output(self) -> str:
        return self.log.read_text()


@pytest.fixture
def served() -> Iterator[list[Served]]:
    started: list[Served] = []
    yield started
    for s in started:
        if s.proc.poll() is None:
            s.proc.kill()
            s.proc.wait(10)


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_serve_on_a_fresh_folder_with_the_embedded_database(tmp_path: Path, served: list[Served]) -> None:
    (tmp_path / "serve.toml").write_text(
        '[alerts]\nrules = [{ name = "always", metric = "cpu_percent", comparison = ">=", threshold = 0, '
        'severity = "INFO" }]\n\n[monitor]\ninterval_seconds = 0.5\nfast_interval_seconds = 0.25\n'
    )
    token = _atb("token", "create", "--scope", "trade", cwd=tmp_path).stdout.strip().splitlines()[-1]
    server = Served(tmp_path, "--config", "serve.toml")
    served.append(server)
    server.wait_live()
    assert (tmp_path / "atb.db").is_file()
    assert httpx.get(server.url + "/api/status").status_code == 401
    status = httpx.get(server.url + "/api/status", headers=_auth(token)).json()
    assert status["node"] is None and status["mode"] is None
    assert httpx.get(server.url + "/health/ready", headers=_auth(token)).status_code == 200
    assert "text/html" in httpx.get(server.url + "/").headers["content-type"]
    deadline = time.monotonic() + 20
    while not httpx.get(server.url + "/api/alerts", headers=_auth(token)).json()["active"]:
        assert time.monotonic() < deadline, server.output()
        time.sleep(0.2)
    refused = httpx.post(server.url + "/api/orders", headers=_auth(token),
                         json={"symbol": "BTC/USDT", "side": "buy", "quantity": "0.01"})  # fmt: skip
    assert refused.status_code == 409 and refused.json()["error"].startswith("no trading node in this process")
    assert server.stop() == 0, server.output()
    assert "Traceback" not in server.output()
    assert f"serving the dashboard on http://127.0.0.1:{server.port}/" in server.output()


def test_serve_refuses_bad_settings_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "typo.toml").write_text("[alert]\nrules = []\n")
    typo = _atb("serve", "--config", "typo.toml", cwd=tmp_path)
    assert typo.returncode == 2
    assert typo.stderr.strip() == (
        "error: typo.toml: unknown section 'alert' (did you mean 'alerts'?); sections: node, venue, risk, paper, "
        "alerts, monitor"
    )
    (tmp_path / "rule.toml").write_text('[alerts]\nrules = [{ name = "x", metric = "m", comparison = "~", '
                                        'threshold = 1, severity = "INFO" }]\n')  # fmt: skip
    rule = _atb("serve", "--config", "rule.toml", cwd=tmp_path)
    assert rule.returncode == 2 and rule.stderr.startswith("error: rule.toml: alerts.rules.0.comparison:")
    live = _atb("serve", "--mode", "live", cwd=tmp_path)
    assert live.returncode == 2 and "--mode live needs a --config with a node section" in live.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        taken = _atb("serve", "--port", str(port), cwd=tmp_path)
    assert taken.returncode == 2 and taken.stderr.startswith(f"error: cannot listen on 127.0.0.1:{port}")
    for result in (typo, rule, live, taken):
        assert "Traceback" not in result.stderr


def _node_toml(venue: Any, db: Path) -> str:
    import ccxt

    from fakevenue.client import local_urls

    urls = local_urls(venue, ccxt.binance().urls["api"])
    url_items = ", ".join(f'"{k}" = "{v}"' for k, v in urls.items())
    return f"""
[node]
name = "served"
strategy = "sma_cross"
params = {{ fast = 3, slow = 8 }}
symbols = ["BTC/USDT"]
timeframe = "5m"
cash = "1000"
database = "sqlite:///{db}"
warmup_bars = 30
sync_seconds = 0.05

[venue]
exchange = "binance"
urls = {{ {url_items} }}
options = {{ "warnOnFetchOpenOrdersWithoutSymbol" = false }}
timeout_ms = 2000
rate_limit_ms = 1
poll_seconds = 0.02

[risk]
max_order_notional = 2000

[monitor]
interval_seconds = 0.5
"""


def test_serve_runs_a_paper_node_next_to_the_api(fake_venue: Any, tmp_path: Path, served: list[Served]) -> None:
    pytest.importorskip("ccxt")
    fake_venue.live_klines("BTCUSDT", 400)
    db = tmp_path / "node.db"
    (tmp_path / "node.toml").write_text(_node_toml(fake_venue, db))
    token = _atb("token", "create", "--scope", "trade", "--db", f"sqlite:///{db}", cwd=tmp_path)
    token_text = token.stdout.strip().splitlines()[-1]
    server = Served(tmp_path, "--config", "node.toml", "--mode", "paper")
    served.append(server)
    server.wait_live()
    auth = _auth(token_text)
    deadline = time.monotonic() + 60
    while True:
        node = httpx.get(server.url + "/api/status", headers=auth).json()["node"]
        if node["state"] == "running" and node["fills"] >= 1:
            break
        assert node["state"] in ("starting", "running") and time.monotonic() < deadline, (node, server.output())
        fake_venue.release_bars("BTCUSDT")
        time.sleep(0.05)
    assert httpx.get(server.url + "/health/ready", headers=auth).status_code == 200
    assert httpx.get(server.url + "/api/positions", headers=auth).json()["source"] == "node"
    last = httpx.get(server.url + "/api/bars", headers=auth).json()["close"][-1]
    order = httpx.post(server.url + "/api/orders", headers=auth, json={
        "symbol": "BTC/USDT", "side": "buy", "type": "limit", "quantity": "0.001", "limit_price": f"{last * 0.5:.2f}",
    }).json()  # fmt: skip
    assert order["status"] == "accepted", order
    cancelled = httpx.delete(server.url + f"/api/orders/{order['client_order_id']}", headers=auth).json()
    assert cancelled["status"] == "canceled"
    assert server.stop() == 0, server.output()
    from atb.store import make_engine, session_scope
    from atb.store.models import RunRow

    engine = make_engine(f"sqlite:///{db}")
    try:
        with session_scope(engine) as session:
            assert session.get(RunRow, "served").status == "stopped"  # a graceful stop, recorded
    finally:
        engine.dispose()
    assert "Traceback" not in server.output()


def test_serve_says_in_one_line_why_the_node_cannot_start(tmp_path: Path) -> None:
    with socket.socket() as closed:  # bound, never listening: connections are refused at once
        closed.bind(("127.0.0.1", 0))
        base = f"http://127.0.0.1:{closed.getsockname()[1]}/api/v3"
        (tmp_path / "dead.toml").write_text(
            f'[node]\nname = "dead"\nsymbols = ["BTC/USDT"]\ncash = "1000"\ndatabase = "sqlite:///{tmp_path}/d.db"\n'
            f'[venue]\nurls = {{ public = "{base}", private = "{base}" }}\ntimeout_ms = 1000\n'
        )
        result = _atb("serve", "--config", "dead.toml", "--port", "0", "--quiet", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("error: cannot start the trading node: ExchangeNotAvailable: binance GET")
    assert "Traceback" not in result.stderr
