"""Pre-trade risk: limits, the risk engine, the kill switch and position sizing.

Mode-neutral (backtest, paper, live): the caller builds a `RiskState`
snapshot and asks `RiskEngine.check(order, state)` before sending an order;
a denial becomes the order's `OrderDenied` event via `decision.denied_event`.
"""

from atb.risk.config import RiskConfig
from atb.risk.decision import RiskDecision, RiskReason
from atb.risk.engine import RATE_WINDOW_NS, Clock, RiskEngine
from atb.risk.kill_switch import FlattenOrder, KillSwitch, flatten_orders
from atb.risk.sizing import fixed_fraction, kelly_fraction, volatility_target
from atb.risk.state import EquityWatermarks, RiskState

__all__ = [
    "RATE_WINDOW_NS",
    "Clock",
    "EquityWatermarks",
    "FlattenOrder",
    "KillSwitch",
    "RiskConfig",
    "RiskDecision",
    "RiskEngine",
    "RiskReason",
    "RiskState",
    "fixed_fraction",
    "flatten_orders",
    "kelly_fraction",
    "volatility_target",
]
