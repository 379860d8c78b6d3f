"""`atb paper --config`, `atb live` and `atb kill` from the shell: set-up errors, confirmation, a paper run."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("ccxt")
pytest.importorskip("sqlalchemy")

from atb.store import make_engine, session_scope
from atb.store.models import OrderRow, RunRow

from .live_helpers import API_KEY, SECRET, node_config_dict, toml_text

CLI = [sys.executable, "-c", "from atb.cli import main; main()"]


def _atb(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=os.environ | (env or {}),
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c["node"].update(symbolz=["BTC/USDT"]), "unknown setting 'symbolz' (did you mean 'symbols'?)"),
        (lambda c: c["node"].update(name="bad name!"), "node.name: must be 1-32 letters"),
        (lambda c: c["node"].update(cash="-5"), "node.cash"),
        (lambda c: c["risk"].update(max_order_notionl=5), "did you mean 'max_order_notional'"),
        (lambda c: c["node"].update(symbols=["BTCUSDT"]), "must look like BASE/QUOTE"),
    ],
)
def test_bad_config_is_one_clear_line(tmp_path: Path, change: Any, message: str) -> None:
    config: dict[str, Any] = node_config_dict(_NoVenue(), tmp_path / "n.db")
    config["risk"] = {}
    change(config)
    path = tmp_path / "bad.toml"
    path.write_text(toml_text(config))
    proc = _atb("live", "--config", str(path))
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1


def test_live_without_keys_and_kill_without_confirmation_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "node.toml"
    path.write_text(toml_text(node_config_dict(_NoVenue(), tmp_path / "n.db")))
    env = {"ATB_API_KEY": "", "ATB_API_SECRET": ""}
    proc = _atb("live", "--config", str(path), env=env)
    assert proc.returncode == 2 and "$ATB_API_KEY and $ATB_API_SECRET" in proc.stderr
    proc = _atb("kill", "--config", str(path))
    assert proc.returncode == 2 and "needs confirmation: pass --yes" in proc.stderr
    assert not (tmp_path / "n.db").exists()  # nothing was touched


def test_missing_config_file(tmp_path: Path) -> None:
    proc = _atb("paper", "--config", str(tmp_path / "nope.toml"))
    assert proc.returncode == 2 and "config file not found" in proc.stderr


def test_paper_on_live_data_trades_through_the_node(fake_venue: Any, tmp_path: Path) -> None:
    """Market data from the venue's public API, orders on the simulated venue, everything in the database."""
    fake_venue.live_klines("BTCUSDT", 400)
    db = tmp_path / "paper.db"
    path = tmp_path / "paper.toml"
    raw = node_config_dict(fake_venue, db, name="paper1", max_bars=40)
    raw["paper"] = {"fill": "next_open", "commission": "0.001"}
    path.write_text(toml_text(raw))
    env = os.environ | {"ATB_API_KEY": "", "ATB_API_SECRET": ""}  # paper needs no keys
    node = subprocess.Popen([*CLI, "paper", "--config", str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)  # fmt: skip
    try:
        for _ in range(600):
            if node.poll() is not None:
                break
            fake_venue.release_bars("BTCUSDT")
            time.sleep(0.05)
        out, err = node.communicate(timeout=30)
    finally:
        if node.poll() is None:
            node.kill()
    assert node.returncode == 0, err
    assert "run paper1 stopped: 40 bar(s)" in out
    engine = make_engine(f"sqlite:///{db}")
    with session_scope(engine) as session:
        assert session.get(RunRow, "paper1").mode == "paper"
        orders = session.query(OrderRow).all()
    engine.dispose()
    assert orders and all(o.status in ("filled", "canceled", "denied") for o in orders)
    assert fake_venue.calls("order", "POST") == []  # the real venue never saw an order


class _NoVenue:
    """Stands in for the fake venue where a config needs URLs but nothing will connect."""

    base_url = "http://127.0.0.1:9"


def test_atb_kill_from_the_shell_then_reset(fake_venue: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The kill switch end to end: `atb kill --yes` cancels and flattens, `atb live` then refuses, `--reset` clears."""
    import asyncio

    from atb.node.config import NodeConfig
    from atb.services.live import run_node

    from .test_live_node import HOLDER

    strategy = tmp_path / "holder.py"
    strategy.write_text(HOLDER)
    fake_venue.live_klines("BTCUSDT", 400)
    raw = node_config_dict(fake_venue, tmp_path / "n.db", name="k", max_bars=6, strategy=str(strategy), params={})
    raw["node"]["on_stop"] = "leave"
    path = tmp_path / "node.toml"
    path.write_text(toml_text(raw))
    keys = {"ATB_API_KEY": API_KEY, "ATB_API_SECRET": SECRET}
    for key, value in keys.items():
        monkeypatch.setenv(key, value)

    async def trade() -> Any:
        task = asyncio.create_task(run_node(NodeConfig.model_validate(raw), "live"))
        while not task.done():
            fake_venue.release_bars("BTCUSDT")
            await asyncio.sleep(0.05)
        return task.result()

    asyncio.run(trade())
    proc = _atb("kill", "--config", str(path), "--yes", "--reason", "test", env=keys)
    assert proc.returncode == 0, proc.stderr
    assert "1 order(s) cancelled, 1 flatten order(s) sent, 0 still open, positions left: none" in proc.stdout
    proc = _atb("live", "--config", str(path), env=keys)
    assert proc.returncode == 2 and "halted by the kill switch" in proc.stderr and "Traceback" not in proc.stderr
    proc = _atb("kill", "--config", str(path), "--reset", "--yes", env=keys)
    assert proc.returncode == 0 and "may trade again" in proc.stdout
