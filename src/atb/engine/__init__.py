"""The backtest kernel: simulated venue, execution models, the bar loop and its results."""

from atb.engine.backtest import Backtest, StrategyError
from atb.engine.execution import ExecutionConfig, FillTiming, FixedBps, SquareRootImpact
from atb.engine.results import BacktestResult

__all__ = [
    "Backtest",
    "BacktestResult",
    "ExecutionConfig",
    "FillTiming",
    "FixedBps",
    "SquareRootImpact",
    "StrategyError",
]
