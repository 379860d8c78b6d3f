"""The columnar signal kernel against the two object paths, on random signals, data and settings.

`Backtest(engine="auto")` runs `TargetSignals` through `signal_kernel` (no
domain objects per order). Here the same decisions also run bar by bar
(`on_bar` calling `hold`) and through the object signal runner, and
everything must agree: the result JSON byte for byte, the account to the last
unit, and the domain objects the kernel rebuilds on request (orders with every
event, fills) must equal the ones the venue built.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import numpy as np
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atb.data.bars import Bars
from atb.data.sample import load_sample
from atb.domain import AccountMode, Instrument, Order
from atb.engine.backtest import Backtest
from atb.engine.execution import ExecutionConfig, FillTiming, FixedBps
from atb.engine.results import BacktestResult
from atb.strategy.base import Strategy
from atb.strategy.builtin.sma_cross import SmaCross
from atb.strategy.signals import TargetSignals

from .helpers import instrument, make_bars, random_walk_bars


class Scripted(Strategy):
    """Holds `targets[k]` from the close of bar `bars[k]`: as `TargetSignals` and, bar by bar, in `on_bar`."""

    name = "scripted"  # the result's meta names the strategy: the same for both classes

    def __init__(self, bars: list[int], targets: list[int], fraction: str) -> None:
        super().__init__()
        self.plan = dict(zip(bars, targets, strict=True))
        self.sig = (np.array(bars, dtype=np.int64), np.array(targets, dtype=np.int8))
        self.fraction = Decimal(fraction)

    def target_signals(self) -> TargetSignals:
        return TargetSignals(self.sig[0], self.sig[1], self.fraction, warmup_bars=0)

    def on_bar(self) -> None:
        target = self.plan.get(self.ctx.cursor.i)
        if target is not None:
            self.hold(target, fraction=self.fraction)


class ScriptedObserved(Scripted):
    """The same, but watching its fills: the kernel never calls `on_fill`, so the object runner takes it."""

    def target_signals(self) -> TargetSignals:
        return super().target_signals()

    def on_fill(self, fill: Any) -> None:
        self.seen = getattr(self, "seen", 0) + 1


def _json(result: BacktestResult) -> bytes:
    payload = result.to_dict()
    payload["meta"].pop("engine")
    return orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY)


def _order_state(order: Order) -> tuple[Any, ...]:
    return (
        order.client_order_id, order.side, order.order_type, order.lots, order.notional_units, order.equity_fraction,
        order.reduce_only, order.tag, order.ts_init, order.ts_last, order.status, order.reason, order.filled_lots,
        order.filled_notional_ticks_lots, order.venue_order_id, order.trade_ids, order.events,
    )  # fmt: skip


def _ledger(bt: Backtest) -> tuple[Any, ...]:
    account = bt.account
    positions = [
        (iid, p.lots, p.cost_units, p.realised_units, p.fees_units, p.opened_ts, p.ts_last)
        for iid, p in account.positions.items()
    ]
    return account.cash_units, account.fees_units, account.realised_units, positions


def _three_ways(bars: Bars, plan: tuple[list[int], list[int], str], **kwargs: Any) -> None:
    runs = {}
    for name, cls, engine in (
        ("event", Scripted, "event"),
        ("kernel", Scripted, "signals"),
        ("objects", ScriptedObserved, "signals"),
    ):
        bt = Backtest(cls(*plan), bars, engine=engine, **kwargs)
        result = bt.run()
        runs[name] = (bt, result)
    assert runs["kernel"][0]._kernel is not None
    assert runs["objects"][0]._kernel is None
    event_json = _json(runs["event"][1])
    assert _json(runs["kernel"][1]) == event_json
    assert _json(runs["objects"][1]) == event_json
    reference_bt, reference = runs["objects"]
    kernel_bt, kernel = runs["kernel"]
    assert _ledger(kernel_bt) == _ledger(reference_bt) == _ledger(runs["event"][0])
    assert [_order_state(o) for o in kernel.orders] == [_order_state(o) for o in reference.orders]
    assert kernel.fills == reference.fills
    assert kernel_bt.fill_bars == reference_bt.fill_bars
    assert kernel.trades == reference.trades


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Bars, tuple[list[int], list[int], str], dict[str, Any]]:
    n = draw(st.integers(min_value=2, max_value=120))
    bars = random_walk_bars(n, seed=draw(st.integers(0, 10_000)), start_price=draw(st.sampled_from([0.5, 20.0, 900.0])))
    picked = sorted(draw(st.sets(st.integers(0, n + 3), max_size=n + 4)))  # some past the end: ignored
    targets = [draw(st.sampled_from([-1, 0, 1])) for _ in picked]
    fraction = draw(st.sampled_from(["1", "0.5", "0.999", "0.01", "2", "3.5"]))
    mode = draw(st.sampled_from([AccountMode.MARGIN, AccountMode.SPOT]))
    leverage = 1 if mode is AccountMode.SPOT else draw(st.sampled_from([1, 2, 3]))
    slippage = draw(st.sampled_from([None, FixedBps(0.0), FixedBps(5.0), FixedBps(33.3)]))
    fill = draw(st.sampled_from([FillTiming.NEXT_OPEN, FillTiming.CLOSE]))
    fee = draw(st.sampled_from(["0", "0.001", "0.00075", "-0.0001"]))
    inst: Instrument = instrument(
        bars.symbol,
        fee=fee,
        lot=draw(st.sampled_from(["0.001", "1", "0.00000001"])),
        min_quantity=draw(st.sampled_from(["0", "0.5", "3"])),
        min_notional=draw(st.sampled_from(["0", "5", "50"])),
    )
    cash = draw(st.sampled_from(["10000", "60", "5.02", "0.5"]))
    kwargs = {
        "instruments": {bars.symbol: inst},
        "cash": cash,
        "mode": mode,
        "leverage": leverage,
        "execution": ExecutionConfig(fill=fill, slippage=slippage),
        "equity_points": draw(st.sampled_from([0, 7, 10_000])),
    }
    return bars, (picked, targets, fraction), kwargs


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_kernel_equals_bar_loop_and_object_runner_on_random_scenarios(
    scenario: tuple[Bars, tuple[list[int], list[int], str], dict[str, Any]],
) -> None:
    bars, plan, kwargs = scenario
    _three_ways(bars, plan, **kwargs)


def test_kernel_rejections_cancels_and_unfilled_orders_match() -> None:
    """Hand-picked: repeated targets, a flip, orders on the last bar (left working), tiny equity, spot shorts."""
    bars = random_walk_bars(40, seed=5)
    n = len(bars)
    plan = ([0, 1, 2, 5, 6, 9, 14, 20, n - 1], [1, 1, -1, 0, -1, 1, 0, -1, 1], "1")
    for kwargs in (
        {},
        {"mode": AccountMode.SPOT},
        {"cash": "0.5", "instruments": {bars.symbol: instrument(bars.symbol, min_notional="5")}},
        {"execution": ExecutionConfig(fill=FillTiming.CLOSE, slippage=FixedBps(12.5))},
        {"leverage": 2},
    ):
        _three_ways(bars, plan, **kwargs)


def test_kernel_flips_through_a_rejected_close_and_refuses_a_close_below_the_minimum() -> None:
    """Long 4.8 at 10.00; at 8.00 the close (38.40 < 40 minimum notional) is rejected, the short entry of
    5.0 fills against the long and leaves a 0.2 short, and the next close (0.2 < 0.3 minimum) is refused
    on arrival."""
    bars = make_bars([(10, 10, 10, 10)] * 2 + [(8, 8, 8, 8)] * 6)
    inst = instrument(lot="0.1", fee="0", min_quantity="0.3", min_notional="40")
    plan = ([0, 2, 4], [1, -1, 0], "0.8")
    _three_ways(bars, plan, instruments={bars.symbol: inst}, cash="60")
    result = Backtest(Scripted(*plan), bars, instruments={bars.symbol: inst}, cash="60").run()
    assert [(o["status"], o["reason"], o["filled_quantity"]) for o in result.to_dict()["orders"]] == [
        ("filled", "", "4.8"),
        ("rejected", "notional below minimum 40 USD", "0.0"),
        ("filled", "", "5.0"),
        ("rejected", "quantity below minimum 0.3 X", "0.0"),
    ]
    assert result.account.positions[inst.id].lots == -2


def test_kernel_after_a_short_squeeze_refuses_the_entry_for_lack_of_equity() -> None:
    """Short 10 at 10.00 with 100 cash; the close at 25.00 leaves -50: the long entry has no budget."""
    bars = make_bars([(10, 10, 10, 10)] * 2 + [(25, 25, 25, 25)] * 4)
    inst = instrument(lot="1", fee="0")
    plan = ([0, 2, 3], [-1, 1, 0], "1")
    _three_ways(bars, plan, instruments={bars.symbol: inst}, cash="100")
    result = Backtest(Scripted(*plan), bars, instruments={bars.symbol: inst}, cash="100").run()
    assert [o["reason"] for o in result.to_dict()["orders"]] == ["", "", "equity too small for the minimum order size"]
    assert result.account.cash_units == -50 * 10**8


def test_kernel_on_the_bundled_btc_data_matches_both_object_paths() -> None:
    bars = load_sample("BTC_USDT_2h").bars
    signals = SmaCross(fast=10, slow=30, short=True)
    bt = Backtest(signals, bars)
    bt.strategy.bind(bt.ctx)
    sig = bt.strategy.target_signals()
    plan = (sig.bars.tolist(), sig.targets.tolist(), "1")
    _three_ways(bars, plan)
    _three_ways(bars, plan, fee="0", execution=ExecutionConfig(fill=FillTiming.CLOSE))


def test_sma_cross_takes_the_kernel_and_keeps_its_objects_lazy() -> None:
    bars = load_sample("BTC_USDT_2h").bars.slice(0, 5000)
    bt = Backtest(SmaCross(), bars)
    result = bt.run()
    assert result.meta["engine"] == "signals"
    assert bt._kernel is not None
    assert "_domain" not in vars(result.book)  # nothing built yet
    orders = result.orders
    assert len(orders) == result.stats["orders"] > 0
    assert result.orders is orders and bt.orders is orders  # built once, shared
    assert all(o.is_closed for o in orders[:-2])  # only a signal on the last bar leaves orders working
