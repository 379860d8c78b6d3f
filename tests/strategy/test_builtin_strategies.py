"""Every built-in strategy on bundled real data: runs, trades, and never looks ahead.

The look-ahead check replays each strategy on a truncated copy of the data:
every order decided before the cut must be identical (time, side, type,
size, prices) to the full run's, which fails as soon as any decision reads
a value from a later bar.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from atb.data.bars import Bars
from atb.data.sample import load_sample
from atb.engine.backtest import Backtest
from atb.engine.results import BacktestResult
from atb.strategy.registry import builtin_names, load_builtin

COINS = ("BTC", "ETH", "BNB", "SOL", "XRP")


def _data(name: str) -> list[Bars]:
    if name == "momentum_rotation":
        return [load_sample(f"multi_1h/{c}_USDT_1h").bars for c in COINS]
    return [load_sample("BTC_USDT_2h").bars.slice(0, 6000)]


def _run(name: str, data: list[Bars], **params: Any) -> BacktestResult:
    strategy = load_builtin(name)(**params)
    return Backtest(strategy, data).run()


def _decisions(result: BacktestResult, before_ts: int) -> list[tuple[Any, ...]]:
    return [
        (o.ts_init, o.instrument_id, o.side, o.order_type, o.lots, o.equity_fraction, o.limit_ticks, o.stop_ticks)
        for o in result.orders
        if o.ts_init < before_ts
    ]


@pytest.mark.parametrize("name", builtin_names())
def test_builtin_runs_and_trades_on_real_data(name: str) -> None:
    result = _run(name, _data(name))
    stats = result.stats
    assert stats["trades"] >= 5, stats["trades"]
    assert stats["orders"] >= stats["trades"]
    # the exact ledger: initial cash + Σ trade P&L (open trade marked) = final equity
    total = sum(t.pnl_units for t in result.trades)
    assert result.account.initial_units + total == result.equity_exact[len(result.ts) - 1]
    assert Decimal(stats["final_equity_exact"]) > 0


@pytest.mark.parametrize("name", builtin_names())
def test_builtin_never_looks_ahead(name: str) -> None:
    data = _data(name)
    full = _run(name, data)
    cut = len(data[0]) * 2 // 3
    truncated = _run(name, [bars.slice(0, cut) for bars in data])
    # decisions made before the last bar of the truncated run must be the same
    before = int(data[0].ts[cut - 1])
    assert _decisions(truncated, before) == _decisions(full, before)
    assert len(_decisions(full, before)) > 0


def test_sma_cross_short_reverses_positions() -> None:
    result = _run("sma_cross", _data("sma_cross"), short=True)
    sides = {t.direction for t in result.trades}
    assert sides == {1, -1}
    # stop-and-reverse: after the first entry the strategy is always in the market
    first_entry = result.trades[0].entry_bar
    exposed_after = result.stats["exposure_pct"]
    assert first_entry < 100 and exposed_after > 95


def test_donchian_uses_resting_stops() -> None:
    result = _run("donchian_breakout", _data("donchian_breakout"))
    stops = [o for o in result.orders if o.order_type.value == "stop_market"]
    assert stops and any(o.status.value == "filled" for o in stops)
    assert all(o.reduce_only for o in stops)


def test_rotation_holds_at_most_top_n() -> None:
    data = _data("momentum_rotation")
    strategy = load_builtin("momentum_rotation")(top=2)
    engine = Backtest(strategy, data)
    result = engine.run()
    # replay the fills: never more than `top` instruments held at once
    held: dict[str, int] = {}
    for fill in result.fills:
        held[fill.instrument_id] = held.get(fill.instrument_id, 0) + fill.signed_lots
        assert sum(1 for lots in held.values() if lots) <= 2
    assert len({t.instrument.id for t in result.trades}) >= 3
