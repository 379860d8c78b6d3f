"""The paper node in replay gives the backtest's orders and fills, bar for bar (ARCHITECTURE.md parity).

Both sides drive the same `Backtest` wiring: one through `run()` (its own tight loop), the other
through the asyncio node and the stepping API. Any drift between `_loop` and `step`, or a bar
the node skips or repeats, shows up here as a different order, fill or equity row.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from atb.data.bars import Bars
from atb.data.loader import bars_from_arrays, load_ohlcv
from atb.data.sample import sample_path
from atb.domain import OrderType
from atb.domain.enums import OrderStatus
from atb.engine.backtest import Backtest, StrategyError
from atb.engine.execution import ExecutionConfig, FillTiming
from atb.engine.results import BacktestResult
from atb.errors import UserInputError
from atb.node import PaperNode, ReplayFeed
from atb.strategy.base import Strategy
from atb.strategy.builtin.donchian_breakout import DonchianBreakout
from atb.strategy.builtin.rsi_reversion import RsiReversion
from atb.strategy.builtin.sma_cross import SmaCross

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = sample_path("BTC_USDT_2h")


def btc_bars(n: int = 4000) -> Bars:
    return load_ohlcv(SAMPLE).bars.slice(0, n)


def random_walk(n: int = 3000, seed: int = 7) -> Bars:
    rng = np.random.default_rng(seed)
    close = np.round(100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n))), 2)
    open_ = np.concatenate([[close[0]], close[:-1]])
    spread = np.round(np.abs(rng.normal(0.0, 0.006, n)) * close, 2)
    high = np.maximum(open_, close) + spread
    low = np.minimum(open_, close) - spread
    ts = np.int64(1_600_000_000_000_000_000) + np.arange(n, dtype=np.int64) * 3_600_000_000_000
    return bars_from_arrays(ts, open_, high, low, close, rng.uniform(1, 100, n), symbol="RW/USD")


CASES: list[tuple[str, type[Strategy], dict[str, Any]]] = [
    ("sma_long", SmaCross, {}),
    ("sma_short", SmaCross, {"short": True}),
    ("rsi", RsiReversion, {}),
    ("rsi_short", RsiReversion, {"short": True}),
    ("donchian", DonchianBreakout, {}),
    ("donchian_short", DonchianBreakout, {"short": True, "atr_mult": 1.5}),
]
DATA = {"btc": btc_bars, "walk": random_walk}


def wire(cls: type[Strategy], params: dict[str, Any], bars: Bars, **kw: Any) -> Backtest:
    return Backtest(cls(**params), bars, engine="event", **kw)


def paper(backtest: Backtest, bars: Bars | int, **node_kw: Any) -> BacktestResult:
    return asyncio.run(PaperNode(backtest, ReplayFeed(bars, yield_every=7), **node_kw).run())


def assert_same(a: BacktestResult, b: BacktestResult) -> None:
    da, db = a.to_dict(), b.to_dict()
    for key in ("orders", "trades", "equity", "stats"):
        assert da[key] == db[key], key
    assert a.fills == b.fills
    assert [(o.client_order_id, o.status, o.filled_lots, o.ts_last) for o in a.orders] == [
        (o.client_order_id, o.status, o.filled_lots, o.ts_last) for o in b.orders
    ]
    meta_a = {k: v for k, v in da["meta"].items() if k not in ("mode", "stopped_early")}
    meta_b = {k: v for k, v in db["meta"].items() if k not in ("mode", "stopped_early")}
    assert meta_a == meta_b


@pytest.mark.parametrize("data", sorted(DATA))
@pytest.mark.parametrize(("name", "cls", "params"), CASES, ids=[c[0] for c in CASES])
def test_paper_replay_gives_the_backtests_orders_and_fills(
    data: str, name: str, cls: type[Strategy], params: dict[str, Any]
) -> None:
    bars = DATA[data]()
    expected = wire(cls, params, bars).run()
    got = paper(wire(cls, params, bars), bars)
    assert len(expected.fills) >= 10, "a parity test over a run that barely trades proves little"
    if cls is DonchianBreakout:
        stops = [o for o in expected.orders if o.order_type is OrderType.STOP_MARKET]
        assert any(o.status is OrderStatus.FILLED for o in stops) and any(
            o.status is OrderStatus.CANCELED for o in stops
        )
    assert_same(expected, got)
    assert got.meta["mode"] == "paper" and got.meta["stopped_early"] is False
    assert "mode" not in expected.meta


def test_parity_with_fills_at_the_close() -> None:
    """`fill=close` goes through the venue's close queue, the other branch of the per-bar work."""
    bars = btc_bars(3000)
    config = ExecutionConfig(fill=FillTiming.CLOSE)
    expected = wire(SmaCross, {"short": True}, bars, execution=config).run()
    got = paper(wire(SmaCross, {"short": True}, bars, execution=ExecutionConfig(fill=FillTiming.CLOSE)), bars)
    assert len(expected.fills) >= 10
    assert_same(expected, got)


def test_paced_replay_gives_the_same_result() -> None:
    bars = random_walk(300)
    expected = wire(SmaCross, {"fast": 3, "slow": 8}, bars).run()
    feed = ReplayFeed(bars, bars_per_second=20_000)
    got = asyncio.run(PaperNode(wire(SmaCross, {"fast": 3, "slow": 8}, bars), feed).run())
    assert len(expected.fills) >= 10
    assert_same(expected, got)


# --- stopping -------------------------------------------------------------------------------------
def stop_bar_with_open_orders(bars: Bars) -> int:
    """A bar count K after which Donchian holds a resting stop (found by truncated backtests)."""
    for k in range(1500, len(bars), 11):
        engine = wire(DonchianBreakout, {}, bars.slice(0, k))
        engine.run()
        if engine.venue.open_orders():
            return k
    raise AssertionError("no bar with an open order")


async def run_until(node: PaperNode, k: int, stop: Any) -> BacktestResult:
    async def stopper() -> None:
        while node.bars_played < k:
            await asyncio.sleep(0)
        stop()

    task = asyncio.create_task(stopper())
    result = await node.run()
    await task
    return result


def test_stop_request_gives_the_partial_result_with_open_orders_cancelled() -> None:
    bars = btc_bars()
    k = stop_bar_with_open_orders(bars)
    truncated = wire(DonchianBreakout, {}, bars.slice(0, k))
    expected = truncated.run()
    still_open = {o.client_order_id for o in truncated.venue.open_orders()}
    node = PaperNode(wire(DonchianBreakout, {}, bars), ReplayFeed(bars, yield_every=1))
    got = asyncio.run(run_until(node, k, node.request_stop))
    assert got.meta["stopped_early"] is True and got.meta["mode"] == "paper"
    assert len(got.ts) == k == node.bars_played
    assert got.fills == expected.fills
    rows_expected, rows_got = expected.to_dict()["orders"], got.to_dict()["orders"]
    assert len(rows_got) == len(rows_expected)
    for want, have in zip(rows_expected, rows_got, strict=True):
        if want["id"] in still_open:
            assert (have["status"], have["reason"]) == (OrderStatus.CANCELED, "paper node stopped")
            assert {**have, "status": want["status"], "reason": want["reason"]} == want
        else:
            assert have == want
    assert got.to_dict()["equity"] == expected.to_dict()["equity"]
    assert not [o for o in got.orders if o.is_open]
    assert gc.isenabled()


def test_stop_can_leave_open_orders_alone() -> None:
    bars = btc_bars()
    k = stop_bar_with_open_orders(bars)
    expected = wire(DonchianBreakout, {}, bars.slice(0, k)).run()
    node = PaperNode(wire(DonchianBreakout, {}, bars), ReplayFeed(bars, yield_every=1), on_stop_orders="leave")
    got = asyncio.run(run_until(node, k, node.request_stop))
    assert got.meta["stopped_early"] is True
    assert_same(expected, got)
    assert [o for o in got.orders if o.is_open]


@pytest.mark.skipif(not hasattr(signal, "SIGINT") or os.name != "posix", reason="POSIX signals")
def test_a_real_sigint_stops_the_node_gracefully_and_the_handler_is_restored() -> None:
    bars = btc_bars()
    before = signal.getsignal(signal.SIGINT)
    node = PaperNode(wire(DonchianBreakout, {}, bars), ReplayFeed(bars, yield_every=1))
    got = asyncio.run(run_until(node, 2000, lambda: os.kill(os.getpid(), signal.SIGINT)))
    assert got.meta["stopped_early"] is True
    assert 2000 <= len(got.ts) < 2100
    assert not [o for o in got.orders if o.is_open]
    assert signal.getsignal(signal.SIGINT) is before


class Boom(Strategy):
    def on_bar(self) -> None:
        if self.ctx.cursor.i == 50:  # type: ignore[attr-defined]
            raise ZeroDivisionError("bad maths")


def test_strategy_errors_name_the_bar_as_in_the_backtest() -> None:
    bars = random_walk(200)
    with pytest.raises(StrategyError) as in_backtest:
        Backtest(Boom(), bars, engine="event").run()
    with pytest.raises(StrategyError) as in_paper:
        paper(Backtest(Boom(), bars, engine="event"), bars)
    assert "ZeroDivisionError: bad maths at bar 50" in str(in_paper.value)
    assert str(in_paper.value) == str(in_backtest.value)
    assert gc.isenabled()


def test_signals_engine_is_refused_by_the_node() -> None:
    bars = random_walk(200)
    with pytest.raises(UserInputError, match="every bar"):
        paper(Backtest(SmaCross(), bars, engine="signals"), bars)


# --- the command ----------------------------------------------------------------------------------
def atb(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "atb.cli", *args],
        capture_output=True,
        text=True,
        timeout=180,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
        cwd=ROOT,
    )


def test_cli_paper_replay_writes_the_backtests_orders() -> None:
    args = ("--symbol", "BTC/USDT", "--strategy", "donchian_breakout", "-p", "short=true", "--json", "-", "-q")
    paper_proc = atb("paper", "--replay", str(SAMPLE), *args)
    backtest_proc = atb("backtest", "--data", str(SAMPLE), "--engine", "event", *args)
    assert paper_proc.returncode == 0, paper_proc.stderr
    assert backtest_proc.returncode == 0, backtest_proc.stderr
    got, expected = orjson.loads(paper_proc.stdout), orjson.loads(backtest_proc.stdout)
    assert len(expected["orders"]) > 100
    for key in ("orders", "trades", "equity", "stats", "positions", "portfolio"):
        assert got[key] == expected[key], key
    assert got["meta"]["mode"] == "paper" and got["meta"]["stopped_early"] is False


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--replay", "/nonexistent/bars.csv"), "bars.csv"),
        (("--replay", str(SAMPLE), "-p", "fast=abc"), "fast"),
        (("--replay", str(SAMPLE), "--fill", "sometime"), "--fill"),
        (("--replay", str(SAMPLE), "--strategy", "no_such_strategy"), "no_such_strategy"),
        (("--replay", str(SAMPLE), "--cash", "lots"), "cash"),
    ],
)
def test_cli_paper_bad_input_is_one_line_and_exit_2(args: tuple[str, ...], message: str) -> None:
    proc = atb("paper", *args, "-q")
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert message in proc.stderr
    assert proc.stderr.strip().startswith("error:")


def test_cli_paper_requires_a_replay_for_now() -> None:
    proc = atb("paper", "-q")
    assert proc.returncode == 2
    assert "--replay" in proc.stderr
    assert "Traceback" not in proc.stderr
