"""The signal path must give exactly what the bar loop gives, order by order.

`sma_cross` states its decisions as `TargetSignals`; `Backtest(engine="auto")`
then skips the per-bar `on_bar` calls. Every configuration below runs both
ways and compares the whole result JSON (orders, fills, trades, equity,
stats) — only `meta.engine` may differ.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import orjson
import pytest

from atb.data.sample import load_sample
from atb.domain import AccountMode
from atb.engine.backtest import Backtest
from atb.engine.execution import ExecutionConfig, FillTiming, FixedBps, SquareRootImpact
from atb.errors import UserInputError
from atb.strategy.builtin.sma_cross import SmaCross
from atb.strategy.signals import cross_targets

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from synthetic import random_walk_bars


def _both(bars, params, **kwargs):  # type: ignore[no-untyped-def]
    out = []
    for engine in ("event", "signals"):
        engine_run = Backtest(SmaCross(**params), bars, engine=engine, **kwargs)
        result = engine_run.run().to_dict()
        assert result["meta"].pop("engine") == engine
        out.append(orjson.dumps(result))
    return out


@pytest.mark.parametrize(
    ("params", "kwargs"),
    [
        ({}, {}),
        ({"short": True}, {}),
        ({"fast": 5, "slow": 30, "fraction": 0.5}, {}),
        ({"short": True}, {"execution": ExecutionConfig(fill=FillTiming.CLOSE)}),
        ({}, {"execution": ExecutionConfig(slippage=FixedBps(7.0))}),
        ({"short": True}, {"mode": AccountMode.SPOT}),  # every short entry is rejected, the same way
        ({"short": True}, {"leverage": 3, "cash": "2500"}),
        ({}, {"fee": "0"}),
    ],
)
def test_signal_path_equals_bar_loop_on_real_data(params: dict, kwargs: dict) -> None:  # type: ignore[type-arg]
    bars = load_sample("BTC_USDT_2h").bars
    event, signals = _both(bars, params, **kwargs)
    assert event == signals


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_signal_path_equals_bar_loop_on_random_walks(seed: int) -> None:
    bars = random_walk_bars(20_000, seed=seed)
    event, signals = _both(bars, {"fast": 3, "slow": 7, "short": seed % 2 == 0}, fee="0.00075")
    assert event == signals


def test_tiny_equity_rejections_match() -> None:
    bars = load_sample("BTC_USDT_2h").bars.slice(0, 3000)
    event, signals = _both(bars, {"short": True}, cash="5.02")  # at the 5 USDT minimum: rejections
    assert event == signals
    assert b'"rejected"' in event


def test_auto_uses_the_signal_path_only_when_equivalent() -> None:
    bars = load_sample("BTC_USDT_2h").bars.slice(0, 2000)
    assert Backtest(SmaCross(), bars).run().meta["engine"] == "signals"
    latency = Backtest(SmaCross(), bars, execution=ExecutionConfig(latency_bars=1)).run()
    assert latency.meta["engine"] == "event"
    capped = Backtest(SmaCross(), bars, execution=ExecutionConfig(slippage=SquareRootImpact())).run()
    assert capped.meta["engine"] == "event"
    with pytest.raises(UserInputError, match="latency"):
        Backtest(SmaCross(), bars, engine="signals", execution=ExecutionConfig(latency_bars=2)).run()


def test_cross_targets_reads_ties_like_on_bar() -> None:
    fast = np.array([np.nan, 1.0, 2.0, 2.0, 3.0, 1.0, 1.0, 0.5, 2.0])
    slow = np.array([np.nan, 2.0, 2.0, 2.0, 2.0, 1.0, 2.0, 1.0, 1.0])
    # sign:          nan   -    0    0    +    0    -    -    +
    bars, targets = cross_targets(fast, slow, short=False)
    assert bars.tolist() == [4, 6, 8]
    assert targets.tolist() == [1, 0, 1]
    _, short_targets = cross_targets(fast, slow, short=True)
    assert short_targets.tolist() == [1, -1, 1]


def test_a_subclass_that_changes_on_bar_runs_bar_by_bar() -> None:
    class Tweaked(SmaCross):
        def on_bar(self) -> None:
            if self.data.close.now > 0:
                super().on_bar()

    bars = load_sample("BTC_USDT_2h").bars.slice(0, 1000)
    result = Backtest(Tweaked(), bars).run()
    assert result.meta["engine"] == "event"
    with pytest.raises(UserInputError, match=r"Tweaked\.on_bar overrides"):
        Backtest(Tweaked(), bars, engine="signals").run()
