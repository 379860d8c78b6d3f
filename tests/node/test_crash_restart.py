"""A real `atb live` process killed with SIGKILL while its order is in flight, then restarted.

The fake venue accepts (and fills) the market order but holds its answer, so the node dies
between "sent" and "acknowledged" — the case that causes duplicate orders in naive bots. The
restarted node must find the order by its client order id, book its fill, and never send it again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("ccxt")
pytest.importorskip("sqlalchemy")

from atb.store import AuditLog, make_engine, session_scope
from atb.store.models import FillRow, OrderRow, RunRow
from fakevenue import faults

from .live_helpers import API_KEY, SECRET, node_config_dict, toml_text

CLI = [sys.executable, "-c", "from atb.cli import main; main()"]


def _start(config: Path, log: Path, *args: str) -> subprocess.Popen[bytes]:
    env = os.environ | {"ATB_API_KEY": API_KEY, "ATB_API_SECRET": SECRET}
    with log.open("ab") as sink:
        return subprocess.Popen([*CLI, *args, "--config", str(config)], stdout=sink, stderr=sink, env=env)


def _rows(db: str) -> tuple[list[OrderRow], list[FillRow], str, list[str]]:
    engine = make_engine(db)
    try:
        with session_scope(engine) as session:
            orders = list(session.query(OrderRow).order_by(OrderRow.id).all())
            fills = list(session.query(FillRow).order_by(FillRow.id).all())
            status = session.get(RunRow, "crash").status
            actions = [e.action for e in AuditLog.entries(session, limit=1000)]
            return orders, fills, status, actions
    finally:
        engine.dispose()


def _run_to_exit(venue: Any, config: Path, log: Path) -> None:
    """Run `atb live` while closing bars until it stops by itself (its `max_bars`); it must exit 0."""
    node = _start(config, log, "live")
    try:
        _release_until(venue, lambda: node.poll() is not None)
        assert node.wait(20) == 0, log.read_text()
    finally:
        if node.poll() is None:
            node.kill()


def _release_until(venue: Any, done: Any, *, pause: float = 0.05, limit: int = 600) -> None:
    for _ in range(limit):
        if done():
            return
        venue.release_bars("BTCUSDT")
        time.sleep(pause)
    raise AssertionError("the condition was not reached while releasing bars")


def test_kill_9_mid_order_then_restart_reconciles(fake_venue: Any, tmp_path: Path, node_db: str) -> None:
    db, log = node_db, tmp_path / "node.log"
    fake_venue.live_klines("BTCUSDT", 400)
    config = tmp_path / "live.toml"
    config.write_text(toml_text(node_config_dict(fake_venue, db, name="crash")))
    # the first order is accepted and filled by the venue, but its answer never comes in time
    fake_venue.faults.next("order", faults.delay(60, process=True), method="POST")

    node = _start(config, log, "live")
    try:
        _release_until(fake_venue, lambda: bool(fake_venue.calls("order", "POST")) or node.poll() is not None)
        assert node.poll() is None, log.read_text()
        time.sleep(0.3)  # the request is now held by the venue: the node awaits its answer
        node.send_signal(signal.SIGKILL)
        assert node.wait(10) == -signal.SIGKILL
    finally:
        if node.poll() is None:
            node.kill()

    orders, fills, status, _ = _rows(db)
    assert status == "running"  # never shut down
    (first,) = orders
    assert (first.status, first.venue_order_id) == ("submitted", None)  # intent and "sent" stored, no answer
    assert fills == []
    (at_venue,) = fake_venue.orders_with(first.client_order_id)
    assert at_venue.status == "FILLED"  # what the node did not live to see

    config.write_text(toml_text(node_config_dict(fake_venue, db, name="crash", max_bars=5)))
    _run_to_exit(fake_venue, config, log)

    orders, fills, status, actions = _rows(db)
    output = log.read_text()
    assert status == "stopped"
    assert "reconciled: 1 open order(s) checked, 1 fill(s) recovered" in output, output
    assert "reconcile_found_order" in actions and "run_resumed" in actions
    restored = next(o for o in orders if o.client_order_id == first.client_order_id)
    assert restored.status == "filled" and restored.venue_order_id == str(at_venue.order_id)
    assert [f.trade_id for f in fills if f.order_id == restored.id] == [str(t.id) for t in at_venue.trades]
    # no order was ever sent twice, and the restarted node's ids continue after the first run's
    for order in orders:
        assert len(fake_venue.orders_with(order.client_order_id)) <= 1
    cids = [o.client_order_id for o in orders]
    assert len(cids) == len(set(cids))
    assert len(fake_venue.calls("order", "POST")) == len([o for o in orders if o.status != "denied"])


RESTING = """
from atb.strategy.base import Strategy


class OneRestingBuy(Strategy):
    def on_start(self) -> None:
        self.placed = False

    def on_bar(self) -> None:
        if not self.placed:
            self.buy(quantity="0.002", limit=round(self.data.close[0] * 0.9, 2))
            self.placed = True
"""


@pytest.mark.parametrize("on_stop", ["cancel", "leave"])
def test_sigterm_stops_gracefully_cancelling_or_leaving_open_orders(
    fake_venue: Any, tmp_path: Path, on_stop: str
) -> None:
    strategy = tmp_path / "resting.py"
    strategy.write_text(RESTING)
    db, log = f"sqlite:///{tmp_path / 'node.db'}", tmp_path / "node.log"
    fake_venue.live_klines("BTCUSDT", 400)
    raw = node_config_dict(fake_venue, db, name="crash", strategy=str(strategy), params={})
    raw["node"]["on_stop"] = on_stop
    config = tmp_path / "live.toml"
    config.write_text(toml_text(raw))
    node = _start(config, log, "live")
    try:
        _release_until(fake_venue, lambda: bool(fake_venue.book.orders) or node.poll() is not None)
        node.send_signal(signal.SIGTERM)
        assert node.wait(20) == 0, log.read_text()
    finally:
        if node.poll() is None:
            node.kill()
    orders, _, status, _ = _rows(db)
    (order,) = orders
    at_venue = fake_venue.order(order.client_order_id)
    assert status == "stopped"
    if on_stop == "cancel":
        assert (order.status, at_venue.status) == ("canceled", "CANCELED")
    else:
        assert (order.status, at_venue.status) == ("accepted", "NEW")


def test_an_intent_never_sent_is_closed_at_restart_and_not_sent(fake_venue: Any, tmp_path: Path) -> None:
    """A crash between recording an order and marking it submitted: the restart denies it, sends nothing."""
    from atb.domain import ClientOrderId, Instrument, InstrumentId, Order, OrderSide, OrderType
    from atb.node.config import NodeConfig
    from atb.services.live import open_store

    db = f"sqlite:///{tmp_path / 'node.db'}"
    fake_venue.live_klines("BTCUSDT", 400)
    raw = node_config_dict(fake_venue, db, name="crash", max_bars=3)
    opened = open_store(NodeConfig.model_validate(raw), "live")
    btc = Instrument.spot("BTC/USDT", tick="0.01", lot="0.00001")
    opened.learn({"BTC/USDT": btc})
    intent = Order(ClientOrderId("atbcrash-1"), InstrumentId("BTC/USDT"), OrderSide.BUY, OrderType.MARKET, lots=100)
    opened.store.record_intent(intent)
    opened.close()

    config, log = tmp_path / "live.toml", tmp_path / "node.log"
    config.write_text(toml_text(raw))
    _run_to_exit(fake_venue, config, log)
    orders, _, _, actions = _rows(db)
    first = next(o for o in orders if o.client_order_id == "atbcrash-1")
    assert first.status == "denied" and first.reason.startswith("never sent")
    assert fake_venue.orders_with("atbcrash-1") == []
    assert "reconcile_not_placed" in actions
    assert "atbcrash-1" not in [o.client_order_id for o in orders[1:]]  # its id is not reused either
