"""One-period Value at Risk and Conditional VaR of simple returns.

numpy and the standard library only (`statistics.NormalDist` supplies the
normal quantile and density), so importing this module costs nothing on the
backtest path; the rolling VaR backtest lives in `atb.analytics.var_backtest`.

Conventions shared by every function here:

* Inputs are simple per-period returns (fractions, `r = e[i] / e[i-1] - 1`,
  as produced by `atb.analytics.performance.returns`). NaN or inf in the
  input raises ValueError: a risk number computed around a hole would be
  silently wrong.
* `level` is the confidence (0.95, 0.99); `alpha = 1 - level` is the tail
  probability and `z = Phi^-1(alpha)` the (negative) standard normal quantile.
* VaR and CVaR are **positive percentages of value lost** over one period
  (x100, as `performance.var_cvar_historical`): VaR = -q_alpha(r) * 100 and
  CVaR = -E[r | r <= q_alpha] * 100. A negative number means even the tail
  made money.
* **Undefined values are None, never NaN** (the rule of `performance`): an
  empty series; for `normal` and `cornish_fisher` fewer than 2 returns (no
  sample standard deviation). `historical` and `ewma` are defined from one
  return. Zero dispersion (all returns identical, compared exactly) is not
  undefined: the distribution is a point mass at that return c, so VaR =
  CVaR = -c * 100 for every method that estimates a mean (historical, normal,
  Cornish-Fisher); EWMA assumes a zero mean, so it reports the risk of
  returns of size |c|.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Literal, NamedTuple, TypeVar, get_args

import numpy as np
import numpy.typing as npt

from atb.analytics.performance import lower_tail, var_cvar_historical
from atb.analytics.reductions import covariance, dot

if TYPE_CHECKING:
    from statistics import NormalDist

FloatArray = npt.NDArray[np.float64]
_Num = TypeVar("_Num", float, FloatArray)

Method = Literal["historical", "normal", "cornish_fisher", "ewma"]
PortfolioMethod = Literal["normal", "historical"]

#: Every `var_cvar` method, in report order.
METHODS: tuple[Method, ...] = get_args(Method)
#: RiskMetrics' decay for daily data.
EWMA_LAMBDA = 0.94


@cache
def _std_normal() -> NormalDist:
    """The standard normal, made on first use: `statistics` (with `fractions`) is 3 ms of imports that a
    historical-only caller (the backtest's end-of-run metrics) never needs."""
    from statistics import NormalDist

    return NormalDist()


_LOG_TINY = math.log(5e-324)  # the smallest subnormal float64


@dataclass(frozen=True, slots=True)
class RiskEstimate:
    """VaR/CVaR of one return series (positive % losses; None when undefined, see the module docstring)."""

    method: str
    level: float
    var_pct: float | None
    cvar_pct: float | None
    observations: int


@dataclass(frozen=True, slots=True, eq=False)
class PortfolioRisk:
    """Portfolio VaR/CVaR and its decomposition over positions (see `portfolio_var`).

    `marginal_var_pct[i]` = dVaR_pct / dw_i, `component_var_pct[i]` = w_i *
    marginal_var_pct[i]; the components sum to `var_pct` (Euler allocation:
    VaR is homogeneous of degree one in the weights). `correlation` is the
    assets' sample correlation matrix.
    """

    method: str
    level: float
    observations: int
    var_pct: float
    cvar_pct: float
    marginal_var_pct: FloatArray
    component_var_pct: FloatArray
    correlation: FloatArray


class KupiecResult(NamedTuple):
    """Kupiec POF test: likelihood-ratio statistic (chi-square, 1 dof) and its p-value."""

    lr_statistic: float
    p_value: float


# --------------------------------------------------------------------------- validation


def check_level(level: float) -> float:
    """`level` as a float in (0, 1) - ValueError otherwise."""
    level = float(level)
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    return level


def check_lambda(ewma_lambda: float) -> float:
    """The EWMA decay as a float in (0, 1) - ValueError otherwise."""
    lam = float(ewma_lambda)
    if not 0.0 < lam < 1.0:
        raise ValueError(f"ewma_lambda must be in (0, 1), got {ewma_lambda}")
    return lam


def as_returns(values: npt.ArrayLike, name: str = "returns") -> FloatArray:
    """1-D float64 view/copy of `values`; ValueError on another shape or on NaN/inf (index reported)."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    _check_finite(arr, name)
    return arr


def _check_finite(arr: FloatArray, name: str) -> None:
    bad = ~np.isfinite(arr)
    if bad.any():
        first = np.unravel_index(int(bad.argmax()), arr.shape)
        where = first[0] if len(first) == 1 else tuple(int(i) for i in first)
        raise ValueError(f"{name} contain NaN or inf ({int(bad.sum())} values, first at index {where})")


def normal_tail(level: float) -> tuple[float, float]:
    """(z, phi(z) / alpha): the standard normal alpha-quantile and the tail-mean factor."""
    alpha = 1.0 - level
    normal = _std_normal()
    z = normal.inv_cdf(alpha)
    return z, normal.pdf(z) / alpha


def cornish_fisher_factors(level: float, skew: _Num, exkurt: _Num) -> tuple[_Num, _Num]:
    """(h(z), E[h(Z) | Z <= z]): the Cornish-Fisher quantile and tail mean in standard units.

    Four-moment expansion of the alpha-quantile, z = Phi^-1(alpha), S the
    skewness and K the excess kurtosis:

        h(z) = z + (z^2 - 1) S / 6 + (z^3 - 3 z) K / 24 - (2 z^3 - 5 z) S^2 / 36

    CVaR treats the expansion as a model, X = mu + sigma * h(Z) with Z
    standard normal, and takes its exact tail mean E[h(Z) | Z <= z]. With the
    partial moments I_k = E[Z^k; Z <= z] (I_0 = alpha, I_1 = -phi(z),
    I_2 = alpha - z phi(z), I_3 = -(z^2 + 2) phi(z)) this is

        E[h(Z) | Z <= z] = phi(z) / alpha * (-1 - S z / 6 + K (1 - z^2) / 24 - S^2 (1 - 2 z^2) / 36)

    which is the average of the Cornish-Fisher quantiles over all tail levels
    below alpha and reduces to the normal -phi(z) / alpha when S = K = 0. It
    is the tail mean of X only while h is increasing on the tail, i.e. for
    moderate skewness and kurtosis (the usual limit of Cornish-Fisher; no
    correction is applied beyond it). Works elementwise on arrays too.
    """
    z, tail = normal_tail(level)
    h = z + (z * z - 1.0) * skew / 6.0 + (z**3 - 3.0 * z) * exkurt / 24.0 - (2.0 * z**3 - 5.0 * z) * skew**2 / 36.0
    mean = tail * (-1.0 - skew * z / 6.0 + exkurt * (1.0 - z * z) / 24.0 - skew**2 * (1.0 - 2.0 * z * z) / 36.0)
    return h, mean


# --------------------------------------------------------------------------- single series


def _moments(r: FloatArray) -> tuple[float, float, float, float]:
    """(mean, std ddof=1, skewness g1, excess kurtosis g2); needs len >= 2.

    g1 = m3 / m2^1.5 and g2 = m4 / m2^2 - 3 with the biased central moments
    m_k = mean((r - mean)^k) (scipy.stats.skew / kurtosis with bias=True);
    the scale is the ddof=1 standard deviation, as in the normal method, so
    Cornish-Fisher reduces to it exactly for a symmetric mesokurtic sample.
    All four are 0 except the mean when the returns are identical.
    """
    n = len(r)
    mean = float(r.mean())
    if r.max() == r.min():
        return float(r[0]), 0.0, 0.0, 0.0
    d = r - mean
    d2 = d * d
    m2 = float(d2.sum()) / n
    m3 = dot(d2, d) / n
    m4 = dot(d2, d2) / n
    if m2 == 0.0:  # differences below float resolution after squaring
        return mean, 0.0, 0.0, 0.0
    return mean, math.sqrt(m2 * n / (n - 1)), m3 / m2**1.5, m4 / (m2 * m2) - 3.0


def ewma_variance(r: FloatArray, ewma_lambda: float = EWMA_LAMBDA) -> float:
    """RiskMetrics variance forecast for the period after the last return (zero mean).

    Recursion s2[0] = r[0]^2 (seeded with the first squared return),
    s2[t] = lam * s2[t-1] + (1 - lam) * r[t]^2; the forecast is s2[n-1], in
    closed form lam^(n-1) r[0]^2 + (1 - lam) * sum_{t>=1} lam^(n-1-t) r[t]^2
    (pandas' `(r**2).ewm(alpha=1-lam, adjust=False).mean().iloc[-1]`).
    Evaluated as one dot product over the returns whose weight does not
    underflow (about 12,000 for lam = 0.94), so any length costs a millisecond.
    """
    n = len(r)
    if n == 0:
        raise ValueError("EWMA variance needs at least one return")
    # weights lam^k below the smallest subnormal are exactly 0.0: skip those returns
    keep = min(n, int(_LOG_TINY / math.log(ewma_lambda)) + 2)
    weights = np.power(ewma_lambda, np.arange(keep - 1, -1, -1, dtype=np.float64))
    recent = r[n - keep :]
    seed = 0.0
    if keep == n:
        seed = float(weights[0]) * float(r[0]) ** 2
        weights[0] = 0.0
    weights *= 1.0 - ewma_lambda
    return seed + dot(weights, recent * recent)


def var_cvar(
    returns: npt.ArrayLike,
    level: float = 0.95,
    method: Method = "historical",
    ewma_lambda: float = EWMA_LAMBDA,
) -> RiskEstimate:
    """One-period VaR and CVaR of `returns` as positive % losses.

    alpha = 1 - level, z = Phi^-1(alpha) < 0, phi the standard normal density.

    * historical: `performance.var_cvar_historical` - VaR = -quantile(r, alpha)
      (linear interpolation), CVaR = -mean of the floor((n-1) alpha) + 1
      worst returns (matches empyrical's value_at_risk / conditional_value_at_risk).
    * normal: mu = mean(r), sigma = std(r, ddof=1);
      VaR = -(mu + sigma z), CVaR = -(mu - sigma phi(z) / alpha).
    * cornish_fisher: VaR = -(mu + sigma h(z)), CVaR = -(mu + sigma E[h(Z) | Z <= z])
      with skewness/kurtosis as in `_moments` and h from `cornish_fisher_factors`.
    * ewma: RiskMetrics, zero mean, sigma^2 = `ewma_variance(r, ewma_lambda)`
      (seeded with the first squared return); VaR = -sigma z, CVaR = sigma phi(z) / alpha.

    All values x100. See the module docstring for undefined cases (None).
    """
    level = check_level(level)
    lam = check_lambda(ewma_lambda)
    if method not in METHODS:
        raise ValueError(f"unknown VaR method {method!r}; expected one of {', '.join(METHODS)}")
    r = as_returns(returns)
    n = len(r)

    def estimate(var: float | None, cvar: float | None) -> RiskEstimate:
        return RiskEstimate(method, level, var, cvar, n)

    if n == 0:
        return estimate(None, None)
    if method == "historical":
        var, cvar = var_cvar_historical(r, level) or (0.0, 0.0)  # n > 0: never None
        return estimate(var, cvar)
    z, tail = normal_tail(level)
    if method == "ewma":
        sigma = math.sqrt(ewma_variance(r, lam))
        return estimate(-sigma * z * 100.0, sigma * tail * 100.0)
    if n < 2:
        return estimate(None, None)
    mu, sigma, skew, exkurt = _moments(r)
    if method == "normal":
        return estimate(-(mu + sigma * z) * 100.0, -(mu - sigma * tail) * 100.0)
    h, h_tail = cornish_fisher_factors(level, skew, exkurt)
    return estimate(-(mu + sigma * h) * 100.0, -(mu + sigma * h_tail) * 100.0)


def risk_table(
    returns: npt.ArrayLike, levels: tuple[float, ...] = (0.95, 0.99), ewma_lambda: float = EWMA_LAMBDA
) -> list[dict[str, str | float | int | None]]:
    """Every method x level as JSON-ready rows (plain float/int/str/None), methods in `METHODS` order."""
    r = as_returns(returns)
    rows: list[dict[str, str | float | int | None]] = []
    for method in METHODS:
        for level in levels:
            est = var_cvar(r, level, method, ewma_lambda)
            rows.append(
                {
                    "method": est.method,
                    "level": est.level,
                    "var_pct": est.var_pct,
                    "cvar_pct": est.cvar_pct,
                    "observations": est.observations,
                }
            )
    return rows


# --------------------------------------------------------------------------- portfolio


def _correlation(cov: FloatArray) -> FloatArray:
    """cov / (sd_i sd_j); an asset with zero variance gets correlation 0 with the others and 1 with itself."""
    sd = np.sqrt(np.maximum(np.diag(cov), 0.0))
    scale = np.outer(sd, sd)
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = np.where(scale > 0.0, cov / np.where(scale > 0.0, scale, 1.0), 0.0)
    np.fill_diagonal(corr, 1.0)
    out: FloatArray = np.clip(corr, -1.0, 1.0)
    return out


def portfolio_var(
    returns_matrix: npt.ArrayLike,
    weights: npt.ArrayLike,
    level: float = 0.95,
    method: PortfolioMethod = "normal",
) -> PortfolioRisk:
    """VaR/CVaR of a weighted portfolio with marginal and component VaR per position.

    `returns_matrix` is T x N (rows are periods, columns assets), `weights`
    the N exposures as fractions of portfolio value (need not sum to 1;
    shorts are negative), so the portfolio return is r_p = R w. At least two
    periods are required (ValueError otherwise).

    * normal: mu = column means, C = sample covariance (ddof=1),
      sigma_p = sqrt(w' C w). VaR = -(w'mu + z sigma_p),
      CVaR = -(w'mu - sigma_p phi(z) / alpha), and the exact gradient
      marginal_i = -(mu_i + z (C w)_i / sigma_p). If sigma_p = 0 the gradient
      of sigma_p is undefined and marginal_i = -mu_i is used; the components
      still sum to VaR.
    * historical: VaR/CVaR of the series r_p (as `var_cvar`). Marginal VaR by
      the conditional-expectation method, dVaR/dw_i = -E[R_i | r_p = q_alpha]:
      the empirical quantile interpolates the order statistics lo =
      floor((T-1) alpha) and lo + 1 with weight f = (T-1) alpha - lo, so
      marginal_i = -((1 - f) E[R_i | r_p = r_p(lo)] + f E[R_i | r_p = r_p(lo+1)]),
      each expectation the mean over the periods at that order statistic
      (several on ties). This is the derivative of the estimator itself, so
      the components sum to VaR; being based on one or two scenarios it is
      noisy on short samples.

    All outputs x100 (% of portfolio value; marginals in % per unit weight).
    """
    level = check_level(level)
    if method not in get_args(PortfolioMethod):
        raise ValueError(f"unknown portfolio VaR method {method!r}; expected 'normal' or 'historical'")
    R = np.asarray(returns_matrix, dtype=np.float64)
    if R.ndim == 1:
        R = R[:, None]
    if R.ndim != 2:
        raise ValueError(f"returns_matrix must be two-dimensional (periods x assets), got shape {R.shape}")
    w = np.asarray(weights, dtype=np.float64).ravel()
    if len(w) != R.shape[1]:
        raise ValueError(f"{len(w)} weights for {R.shape[1]} assets")
    _check_finite(R, "returns_matrix")
    _check_finite(w, "weights")
    T = R.shape[0]
    if T < 2:
        raise ValueError(f"portfolio VaR needs at least 2 periods, got {T}")

    cov = covariance(R)
    corr = _correlation(cov)
    alpha = 1.0 - level

    if method == "normal":
        z, tail = normal_tail(level)
        mu = R.mean(axis=0)
        cw = cov @ w
        variance = dot(w, cw)
        sigma = math.sqrt(variance) if variance > 0.0 else 0.0
        mu_p = dot(w, mu)
        marginal = -(mu + z * cw / sigma) if sigma > 0.0 else -mu
        var = -(mu_p + z * sigma)
        cvar = -(mu_p - sigma * tail)
    else:
        r_p = np.einsum("ti,i->t", R, w)  # not BLAS gemv: no worker threads, the same bits on any machine
        lowest = lower_tail(r_p, alpha)  # the VaR, the CVaR and the marginals from one partition
        var = -lowest.quantile
        cvar = -float(lowest.ordered[: lowest.lo + 1].mean())
        at_lo = R[r_p == lowest.ordered[lowest.lo]].mean(axis=0)
        at_hi = R[r_p == lowest.ordered[lowest.hi]].mean(axis=0)
        marginal = -((1.0 - lowest.weight) * at_lo + lowest.weight * at_hi)

    marginal_pct: FloatArray = marginal * 100.0
    return PortfolioRisk(
        method=method,
        level=level,
        observations=T,
        var_pct=float(var) * 100.0,
        cvar_pct=float(cvar) * 100.0,
        marginal_var_pct=marginal_pct,
        component_var_pct=w * marginal_pct,
        correlation=corr,
    )


# --------------------------------------------------------------------------- Kupiec


def kupiec_pof(breaches: int, observations: int, level: float) -> KupiecResult:
    """Kupiec (1995) proportion-of-failures test of a VaR model's breach count.

    With x breaches in T observations, p = 1 - level and p^ = x / T:

        LR = -2 ln[(1-p)^(T-x) p^x / ((1-p^)^(T-x) p^^x)]
           = 2 [(T-x) ln((1-p^) / (1-p)) + x ln(p^ / p)],   0 ln 0 = 0,

    chi-square with one degree of freedom under H0 (breach rate = p), so the
    p-value is P(chi2_1 > LR) = erfc(sqrt(LR / 2)). Zero breaches gives
    LR = -2 T ln(1 - p); all breaches LR = -2 T ln p. A small p-value rejects
    the model (too many *or* too few breaches).
    """
    x = operator.index(breaches)
    n = operator.index(observations)
    level = check_level(level)
    if n < 1:
        raise ValueError(f"observations must be positive, got {n}")
    if not 0 <= x <= n:
        raise ValueError(f"breaches must be in [0, {n}], got {x}")
    p = 1.0 - level
    rate = x / n
    half_lr = 0.0
    if x < n:
        half_lr += (n - x) * (math.log1p(-rate) - math.log(level))
    if x > 0:
        half_lr += x * (math.log(rate) - math.log(p))
    lr = max(2.0 * half_lr, 0.0)  # rounding can leave -1e-16 at x = T p
    return KupiecResult(lr, math.erfc(math.sqrt(lr / 2.0)))
