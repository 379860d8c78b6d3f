"""Everything a strategy author imports: `from atb.strategy import Strategy, Param, indicators`."""

from atb.strategy import indicators
from atb.strategy.base import Strategy
from atb.strategy.params import Param, ParameterError
from atb.strategy.series import LookAheadError, Series
from atb.strategy.views import PortfolioView, PositionView

__all__ = [
    "LookAheadError",
    "Param",
    "ParameterError",
    "PortfolioView",
    "PositionView",
    "Series",
    "Strategy",
    "indicators",
]
