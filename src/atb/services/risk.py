"""`atb risk`: VaR/CVaR by every method, VaR backtests, portfolio decomposition and liquidity, per data set."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from atb.data.bars import Bars
from atb.data.loader import DataReport, load_ohlcv
from atb.errors import UserInputError

METHODS = ("historical", "normal", "cornish_fisher", "ewma")


@dataclass
class RiskRequest:
    data: list[Path] = field(default_factory=list)
    symbol: str | None = None
    levels: tuple[float, ...] = (0.95, 0.99)
    window: int = 250
    weights: list[float] | None = None
    repair: bool = False


def _simple_returns(close: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    return close[1:] / close[:-1] - 1.0  # type: ignore[no-any-return]


def parse_levels(text: str) -> tuple[float, ...]:
    try:
        levels = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise UserInputError(f"--levels must be numbers like 0.95,0.99, got {text!r}") from None
    if not levels or not all(0.5 < level < 1 for level in levels):
        raise UserInputError(f"--levels must lie between 0.5 and 1 (exclusive), got {text!r}")
    return levels


def _symbol_risk(bars: Bars, request: RiskRequest) -> dict[str, Any]:
    from atb.analytics.liquidity import liquidity_report
    from atb.analytics.risk import risk_table
    from atb.analytics.var_backtest import backtest_var

    returns = _simple_returns(bars.close)
    if len(returns) < 2:
        raise UserInputError(f"{bars.symbol}: at least 3 bars are needed for risk estimates")
    backtests = []
    for method in METHODS:
        result = backtest_var(returns, level=request.levels[0], method=method, window=request.window)  # type: ignore[arg-type]
        backtests.append(
            {
                "method": method,
                "level": request.levels[0],
                "window": request.window,
                "observations": result.observations,
                "breaches": result.breaches,
                "expected_breaches": result.expected_breaches,
                "kupiec_p_value": result.kupiec_p_value,
            }
        )
    return {
        "symbol": bars.symbol,
        "bars": len(bars),
        "horizon": "one bar",
        "var": risk_table(returns, request.levels),
        "var_backtest": backtests,
        "liquidity": liquidity_report(bars),
    }


def _portfolio(series: list[Bars], request: RiskRequest) -> dict[str, Any] | None:
    if len(series) < 2:
        return None
    from atb.analytics.risk import portfolio_var

    first = series[0]
    for bars in series[1:]:
        if len(bars) != len(first) or not np.array_equal(bars.ts, first.ts):
            raise UserInputError("portfolio risk needs data sets with the same timestamps")
    matrix = np.column_stack([_simple_returns(b.close) for b in series])
    n = len(series)
    weights = np.full(n, 1.0 / n) if request.weights is None else np.asarray(request.weights, dtype=float)
    if len(weights) != n:
        raise UserInputError(f"--weights needs {n} numbers, one per data set")
    out: dict[str, Any] = {"symbols": [b.symbol for b in series], "weights": weights.tolist(), "estimates": []}
    for method in ("normal", "historical"):
        for level in request.levels:
            risk = portfolio_var(matrix, weights, level=level, method=method)
            out["correlation"] = risk.correlation.tolist()
            out["estimates"].append(
                {
                    "method": method,
                    "level": level,
                    "var_pct": risk.var_pct,
                    "cvar_pct": risk.cvar_pct,
                    "component_var_pct": dict(zip(out["symbols"], risk.component_var_pct.tolist(), strict=True)),
                }
            )
    return out


def run_risk_request(request: RiskRequest) -> tuple[dict[str, Any], list[DataReport]]:
    from atb.data.sample import sample_path

    files = request.data or [sample_path("BTC_USDT_2h")]
    if request.symbol and len(files) > 1:
        raise UserInputError("--symbol names one data file; with several files each symbol comes from its file name")
    if request.window < 10:
        raise UserInputError("--window must be at least 10 bars")
    reports, series = [], []
    for path in files:
        loaded = load_ohlcv(path, symbol=request.symbol, repair=request.repair)
        reports.append(loaded.report)
        series.append(loaded.bars)
    payload = {
        "levels": list(request.levels),
        "symbols": [_symbol_risk(bars, request) for bars in series],
        "portfolio": _portfolio(series, request),
    }
    return payload, reports
