"""After full runs of the built-in strategies the books balance to the last unit, and runs are repeatable."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
import pytest

from atb.domain import AccountMode
from atb.engine.backtest import Backtest
from atb.engine.execution import ExecutionConfig, FillTiming, FixedBps
from atb.engine.results import BacktestResult
from atb.strategy.base import Strategy
from atb.strategy.builtin.bollinger_reversion import BollingerReversion
from atb.strategy.builtin.donchian_breakout import DonchianBreakout
from atb.strategy.builtin.momentum_rotation import MomentumRotation
from atb.strategy.builtin.rsi_reversion import RsiReversion
from atb.strategy.builtin.sma_cross import SmaCross

from .helpers import Script, instrument, random_walk_bars

N = 400
SINGLE: list[tuple[type[Strategy], dict[str, Any]]] = [
    (SmaCross, {"fast": 5, "slow": 20}),
    (SmaCross, {"fast": 5, "slow": 20, "short": True}),
    (RsiReversion, {"period": 10, "lower": 40.0, "upper": 60.0, "short": True}),
    (BollingerReversion, {"period": 15, "width": 1.5, "short": True, "fraction": 0.7}),
    (DonchianBreakout, {"entry": 15, "exit": 8, "atr_period": 10, "short": True}),
]
EXECUTIONS = {
    "next_open": ExecutionConfig(),
    "close+slip": ExecutionConfig(fill=FillTiming.CLOSE, slippage=FixedBps(7)),
    "latency": ExecutionConfig(latency_bars=1, slippage=FixedBps(3)),
}


def flattening(cls: type[Strategy]) -> type[Strategy]:
    """The same strategy, but four bars before the end it cancels everything, closes, and stops trading."""

    class Flat(cls):  # type: ignore[valid-type,misc]
        def on_bar(self) -> None:
            i, n = len(self.data.close) - 1, len(self.data)
            if i == n - 4:
                self.cancel_all()
                self.close()
            elif i < n - 4:
                super().on_bar()

    return Flat


def decimal_sum(values: list[str]) -> Decimal:
    return sum((Decimal(v) for v in values), Decimal(0))


def check_books(result: BacktestResult, cash: str) -> dict[str, Any]:
    out = result.to_dict()
    trades = out["trades"]
    assert trades, "the run should trade"
    final = Decimal(result.stats["final_equity_exact"])
    # equity = initial cash + Σ net trade pnl (open trades marked at the last close), exactly
    assert final == Decimal(cash) + decimal_sum([t["pnl"] for t in trades])
    # every fee paid belongs to exactly one trade
    account = result.account
    assert decimal_sum([t["fees"] for t in trades]) == Decimal(account.fees_units).scaleb(-8)
    assert Decimal(out["equity"][-1]["equity"]) == final
    assert result.final_equity == final
    return out


SINGLE_IDS = [f"{c.__name__}{'-short' if p.get('short') else ''}" for c, p in SINGLE]


@pytest.mark.parametrize("execution", list(EXECUTIONS), ids=list(EXECUTIONS))
@pytest.mark.parametrize(("cls", "params"), SINGLE, ids=SINGLE_IDS)
@pytest.mark.parametrize("flatten", [False, True], ids=["as-is", "flat-at-end"])
def test_final_equity_is_cash_plus_the_sum_of_trade_pnl(
    cls: type[Strategy], params: dict[str, Any], execution: str, flatten: bool
) -> None:
    bars = random_walk_bars(N, seed=11)
    strategy = (flattening(cls) if flatten else cls)(**params)
    inst = instrument(maker="0.0002", taker="0.00075")
    bt = Backtest(strategy, bars, instruments={"X/USD": inst}, cash="10000", execution=EXECUTIONS[execution])
    result = bt.run()
    out = check_books(result, "10000")
    trades = out["trades"]
    if flatten:
        assert not trades[-1]["open"]
        assert all(p.lots == 0 for p in result.account.positions.values())
        assert Decimal(result.stats["final_equity_exact"]) == Decimal(result.account.cash_units).scaleb(-8)
    # cash + holdings at the last close, from the account itself
    holdings = sum(
        p.lots * int(bt.markets[str(iid)].close[-1]) * p.instrument.notional_factor
        for iid, p in result.account.positions.items()
    )
    assert Decimal(result.account.cash_units + holdings).scaleb(-8) == Decimal(result.stats["final_equity_exact"])


def test_both_endings_are_covered() -> None:
    """The parametrised runs above must include ones that end with an open trade."""
    endings = set()
    for cls, params in SINGLE:
        result = Backtest(cls(**params), random_walk_bars(N, seed=11), cash="10000").run()
        endings.add(result.trades[-1].is_open)
    assert endings == {True, False}


def test_momentum_rotation_books_balance_across_three_instruments() -> None:
    specs = ((1, "A", 50.0), (2, "B", 100.0), (3, "C", 20.0))
    bars = [random_walk_bars(N, seed=s, symbol=f"{c}/USD", start_price=p) for s, c, p in specs]
    insts = {f"{c}/USD": instrument(f"{c}/USD") for c in "ABC"}
    strategy = MomentumRotation(lookback=20, rebalance=10, top=2, min_return=-1.0)
    result = Backtest(strategy, bars, instruments=insts, cash="10000", mode=AccountMode.SPOT).run()
    out = check_books(result, "10000")
    assert {t["symbol"] for t in out["trades"]} == {"A/USD", "B/USD", "C/USD"}


def dump(result: BacktestResult) -> bytes:
    return orjson.dumps(result.to_dict(), option=orjson.OPT_SERIALIZE_NUMPY)


@pytest.mark.parametrize(("cls", "params"), SINGLE[1:2] + SINGLE[4:5], ids=["SmaCross-short", "DonchianBreakout-short"])
def test_same_run_twice_gives_identical_results(cls: type[Strategy], params: dict[str, Any]) -> None:
    def once() -> bytes:
        bars = random_walk_bars(N, seed=5)
        execution = ExecutionConfig(slippage=FixedBps(5))
        return dump(Backtest(cls(**params), bars, cash="10000", execution=execution).run())

    first, second = once(), once()
    assert first == second
    assert b'"trades":[{' in first


def test_scripted_run_with_every_order_type_is_repeatable() -> None:
    plan = {
        3: [lambda s: s.buy(fraction=0.5), lambda s: s.buy(quantity=1, limit=95, tag="bid")],
        6: [lambda s: s.sell(quantity=2, stop=90, reduce_only=True), lambda s: s.sell(quantity=1, limit=120)],
        9: lambda s: s.buy(quantity=1, stop=115, limit=116, tif="gtc"),
        12: lambda s: s.sell(quantity=0.5, tif="ioc", limit=80),
        30: lambda s: s.cancel_all(),
        31: lambda s: s.close(),
    }

    def once() -> bytes:
        bars = random_walk_bars(60, seed=3)
        return dump(Backtest(Script(plan), bars, cash="10000").run())

    assert once() == once()
