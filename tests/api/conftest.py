"""A real API over a real paper node: PaperExchange, the bundled BTC/USDT 5m bars, a scripted feed.

No network: the node's warm-up bars come from a stub OHLCV source over the bundled sample, and
its live bars from `ScriptedFeed`, which yields `initial` bars at once and then one more each time
a test calls `Harness.advance()` — so a test decides when the next bar closes (and with it when a
resting order can fill). The app runs in the test client's event loop with the node, exactly as
`atb serve` runs them in uvicorn's.
"""

from __future__ import annotations

import asyncio
import time
import warnings
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("sqlalchemy")
# Starlette asks for `httpx2` in its test client; httpx is what the dev extra installs and works.
warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient` is deprecated")

from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import Engine  # noqa: E402
from sqlalchemy.orm import sessionmaker  # noqa: E402

from atb.api.app import create_app  # noqa: E402
from atb.api.state import ApiState  # noqa: E402
from atb.api.tokens import create_token  # noqa: E402
from atb.data.bars import Bars  # noqa: E402
from atb.data.sample import load_sample  # noqa: E402
from atb.domain.ids import InstrumentId  # noqa: E402
from atb.engine.market import instrument_for  # noqa: E402
from atb.monitor.alerts import AlertsConfig  # noqa: E402
from atb.monitor.notify import Notifier  # noqa: E402
from atb.node.live import LiveNode, NodeSettings  # noqa: E402
from atb.node.live_feed import LiveBar  # noqa: E402
from atb.node.paper_exchange import PaperExchange  # noqa: E402
from atb.node.persistence import NodeStore  # noqa: E402
from atb.risk import RiskConfig  # noqa: E402
from atb.store import OrderRepository, RunRepository, make_engine, session_scope, upgrade  # noqa: E402
from atb.strategy.base import Strategy  # noqa: E402
from atb.strategy.registry import resolve  # noqa: E402

SYMBOL = "BTC/USDT"
WARMUP = 200
RUN_ID = "api-paper"
TIMEFRAME_MS = 300_000


class Idle(Strategy):
    """Places no orders: every order in these tests comes through the API."""

    name = "idle"


_BARS: Bars | None = None


def sample_bars() -> Bars:
    global _BARS
    if _BARS is None:
        _BARS = load_sample("BTC_USDT_5m").bars
    return _BARS


def _row(bars: Bars, i: int) -> tuple[int, float, float, float, float, float]:
    return (
        int(bars.ts[i]) // 1_000_000,
        float(bars.open[i]),
        float(bars.high[i]),
        float(bars.low[i]),
        float(bars.close[i]),
        float(bars.volume[i]),
    )


class SampleSource:
    """The venue's OHLCV history as the node's warm-up reads it: the first WARMUP bars of the sample."""

    def __init__(self, bars: Bars) -> None:
        self.rows = [_row(bars, i) for i in range(WARMUP)]

    async def ohlcv(
        self, symbol: str, timeframe: str, since: int | None = None, limit: int | None = None
    ) -> list[tuple[int, float, float, float, float, float]]:
        return self.rows[-limit:] if limit else list(self.rows)


class ScriptedFeed:
    """Live bars after the warm-up: `initial` at once, then one per `release()` (see the module docstring).

    It is also the run's clock (`now_ms`: the close of the newest bar), for the node and the paper
    venue alike: fills are stamped on the bars' 2021 timeline, so the candlestick chart shows them
    on their bars, and the node reads them back from the venue with the same clock.
    """

    def __init__(self, bars: Bars, initial: int) -> None:
        self.bars = bars
        self.initial = initial
        self.next = WARMUP
        self.now_ms = _row(bars, WARMUP - 1)[0] + TIMEFRAME_MS
        self._more: asyncio.Queue[int] = asyncio.Queue()

    def clock_ns(self) -> int:
        return self.now_ms * 1_000_000

    def release(self, count: int = 1) -> None:
        """Let `count` more bars close (call on the node's loop)."""
        self._more.put_nowait(count)

    def _bar(self) -> dict[str, LiveBar]:
        ts, o, h, low, c, v = _row(self.bars, self.next)
        self.next += 1
        self.now_ms = ts + TIMEFRAME_MS
        return {SYMBOL: LiveBar(SYMBOL, ts, o, h, low, c, v)}

    def __call__(self, since_ms: int | None) -> AsyncIterator[Mapping[str, LiveBar]]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Mapping[str, LiveBar]]:
        for _ in range(self.initial):
            yield self._bar()
        while True:
            for _ in range(await self._more.get()):
                yield self._bar()


@dataclass
class Harness:
    client: TestClient
    state: ApiState
    node: LiveNode
    feed: ScriptedFeed
    engine: Engine
    tokens: dict[str, str] = field(default_factory=dict)

    def headers(self, scope: str = "read") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[scope]}"}

    def get(self, url: str, scope: str = "read", **kwargs: Any) -> Any:
        return self.client.get(url, headers=self.headers(scope), **kwargs)

    def post(self, url: str, body: Any, scope: str = "trade") -> Any:
        return self.client.post(url, json=body, headers=self.headers(scope))

    def delete(self, url: str, scope: str = "trade") -> Any:
        return self.client.delete(url, headers=self.headers(scope))

    def on_loop(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run `fn` (sync or async) on the app's event loop, where the node lives."""
        portal = self.client.portal
        assert portal is not None
        if asyncio.iscoroutinefunction(fn):
            return portal.call(fn, *args)
        return portal.call(_sync, fn, *args)

    def advance(self, count: int = 1, timeout: float = 10.0) -> None:
        """Close `count` more bars and wait until the node has processed them (and the monitor saw them)."""
        target = self.node.summary.bars + count
        self.on_loop(self.feed.release, count)
        deadline = time.monotonic() + timeout
        while self.node.summary.bars < target:
            assert time.monotonic() < deadline, f"node stuck at bar {self.node.summary.bars}, wanted {target}"
            time.sleep(0.01)
        self.on_loop(asyncio.sleep, 0.05)

    def wait_for(self, check: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while not check():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.02)


async def _sync(fn: Callable[..., Any], *args: Any) -> Any:
    return fn(*args)


def build_paper_node(
    db_url: str, *, strategy: Strategy | None = None, risk: RiskConfig | None = None, initial: int = 30
) -> tuple[LiveNode, ScriptedFeed, Engine]:
    bars = sample_bars()
    inst = instrument_for(bars, symbol=SYMBOL)
    engine = make_engine(db_url)
    upgrade(engine)
    sessions = sessionmaker(engine, expire_on_commit=False)
    with session_scope(sessions) as session:
        RunRepository.start(session, mode="paper", strategy="idle", run_id=RUN_ID)
    store = NodeStore(sessions, RUN_ID, OrderRepository({InstrumentId(SYMBOL): inst}), actor="test")
    feed = ScriptedFeed(bars, initial)
    exchange = PaperExchange({SYMBOL: inst}, "10000", data=SampleSource(bars), clock_ms=lambda: feed.now_ms)
    settings = NodeSettings((SYMBOL,), "5m", Decimal("10000"), warmup_bars=WARMUP, sync_seconds=60)
    node = LiveNode(strategy or Idle(), exchange, store, feed, settings, risk=risk, clock_ns=feed.clock_ns)
    return node, feed, engine


@pytest.fixture
def make_harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Harness]]:
    """Build harnesses (each with its own database and node); all are shut down at the end of the test."""
    opened: list[tuple[TestClient, Engine, Engine]] = []

    def make(
        *,
        with_node: bool = True,
        risk: RiskConfig | None = None,
        strategy: str | None = None,
        alerts: AlertsConfig | None = None,
        notifier: Notifier | None = None,
        initial: int = 30,
        monitor_interval: float = 0.2,
    ) -> Harness:
        folder = tmp_path_factory.mktemp("api")
        db_url = f"sqlite:///{folder / 'atb.db'}"
        node = feed = node_engine = None
        if with_node:
            strat = resolve(strategy)(fast=5, slow=20, fraction=0.5) if strategy else None
            node, feed, node_engine = build_paper_node(db_url, strategy=strat, risk=risk, initial=initial)
        engine = make_engine(db_url)
        upgrade(engine)
        state = ApiState(
            engine,
            node=node,
            mode="paper",
            alerts=alerts,
            notifier=notifier,
            results_dir=Path(folder) / "results",
            monitor_interval=monitor_interval,
            monitor_fast_interval=monitor_interval / 2,
            disk_path=Path(folder),
        )
        # before the node starts: a write from this thread could collide with the node's (see TokenUsage)
        tokens = {scope: create_token(state.sessions, scope)[0] for scope in ("read", "trade")}
        client = TestClient(create_app(state))
        client.__enter__()
        opened.append((client, engine, node_engine or engine))
        harness = Harness(client, state, node, feed, engine, tokens)  # type: ignore[arg-type]
        if node is not None:
            harness.on_loop(state.wait_node_ready, 20.0)
            assert node.ready.is_set(), state.node_error
            harness.wait_for(lambda: node.summary.bars >= initial, what="the initial bars")
        return harness

    yield make
    for client, engine, node_engine in reversed(opened):
        client.__exit__(None, None, None)
        engine.dispose()
        node_engine.dispose()


@pytest.fixture
def harness(make_harness: Callable[..., Harness]) -> Harness:
    return make_harness()
