"""The live node against the fake Binance venue through the real ccxt client."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("ccxt")
pytest.importorskip("sqlalchemy")

from atb.errors import UserInputError
from atb.node.config import NodeConfig
from atb.services.live import run_node
from atb.store import make_engine, session_scope
from atb.store.models import FillRow, OrderRow
from fakevenue import faults

from .live_helpers import API_KEY, SECRET, node_config_dict


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATB_API_KEY", API_KEY)
    monkeypatch.setenv("ATB_API_SECRET", SECRET)


async def _release(venue: Any, node_task: asyncio.Task[Any], pause: float = 0.05, limit: int = 400) -> None:
    """Close one bar every `pause` seconds until the node stops (it stops after `max_bars` live bars)."""
    for _ in range(limit):
        if node_task.done():
            return
        venue.release_bars("BTCUSDT")
        await asyncio.sleep(pause)


def _run(config: NodeConfig, venue: Any) -> Any:
    async def main() -> Any:
        task = asyncio.create_task(run_node(config, "live"))
        await _release(venue, task)
        return await asyncio.wait_for(task, 30)

    return asyncio.run(main())


def _stored(config: NodeConfig) -> tuple[list[OrderRow], list[FillRow]]:
    engine = make_engine(config.node.database)
    try:
        with session_scope(engine) as session:
            return list(session.query(OrderRow).all()), list(session.query(FillRow).order_by(FillRow.id).all())
    finally:
        engine.dispose()


def test_live_node_trades_and_books_every_fill(fake_venue: Any, node_db: str, keys: None) -> None:
    fake_venue.live_klines("BTCUSDT", 400)
    config = NodeConfig.model_validate(node_config_dict(fake_venue, node_db, max_bars=60))
    summary = _run(config, fake_venue)
    assert summary.bars == 60
    assert summary.fills >= 6, summary
    orders, fills = _stored(config)
    cids = [o.client_order_id for o in orders]
    assert len(cids) == len(set(cids)) == summary.orders
    # each order reached the venue exactly once; each venue trade of ours is booked exactly once
    venue_orders = {cid: fake_venue.orders_with(cid) for cid in cids}
    assert all(len(v) == 1 for v in venue_orders.values()), venue_orders
    venue_trades = {str(t.id): t for v in venue_orders.values() for t in v[0].trades}
    assert sorted(f.trade_id for f in fills) == sorted(venue_trades)
    for f in fills:
        t = venue_trades[f.trade_id]
        assert (f.quantity, f.price) == (t.qty, t.price)
        if t.commission_asset == "BTC":  # a buy: the fee withheld in BTC, stored exactly in BTC lots
            assert f.fee_currency == "BTC" and f.fee >= t.commission and f.fee - t.commission < Decimal("0.00001")
        else:
            assert (f.fee_currency, f.fee) == ("USDT", t.commission)
    # the run's ledger never claims more BTC than the venue holds, and differs only by sub-lot dust
    free, locked = fake_venue.balance("BTC")
    held = sum((f.quantity if f.side == "buy" else -f.quantity) for f in fills) - sum(
        f.fee for f in fills if f.fee_currency == "BTC"
    )
    assert Decimal(0) <= free + locked - held < Decimal("0.00001") * len(fills)
    # cash: what the venue's USDT moved by equals what the run's fills say, to the satoshi of USDT
    usdt_free, usdt_locked = fake_venue.balance("USDT")
    spent = sum((f.quantity * f.price if f.side == "buy" else -(f.quantity * f.price)) for f in fills)
    usdt_fees = sum(f.fee for f in fills if f.fee_currency == "USDT")
    assert usdt_free + usdt_locked == Decimal(100_000) - spent - usdt_fees


FAULTS = {
    "dropped answer after accept": lambda: faults.drop_after(),
    "timeout, processed": lambda: faults.delay(3, process=True),
    "500 -1001, processed": lambda: faults.status(500, process=True),
    "503, not processed": lambda: faults.status(503),
    "429 with Retry-After": lambda: faults.rate_limited(0.2),
    "connection reset before": lambda: faults.reset_before(),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_every_order_fault_is_survived_without_duplicates_or_lost_fills(
    fake_venue: Any, tmp_path: Path, keys: None, fault: str
) -> None:
    """The first order hits the fault; the node must end with one venue order per id and every fill booked."""
    fake_venue.live_klines("BTCUSDT", 400)
    fake_venue.faults.next("order", FAULTS[fault](), method="POST")
    raw = node_config_dict(fake_venue, tmp_path / "n.db", max_bars=25)
    raw["venue"]["timeout_ms"] = 1_000
    config = NodeConfig.model_validate(raw)
    summary = _run(config, fake_venue)
    assert fake_venue.faults.fired, "the fault never fired: no order was sent"
    orders, fills = _stored(config)
    for order in orders:
        assert len(fake_venue.orders_with(order.client_order_id)) <= 1
    venue_trades = {str(t.id) for o in orders for v in fake_venue.orders_with(o.client_order_id) for t in v.trades}
    assert sorted(f.trade_id for f in fills) == sorted(venue_trades)
    assert not [o for o in orders if o.status in ("submitted", "initialized")], "an order was left unresolved"
    assert summary.fills == len(fills)


HOLDER = """
from atb.strategy.base import Strategy


class BuyAndRest(Strategy):
    \"\"\"Buys once, then keeps a buy limit resting far below the market: a position and an open order.\"\"\"

    def on_bar(self) -> None:
        if not self.position:
            if not self.open_orders():
                self.buy(quantity="0.002")
        elif not self.open_orders():
            self.buy(quantity="0.001", limit=round(self.data.close[0] * 0.5, 2))
"""


def test_kill_switch_cancels_flattens_and_halts(fake_venue: Any, tmp_path: Path, node_db: str, keys: None) -> None:
    """`atb kill` on a run holding BTC with a resting order: all cancelled, flat, halted; it then refuses to start."""
    from atb.services.live import kill_run
    from atb.store.models import RunRow

    strategy = tmp_path / "holder.py"
    strategy.write_text(HOLDER)
    fake_venue.live_klines("BTCUSDT", 400)
    raw = node_config_dict(fake_venue, node_db, name="k", max_bars=6, strategy=str(strategy), params={})
    raw["node"]["on_stop"] = "leave"
    config = NodeConfig.model_validate(raw)
    _run(config, fake_venue)
    orders, fills = _stored(config)
    resting = [o for o in orders if o.status == "accepted"]
    assert len(resting) == 1 and resting[0].type == "limit"
    assert fake_venue.order(resting[0].client_order_id).status == "NEW"
    assert [f.side for f in fills] == ["buy"]

    report = asyncio.run(kill_run(config, "test kill"))
    assert report.cancelled == [resting[0].client_order_id]
    assert fake_venue.order(resting[0].client_order_id).status == "CANCELED"
    assert len(report.flatten_orders) == 1 and report.still_open == [] and report.positions_left == {}
    assert report.flatten_orders == [f"atbk-{len(orders) + 1}"]  # the run's own id sequence, continued
    orders, fills = _stored(config)
    assert [f.side for f in fills] == ["buy", "sell"]
    sold, bought = fills[1].quantity, fills[0].quantity
    assert bought - sold == Decimal("0.00001")  # the buy's fee was withheld in BTC: one lot, rounded up
    engine = make_engine(config.node.database)
    with session_scope(engine) as session:
        assert session.get(RunRow, "k").status == "halted"
    engine.dispose()
    with pytest.raises(UserInputError, match="halted by the kill switch"):
        asyncio.run(run_node(config, "live"))


def test_risk_limits_deny_orders_in_the_node_with_their_reason(fake_venue: Any, tmp_path: Path, keys: None) -> None:
    """Every order passes the pre-trade risk engine; a denial is stored with its reason and never sent."""
    fake_venue.live_klines("BTCUSDT", 400)
    raw = node_config_dict(fake_venue, tmp_path / "n.db", max_bars=30)
    raw["risk"] = {"max_order_notional": 50}
    config = NodeConfig.model_validate(raw)
    summary = _run(config, fake_venue)
    orders, fills = _stored(config)
    assert summary.orders == len(orders) >= 1
    assert fills == [] and fake_venue.calls("order", "POST") == []
    for order in orders:
        assert order.status == "denied"
        assert order.reason.startswith("max_order_notional: ")


def test_node_streams_bars_over_the_venue_websocket(fake_venue: Any, tmp_path: Path, keys: None) -> None:
    """`venue.stream = true`: closed bars come over ccxt.pro's websocket (REST only as the fallback)."""
    fake_venue.live_klines("BTCUSDT", 400)
    raw = node_config_dict(fake_venue, tmp_path / "n.db", max_bars=20)
    raw["venue"] |= {"stream": True, "ws_urls": {"spot": fake_venue.stream.url}, "poll_seconds": 30}
    config = NodeConfig.model_validate(raw)
    summary = _run(config, fake_venue)
    assert summary.bars == 20
    assert fake_venue.stream.connects >= 1
    _, fills = _stored(config)
    assert len(fills) == summary.fills


RESTING = """
from atb.strategy.base import Strategy


class OneRestingBuy(Strategy):
    \"\"\"One buy limit below the market, placed once: the test fills it in pieces.\"\"\"

    def on_start(self) -> None:
        self.placed = False

    def on_bar(self) -> None:
        if not self.placed:
            self.buy(quantity="0.003", limit=round(self.data.close[0] * 0.9, 2))
            self.placed = True
"""


def test_partial_fills_of_a_resting_order_are_booked_as_they_happen(
    fake_venue: Any, tmp_path: Path, keys: None
) -> None:
    strategy = tmp_path / "resting.py"
    strategy.write_text(RESTING)
    fake_venue.live_klines("BTCUSDT", 400)
    raw = node_config_dict(fake_venue, tmp_path / "n.db", max_bars=40, strategy=str(strategy), params={})
    raw["node"]["on_stop"] = "leave"
    config = NodeConfig.model_validate(raw)
    seen: list[tuple[int, str]] = []

    async def main() -> Any:
        task = asyncio.create_task(run_node(config, "live"))
        steps = 0
        while not task.done() and steps < 400:
            fake_venue.release_bars("BTCUSDT")
            steps += 1
            (order,) = [o for o in fake_venue.book.orders.values()] or [None]
            if order is not None and order.status in ("NEW", "PARTIALLY_FILLED"):
                filled = order.executed_qty
                if filled == 0 and steps % 5 == 0:
                    fake_venue.fill(order.client_id, "0.001")
                    seen.append((steps, "partial"))
                elif filled == Decimal("0.001") and steps % 5 == 0:
                    fake_venue.fill(order.client_id, "0.002")
                    seen.append((steps, "rest"))
            await asyncio.sleep(0.05)
        return await asyncio.wait_for(task, 30)

    summary = asyncio.run(main())
    assert [kind for _, kind in seen] == ["partial", "rest"]
    orders, fills = _stored(config)
    (order,) = orders
    assert order.status == "filled" and order.filled_quantity == Decimal("0.003")
    assert [f.quantity for f in fills] == [Decimal("0.001"), Decimal("0.002")]
    assert all(f.liquidity == "maker" for f in fills)
    assert summary.fills == 2


def test_market_order_cut_short_by_liquidity_ends_expired_with_its_partial_fill(
    fake_venue: Any, tmp_path: Path, keys: None
) -> None:
    fake_venue.live_klines("BTCUSDT", 400)
    fake_venue.set_liquidity("BTCUSDT", "0.005")  # every market order fills at most 0.005 BTC, the rest EXPIRES
    raw = node_config_dict(fake_venue, tmp_path / "n.db", max_bars=30)
    config = NodeConfig.model_validate(raw)
    _run(config, fake_venue)
    orders, fills = _stored(config)
    buys = [o for o in orders if o.side == "buy"]
    assert buys and all(o.status == "expired" for o in buys)
    for order in buys:
        assert order.filled_quantity == Decimal("0.005")
        assert sum(f.quantity for f in fills if f.order_id == order.id) == Decimal("0.005")
