"""ATB: algorithmic trading platform.

Write a strategy once; run it in backtest, optimisation, paper and live.
"""

__version__ = "0.1.0"
