"""Rolling out-of-sample VaR forecasts and their Kupiec backtest.

The forecast for bar t uses returns before t only:

* historical, normal, cornish_fisher: `var_cvar(returns[t-window:t], level, method)`
  - the same estimator as the single-series function on the trailing window;
* ewma: `var_cvar(returns[:t], level, "ewma")` - the RiskMetrics recursion
  runs over the whole history (it forgets geometrically by itself, 0.94^250
  ~ 2e-7); `window` is only the warm-up, so every method is scored on the
  same bars.

Bars before `window` have no forecast (NaN in `forecast_pct`, the warm-up
convention of `atb.strategy.indicators`) and are not scored. A breach is a
loss strictly larger than the forecast: -r[t] > VaR[t].

The rolling estimators are compiled loops (`_risk_kernels`, numba imported
on first use): a sorted window kept by binary search plus a short element
shift for the empirical quantile (O(log w) compares and on average O(w)
cheap moves per bar), slid power sums with exact refresh for the moments
(about three passes), the plain recursion for EWMA. One million returns with
a 250-bar window take roughly 0.15 s (historical), 0.07 s (normal,
Cornish-Fisher) and 0.015 s (EWMA) once compiled.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from atb.analytics.risk import (
    EWMA_LAMBDA,
    METHODS,
    FloatArray,
    Method,
    as_returns,
    check_lambda,
    check_level,
    cornish_fisher_factors,
    kupiec_pof,
    normal_tail,
)

BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True, eq=False)
class VarBacktest:
    """Result of `backtest_var`.

    `observations` = bars with a forecast (n - window, or 0);
    `expected_breaches` = observations * (1 - level); `breach_rate` =
    breaches / observations; the Kupiec fields come from `kupiec_pof`. The
    rate and Kupiec fields are None without any scored bar. `forecast_pct`
    (VaR forecast per input bar, % loss, NaN in the warm-up) and `breach`
    are aligned with the input returns.
    """

    method: str
    level: float
    window: int
    observations: int
    breaches: int
    expected_breaches: float
    breach_rate: float | None
    kupiec_lr: float | None
    kupiec_p_value: float | None
    forecast_pct: FloatArray
    breach: BoolArray


def rolling_var(r: FloatArray, level: float, method: Method, window: int, ewma_lambda: float) -> FloatArray:
    """VaR forecasts (fractions, positive = loss) for bars window .. n-1; needs len(r) > window."""
    from atb.analytics import _risk_kernels as kern

    if method == "historical":
        return -kern.rolling_quantile(r, window, 1.0 - level)
    z, _ = normal_tail(level)
    if method == "ewma":
        sigma = np.sqrt(kern.ewma_variance_path(r, ewma_lambda)[window - 1 : -1])
        return -z * sigma
    mean, std, skew, exkurt = kern.rolling_moments(r, window)
    if method == "normal":
        return -(mean + z * std)
    h, _ = cornish_fisher_factors(level, skew, exkurt)
    return -(mean + std * h)


def backtest_var(
    returns: npt.ArrayLike,
    level: float = 0.95,
    method: Method = "historical",
    window: int = 250,
    ewma_lambda: float = EWMA_LAMBDA,
) -> VarBacktest:
    """Score causal rolling VaR forecasts against the realised returns (see the module docstring)."""
    level = check_level(level)
    lam = check_lambda(ewma_lambda)
    if method not in METHODS:
        raise ValueError(f"unknown VaR method {method!r}; expected one of {', '.join(METHODS)}")
    window = operator.index(window)
    if window < 2:
        raise ValueError(f"window must be at least 2, got {window}")
    r = as_returns(returns)
    n = len(r)
    forecast = np.full(n, math.nan)
    breach = np.zeros(n, dtype=np.bool_)
    observations = max(n - window, 0)
    if observations:
        var = rolling_var(r, level, method, window, lam)
        forecast[window:] = var * 100.0
        breach[window:] = -r[window:] > var
    breaches = int(np.count_nonzero(breach))
    kupiec = kupiec_pof(breaches, observations, level) if observations else None
    return VarBacktest(
        method=method,
        level=level,
        window=window,
        observations=observations,
        breaches=breaches,
        expected_breaches=observations * (1.0 - level),
        breach_rate=breaches / observations if observations else None,
        kupiec_lr=kupiec.lr_statistic if kupiec else None,
        kupiec_p_value=kupiec.p_value if kupiec else None,
        forecast_pct=forecast,
        breach=breach,
    )
