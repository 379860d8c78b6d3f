"""VaR/CVaR, portfolio decomposition, Kupiec and the rolling VaR backtest.

References are independent of the code under test: empyrical (historical),
scipy.stats.norm (normal, incl. a numerical tail expectation), a hand
Cornish-Fisher with scipy.stats skew/kurtosis (bias=True, i.e. the biased
moment estimators g1 and g2 the module documents; the scale is the ddof=1
std) and scipy.integrate.quad for its tail mean, pandas `ewm(adjust=False)`
for the RiskMetrics recursion, numpy cov plus finite differences for the
portfolio, scipy.stats.chi2 for Kupiec.
"""

from __future__ import annotations

import math

import empyrical as ep
import numpy as np
import numpy.typing as npt
import orjson
import pandas as pd
import pytest
from scipy import integrate, stats

from atb.analytics.performance import returns
from atb.analytics.risk import (
    METHODS,
    Method,
    PortfolioRisk,
    cornish_fisher_factors,
    kupiec_pof,
    portfolio_var,
    risk_table,
    var_cvar,
)
from atb.analytics.var_backtest import backtest_var

from .helpers import DailyBars

FloatArray = npt.NDArray[np.float64]
REL = 1e-12


@pytest.fixture(scope="module")
def btc_r(btc_1d: DailyBars) -> FloatArray:
    return returns(btc_1d.close)


def t_returns(n: int, seed: int = 7) -> FloatArray:
    """Fat-tailed, skewed daily-like returns."""
    rng = np.random.default_rng(seed)
    r: FloatArray = 0.0005 + 0.02 * rng.standard_t(5, n) + 0.004 * rng.standard_exponential(n)
    return r


def hand_cornish_fisher(r: FloatArray, level: float) -> tuple[float, float]:
    """Textbook four-moment quantile; CVaR as the average of the CF quantile over tail levels (quad)."""
    mu, sd = r.mean(), r.std(ddof=1)
    s = stats.skew(r, bias=True)
    k = stats.kurtosis(r, fisher=True, bias=True)

    def h(p: float) -> float:
        z = stats.norm.ppf(p)
        return float(z + (z**2 - 1) * s / 6 + (z**3 - 3 * z) * k / 24 - (2 * z**3 - 5 * z) * s**2 / 36)

    alpha = 1 - level
    tail_mean = integrate.quad(h, 0, alpha, epsabs=1e-13, epsrel=1e-12, limit=200)[0] / alpha
    return -(mu + sd * h(alpha)) * 100, -(mu + sd * tail_mean) * 100


# --------------------------------------------------------------------------- single series


@pytest.mark.parametrize("level", [0.9, 0.95, 0.99])
def test_historical_matches_empyrical(btc_r: FloatArray, level: float) -> None:
    for r in (btc_r, t_returns(1001)):
        est = var_cvar(r, level, "historical")
        assert est.var_pct == pytest.approx(-ep.value_at_risk(r, cutoff=1 - level) * 100, rel=REL)
        assert est.cvar_pct == pytest.approx(-ep.conditional_value_at_risk(r, cutoff=1 - level) * 100, rel=REL)
        assert est.observations == len(r)


@pytest.mark.parametrize("level", [0.95, 0.99])
def test_normal_matches_scipy(btc_r: FloatArray, level: float) -> None:
    mu, sd = btc_r.mean(), btc_r.std(ddof=1)
    dist = stats.norm(mu, sd)
    q = dist.ppf(1 - level)
    est = var_cvar(btc_r, level, "normal")
    assert est.var_pct == pytest.approx(-q * 100, rel=REL)
    # E[X | X <= q] by numerical integration, independent of the closed form
    tail_mean = dist.expect(lambda x: x, ub=q, conditional=True)
    assert est.cvar_pct == pytest.approx(-tail_mean * 100, rel=1e-8)
    # BTC daily at 95 %: VaR about 5.4 %, CVaR about 6.9 %
    if level == 0.95:
        assert 5.0 < est.var_pct < 6.0 < est.cvar_pct < 7.5  # type: ignore[operator]


@pytest.mark.parametrize("level", [0.95, 0.99])
def test_cornish_fisher_matches_hand_formula(btc_r: FloatArray, level: float) -> None:
    for r in (btc_r, t_returns(5000)):
        var, cvar = hand_cornish_fisher(r, level)
        est = var_cvar(r, level, "cornish_fisher")
        assert est.var_pct == pytest.approx(var, rel=1e-10)
        assert est.cvar_pct == pytest.approx(cvar, rel=1e-8)


def test_cornish_fisher_reduces_to_normal() -> None:
    for level in (0.9, 0.95, 0.99):
        h, tail = cornish_fisher_factors(level, 0.0, 0.0)
        assert h == pytest.approx(stats.norm.ppf(1 - level), rel=REL)
        assert tail == pytest.approx(-stats.norm.pdf(stats.norm.ppf(1 - level)) / (1 - level), rel=REL)
    # negative skew and fat tails push the 99 % quantile further out
    h, _ = cornish_fisher_factors(0.99, -0.5, 3.0)
    assert h < stats.norm.ppf(0.01)


@pytest.mark.parametrize("lam", [0.94, 0.97])
def test_ewma_matches_pandas(btc_r: FloatArray, lam: float) -> None:
    # pandas adjust=False: y0 = x0, y_t = lam * y_{t-1} + (1 - lam) x_t - our seeding with r0^2
    variance = pd.Series(btc_r**2).ewm(alpha=1 - lam, adjust=False).mean().iloc[-1]
    sigma = math.sqrt(variance)
    z = stats.norm.ppf(0.01)
    est = var_cvar(btc_r, 0.99, "ewma", ewma_lambda=lam)
    assert est.var_pct == pytest.approx(-z * sigma * 100, rel=1e-10)
    assert est.cvar_pct == pytest.approx(stats.norm.pdf(z) / 0.01 * sigma * 100, rel=1e-10)


def test_ewma_long_series_matches_pandas() -> None:
    # longer than the ~12,000 returns whose weight survives float64 underflow at lam = 0.94
    r = t_returns(30_000, seed=3)
    for lam in (0.94, 0.999):
        variance = pd.Series(r**2).ewm(alpha=1 - lam, adjust=False).mean().iloc[-1]
        est = var_cvar(r, 0.95, "ewma", ewma_lambda=lam)
        assert est.var_pct == pytest.approx(-stats.norm.ppf(0.05) * math.sqrt(variance) * 100, rel=1e-10)


def test_cvar_beyond_var_for_every_method(btc_r: FloatArray) -> None:
    for method in METHODS:
        for level in (0.95, 0.99):
            est = var_cvar(btc_r, level, method)
            assert est.var_pct is not None and est.cvar_pct is not None
            assert est.cvar_pct > est.var_pct > 0


def test_constant_returns_are_a_point_mass() -> None:
    r = np.full(50, 0.001)
    for method in ("historical", "normal", "cornish_fisher"):
        est = var_cvar(r, 0.99, method)
        assert est.var_pct == pytest.approx(-0.1, rel=REL)
        assert est.cvar_pct == pytest.approx(-0.1, rel=REL)
    ewma = var_cvar(r, 0.99, "ewma")  # zero mean: returns of size 0.1 % are the risk
    assert ewma.var_pct == pytest.approx(-stats.norm.ppf(0.01) * 0.1, rel=1e-12)
    zero = var_cvar(np.zeros(10), 0.95, "cornish_fisher")
    assert (zero.var_pct, zero.cvar_pct) == (0.0, 0.0)


def test_short_series() -> None:
    one = np.array([-0.03])
    assert var_cvar(one, method="historical").var_pct == pytest.approx(3.0)
    assert var_cvar(one, method="historical").cvar_pct == pytest.approx(3.0)
    assert var_cvar(one, 0.95, "ewma").var_pct == pytest.approx(-stats.norm.ppf(0.05) * 3.0)
    for method in ("normal", "cornish_fisher"):
        est = var_cvar(one, method=method)
        assert (est.var_pct, est.cvar_pct, est.observations) == (None, None, 1)
    for method in METHODS:
        est = var_cvar([], method=method)
        assert (est.var_pct, est.cvar_pct, est.observations) == (None, None, 0)


def test_invalid_input() -> None:
    with pytest.raises(ValueError, match=r"returns contain NaN or inf \(1 values, first at index 2\)"):
        var_cvar([0.01, 0.02, math.nan, 0.0])
    with pytest.raises(ValueError, match="NaN or inf"):
        var_cvar([0.01, math.inf], method="normal")
    with pytest.raises(ValueError, match="level"):
        var_cvar([0.01, 0.02], level=1.0)
    with pytest.raises(ValueError, match="unknown VaR method"):
        var_cvar([0.01, 0.02], method="garch")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ewma_lambda"):
        var_cvar([0.01, 0.02], method="ewma", ewma_lambda=1.0)
    with pytest.raises(ValueError, match="one-dimensional"):
        var_cvar(np.zeros((3, 2)))


def test_risk_table_is_json_ready(btc_r: FloatArray) -> None:
    rows = risk_table(btc_r)
    assert [(row["method"], row["level"]) for row in rows] == [(m, lv) for m in METHODS for lv in (0.95, 0.99)]
    for row in rows:
        assert all(v is None or type(v) in (str, float, int) for v in row.values())
        est = var_cvar(btc_r, row["level"], row["method"])  # type: ignore[arg-type]
        assert row["var_pct"] == est.var_pct and row["cvar_pct"] == est.cvar_pct
    assert orjson.loads(orjson.dumps(rows)) == rows
    assert [row["var_pct"] for row in risk_table([0.01])] == [-1.0, -1.0, None, None, None, None, *[
        pytest.approx(-stats.norm.ppf(1 - lv)) for lv in (0.95, 0.99)]]  # fmt: skip


# --------------------------------------------------------------------------- portfolio


@pytest.fixture(scope="module")
def assets() -> FloatArray:
    rng = np.random.default_rng(3)
    chol = np.linalg.cholesky(np.array([[1.0, 0.6, -0.2], [0.6, 1.0, 0.1], [-0.2, 0.1, 1.0]]))
    R: FloatArray = rng.standard_t(6, (2000, 3)) @ chol.T * np.array([0.02, 0.03, 0.01]) + 0.001
    return R


def _numeric_gradient(R: FloatArray, w: FloatArray, method: str, eps: float = 1e-7) -> FloatArray:
    grad = np.empty(len(w))
    for i in range(len(w)):
        up, dn = w.copy(), w.copy()
        up[i] += eps
        dn[i] -= eps
        grad[i] = (portfolio_var(R, up, 0.99, method).var_pct - portfolio_var(R, dn, 0.99, method).var_pct) / (2 * eps)  # type: ignore[arg-type]
    return grad


def test_portfolio_normal_against_numpy(assets: FloatArray) -> None:
    w = np.array([0.5, 0.3, -0.2])
    cov = np.cov(assets.T)
    mu_p, sd_p = assets.mean(axis=0) @ w, math.sqrt(w @ cov @ w)
    risk = portfolio_var(assets, w, 0.99, "normal")
    assert isinstance(risk, PortfolioRisk)
    assert risk.var_pct == pytest.approx(-stats.norm.ppf(0.01, mu_p, sd_p) * 100, rel=REL)
    assert risk.cvar_pct == pytest.approx(-(mu_p - sd_p * stats.norm.pdf(stats.norm.ppf(0.01)) / 0.01) * 100, rel=REL)
    # same as the single-series normal VaR of the weighted returns
    assert risk.var_pct == pytest.approx(var_cvar(assets @ w, 0.99, "normal").var_pct, rel=1e-10)
    assert risk.component_var_pct.sum() == pytest.approx(risk.var_pct, rel=REL)
    np.testing.assert_allclose(risk.component_var_pct, w * risk.marginal_var_pct, rtol=REL)
    np.testing.assert_allclose(risk.marginal_var_pct, _numeric_gradient(assets, w, "normal"), rtol=1e-6)
    np.testing.assert_allclose(risk.correlation, np.corrcoef(assets.T), rtol=REL)


def test_portfolio_historical_conditional_expectation(assets: FloatArray) -> None:
    w = np.array([0.4, 0.4, 0.2])
    risk = portfolio_var(assets, w, 0.99, "historical")
    single = var_cvar(assets @ w, 0.99, "historical")
    assert (risk.var_pct, risk.cvar_pct) == (single.var_pct, single.cvar_pct)
    assert risk.component_var_pct.sum() == pytest.approx(risk.var_pct, rel=1e-12)
    # the estimator is piecewise linear in w: a small bump keeps the ordering and the gradient exact
    np.testing.assert_allclose(risk.marginal_var_pct, _numeric_gradient(assets, w, "historical"), rtol=1e-6)
    # by hand: (T-1) * 0.01 = 19.99 -> order statistics 19 and 20 with weights 0.01 / 0.99
    order = np.argsort(assets @ w)
    hand = -(0.01 * assets[order[19]] + 0.99 * assets[order[20]]) * 100
    np.testing.assert_allclose(risk.marginal_var_pct, hand, rtol=1e-9)


def test_portfolio_historical_ties_average_scenarios() -> None:
    R = np.array([[-0.02, 0.0], [0.0, -0.02], [0.01, 0.01], [0.02, 0.03]])
    risk = portfolio_var(R, [0.5, 0.5], 0.99, "historical")  # both worst rows give r_p = -1 %
    np.testing.assert_allclose(risk.marginal_var_pct, [1.0, 1.0], rtol=REL)
    assert risk.var_pct == pytest.approx(1.0, rel=REL)
    assert risk.component_var_pct.sum() == pytest.approx(risk.var_pct, rel=REL)


def test_portfolio_degenerate_inputs() -> None:
    R = np.column_stack([np.full(5, 0.001), [0.01, -0.02, 0.03, 0.0, -0.01]])
    risk = portfolio_var(R, [1.0, 0.0], 0.95, "normal")  # only the riskless asset held: sigma_p = 0
    assert risk.var_pct == pytest.approx(-0.1, rel=REL)
    np.testing.assert_allclose(risk.marginal_var_pct, -R.mean(axis=0) * 100, rtol=REL)
    np.testing.assert_array_equal(risk.correlation, np.eye(2))
    assert np.isfinite(risk.correlation).all()
    with pytest.raises(ValueError, match="at least 2 periods"):
        portfolio_var(R[:1], [1.0, 0.0])
    with pytest.raises(ValueError, match="2 weights for 3 assets"):
        portfolio_var(np.zeros((5, 3)), [1.0, 0.0])
    R_nan = R.copy()
    R_nan[3, 1] = math.nan
    with pytest.raises(ValueError, match=r"returns_matrix contain NaN or inf \(1 values, first at index \(3, 1\)\)"):
        portfolio_var(R_nan, [0.5, 0.5])
    with pytest.raises(ValueError, match="unknown portfolio VaR method"):
        portfolio_var(R, [0.5, 0.5], method="ewma")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- Kupiec


def hand_kupiec(x: int, n: int, p: float) -> float:
    null = (n - x) * math.log(1 - p) + x * math.log(p)
    rate = x / n
    alt = (n - x) * (math.log(1 - rate) if x < n else 0.0) + (x * math.log(rate) if x else 0.0)
    return -2 * (null - alt)


KUPIEC_CASES = [(0, 250, 0.99), (1, 250, 0.99), (8, 250, 0.99), (17, 500, 0.95), (60, 1000, 0.95), (250, 250, 0.99),
                (3, 3, 0.5), (0, 1, 0.95)]  # fmt: skip


@pytest.mark.parametrize(("x", "n", "level"), KUPIEC_CASES)
def test_kupiec_against_hand_and_scipy(x: int, n: int, level: float) -> None:
    lr, pval = kupiec_pof(x, n, level)
    assert lr == pytest.approx(hand_kupiec(x, n, 1 - level), rel=1e-10, abs=1e-12)
    assert pval == pytest.approx(stats.chi2.sf(lr, 1), rel=1e-10, abs=1e-300)


def test_kupiec_edge_cases() -> None:
    assert kupiec_pof(0, 250, 0.99).lr_statistic == pytest.approx(-2 * 250 * math.log(0.99), rel=1e-12)
    assert kupiec_pof(250, 250, 0.99).lr_statistic == pytest.approx(-2 * 250 * math.log(0.01), rel=1e-12)
    lr, pval = kupiec_pof(5, 100, 0.95)  # exactly the expected count
    assert lr == pytest.approx(0.0, abs=1e-12) and pval == pytest.approx(1.0)
    # 1 % model, 8 breaches in 250 days: Basel "yellow zone", rejected at 5 %
    assert kupiec_pof(8, 250, 0.99).p_value < 0.05 < kupiec_pof(4, 250, 0.99).p_value
    with pytest.raises(ValueError, match="breaches must be in"):
        kupiec_pof(11, 10, 0.95)
    with pytest.raises(ValueError, match="observations must be positive"):
        kupiec_pof(0, 0, 0.95)
    with pytest.raises(TypeError):
        kupiec_pof(2.5, 10, 0.95)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- backtest


def test_backtest_breaches_on_normal_series() -> None:
    r = np.random.default_rng(42).normal(0.0, 0.01, 5250)
    # counts cross-checked with a plain loop over var_cvar on the trailing data
    for method, count in (("normal", 252), ("historical", 264), ("cornish_fisher", 255), ("ewma", 290)):
        bt = backtest_var(r, 0.95, method, window=250)  # type: ignore[arg-type]
        assert bt.observations == 5000 and bt.expected_breaches == pytest.approx(250.0)
        assert bt.breaches == count
        assert bt.breach_rate == pytest.approx(count / 5000)
        lr, pval = kupiec_pof(count, 5000, 0.95)
        assert (bt.kupiec_lr, bt.kupiec_p_value) == (lr, pval)
        if method == "ewma":
            # lambda 0.94 remembers ~16 bars: the noisy sigma of iid data breaches too often, and Kupiec sees it
            assert 0.01 < pval < 0.05
        else:
            assert pval > 0.05  # a correct model on its own distribution is not rejected


@pytest.mark.parametrize("method", METHODS)
def test_backtest_forecasts_equal_var_cvar_on_past_data(btc_r: FloatArray, method: str) -> None:
    window = 100
    bt = backtest_var(btc_r, 0.99, method, window=window)  # type: ignore[arg-type]
    assert np.isnan(bt.forecast_pct[:window]).all() and np.isfinite(bt.forecast_pct[window:]).all()
    for t in range(window, len(btc_r), 7):
        past = btc_r[:t] if method == "ewma" else btc_r[t - window : t]
        assert bt.forecast_pct[t] == pytest.approx(var_cvar(past, 0.99, method).var_pct, rel=1e-9), t  # type: ignore[arg-type]
    np.testing.assert_array_equal(bt.breach[window:], -btc_r[window:] * 100 > bt.forecast_pct[window:])
    assert not bt.breach[:window].any()
    assert bt.breaches == int(bt.breach.sum())


@pytest.mark.parametrize("method", METHODS)
def test_backtest_is_causal(method: str) -> None:
    r = t_returns(3000, seed=11)
    full = backtest_var(r, 0.95, method, window=120)  # type: ignore[arg-type]
    for cut in (121, 500, 1999):
        part = backtest_var(r[:cut], 0.95, method, window=120)  # type: ignore[arg-type]
        np.testing.assert_array_equal(part.forecast_pct, full.forecast_pct[:cut])
    # changing a future return leaves every earlier forecast untouched
    shocked = r.copy()
    shocked[1500] = -0.5
    after = backtest_var(shocked, 0.95, method, window=120)  # type: ignore[arg-type]
    np.testing.assert_array_equal(after.forecast_pct[:1501], full.forecast_pct[:1501])
    assert after.forecast_pct[1501] != full.forecast_pct[1501]


def test_backtest_rolling_quantile_with_ties_and_constant_stretches() -> None:
    rng = np.random.default_rng(5)
    r = np.round(rng.normal(0, 0.01, 2000), 3)  # heavy ties in the sorted window
    r[700:900] = 0.002  # a constant stretch longer than the window
    window = 60
    methods: tuple[Method, ...] = ("historical", "normal", "cornish_fisher")
    for method in methods:
        bt = backtest_var(r, 0.95, method, window=window)
        expected = [var_cvar(r[t - window : t], 0.95, method).var_pct or 0.0 for t in range(window, len(r))]
        np.testing.assert_allclose(bt.forecast_pct[window:], np.array(expected), rtol=1e-9, atol=1e-12)
        assert bt.forecast_pct[800] == pytest.approx(-0.2, rel=1e-12)  # window fully inside the flat stretch


@pytest.mark.parametrize("window", [3, 10, 100, 300])
def test_backtest_rolling_moments_survive_spikes_and_regime_shifts(window: int) -> None:
    """Slid power sums lose precision when a huge value leaves or the mean jumps; the kernel must refresh."""
    rng = np.random.default_rng(1)
    r = rng.normal(0, 1e-4, 3000)
    r[::500] = 0.8  # spikes 8000 sigma out
    r[1200:1300] = rng.normal(0.05, 1e-6, 100)  # mean jump of 50,000 local sigmas
    r[2000:2100] = np.linspace(0, 0.2, 100)  # noiseless trend
    r[2500:2600] = 0.01
    r[2600:2650] = 0.01 + rng.normal(0, 1e-9, 50)
    methods: tuple[Method, ...] = ("normal", "cornish_fisher")
    for method in methods:
        bt = backtest_var(r, 0.99, method, window=window)
        expected = [var_cvar(r[t - window : t], 0.99, method).var_pct or 0.0 for t in range(window, len(r))]
        np.testing.assert_allclose(bt.forecast_pct[window:], np.array(expected), rtol=1e-11)


def test_backtest_short_and_invalid_input() -> None:
    bt = backtest_var(np.full(10, 0.01), window=10)
    assert bt.observations == 0 and bt.breaches == 0 and bt.expected_breaches == 0.0
    assert (bt.breach_rate, bt.kupiec_lr, bt.kupiec_p_value) == (None, None, None)
    assert len(bt.forecast_pct) == 10 and np.isnan(bt.forecast_pct).all()
    assert backtest_var([], window=5).observations == 0
    with pytest.raises(ValueError, match="window must be at least 2"):
        backtest_var(np.zeros(10), window=1)
    with pytest.raises(ValueError, match="NaN or inf"):
        backtest_var([0.0, math.nan, 0.1], window=2)


def test_btc_backtest_sanity(btc_r: FloatArray) -> None:
    """Daily BTC: fat tails make the normal 99 % VaR breach more often than 1 %."""
    normal = backtest_var(btc_r, 0.99, "normal", window=250)
    historical = backtest_var(btc_r, 0.99, "historical", window=250)
    assert normal.observations == len(btc_r) - 250
    assert normal.breach_rate is not None and normal.breach_rate > 0.01
    assert normal.kupiec_p_value is not None and normal.kupiec_p_value < 0.05
    assert historical.breaches <= normal.breaches
