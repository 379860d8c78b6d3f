"""The live node against the fake Binance venue through the real ccxt client."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("ccxt")
pytest.importorskip("sqlalchemy")

from atb.node.config import NodeConfig  # noqa: E402
from atb.services.live import run_node  # noqa: E402
from atb.store import OrderRepository, make_engine, session_scope  # noqa: E402
from atb.store.models import FillRow, OrderRow  # noqa: E402

from .live_helpers import API_KEY, SECRET, node_config_dict  # noqa: E402


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


def test_live_node_trades_and_books_every_fill(fake_venue: Any, tmp_path: Path, keys: None) -> None:
    fake_venue.live_klines("BTCUSDT", 400)
    config = NodeConfig.model_validate(node_config_dict(fake_venue, tmp_path / "n.db", max_bars=60))
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
