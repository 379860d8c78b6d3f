"""Live node speed: the whole order path per bar, on a paper venue, with the state database.

    python benchmarks/bench_node.py [N] [--warmup W] [--db URL]

Plays N bundled BTC/USDT 5-minute bars through `LiveNode` (growing series, indicator refresh,
venue sync, risk engine, every order and fill committed to SQLite) on `PaperExchange`, as fast as
the node takes them, and prints bars/s and orders/s, plus the per-bar time of the first and last
1,000 bars (it must stay flat as history grows). Live bars arrive seconds apart; this measures the
headroom. Not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import AsyncIterator, Mapping
from decimal import Decimal
from pathlib import Path

from sqlalchemy.orm import sessionmaker

from atb.data.sample import load_sample
from atb.engine.market import instrument_for
from atb.node.live import LiveNode, NodeSettings
from atb.node.live_feed import LiveBar
from atb.node.paper_exchange import PaperExchange
from atb.node.persistence import NodeStore
from atb.store import OrderRepository, RunRepository, make_engine, session_scope, upgrade
from atb.strategy.builtin.sma_cross import SmaCross


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("bars", nargs="?", type=int, default=20_000)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--db", default=None, help="database URL (default: a temporary SQLite file)")
    args = parser.parse_args()
    bars = load_sample("BTC_USDT_5m").bars
    n = min(args.bars, len(bars) - args.warmup)
    inst = instrument_for(bars, symbol="BTC/USDT")
    ms = (bars.ts // 1_000_000).tolist()
    rows = list(zip(ms, *(c.tolist() for c in (bars.open, bars.high, bars.low, bars.close, bars.volume)), strict=True))
    now = [ms[args.warmup] * 1_000_000]
    stamps: list[float] = []

    class History:
        async def ohlcv(
            self, symbol: str, timeframe: str, since: int | None = None, limit: int | None = None
        ) -> list[tuple[int, float, float, float, float, float]]:
            return rows[: args.warmup][-(limit or args.warmup) :]

    def feed(since_ms: int | None) -> AsyncIterator[Mapping[str, LiveBar]]:
        async def bars_after() -> AsyncIterator[Mapping[str, LiveBar]]:
            for row in rows[args.warmup : args.warmup + n]:
                now[0] = (row[0] + 300_000) * 1_000_000
                stamps.append(time.perf_counter())
                yield {"BTC/USDT": LiveBar("BTC/USDT", *row)}

        return bars_after()

    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{Path(tmp) / 'bench.db'}"
        engine = make_engine(url)
        upgrade(engine)
        sessions = sessionmaker(engine, expire_on_commit=False)
        with session_scope(sessions) as session:
            run_id = RunRepository.start(session, mode="paper", strategy="sma_cross")
        store = NodeStore(sessions, run_id, OrderRepository({inst.id: inst}), actor="bench")
        exchange = PaperExchange({"BTC/USDT": inst}, "10000", data=History(), clock_ms=lambda: now[0] // 1_000_000)
        settings = NodeSettings(("BTC/USDT",), "5m", Decimal("10000"), warmup_bars=args.warmup, sync_seconds=3600)
        node = LiveNode(SmaCross(fast=10, slow=20), exchange, store, feed, settings, clock_ns=lambda: now[0])
        started = time.perf_counter()
        summary = asyncio.run(node.run())
        total = time.perf_counter() - started
        engine.dispose()
    first = (stamps[1000] - stamps[0]) / 1000 if len(stamps) > 1000 else float("nan")
    last = (stamps[-1] - stamps[-1001]) / 1000 if len(stamps) > 1000 else float("nan")
    print(f"live node on paper venue, {summary.bars:,} bars after {args.warmup} warm-up, {summary.orders:,} orders")
    print(f"  whole run      {summary.bars / total:>10,.0f} bars/s   {summary.orders / total:>8,.0f} orders/s")
    print(f"  per bar        first 1,000: {first * 1e6:,.0f} µs   last 1,000: {last * 1e6:,.0f} µs")


if __name__ == "__main__":
    main()
