"""Sums of products that do not depend on the machine's BLAS threads."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np

from atb.analytics.reductions import covariance, dot


def test_dot_is_the_sum_of_products() -> None:
    rng = np.random.default_rng(7)
    a, b = rng.normal(size=10_001), rng.normal(size=10_001)
    assert math.isclose(dot(a, b), math.fsum((a * b).tolist()), rel_tol=1e-13)
    assert dot(np.array([1.5, -2.0]), np.array([2.0, 0.25])) == 2.5


def test_covariance_is_numpys() -> None:
    rng = np.random.default_rng(8)
    returns = rng.normal(size=(5_000, 3)) * [0.01, 0.02, 0.005]
    assert np.allclose(covariance(returns), np.cov(returns, rowvar=False, ddof=1), rtol=1e-12, atol=0)
    assert covariance(returns[:, :1]).shape == (1, 1)


def test_statistics_have_the_same_bits_with_one_or_two_blas_threads() -> None:
    code = (
        "import numpy as np; from atb.analytics.performance import annual_volatility; "
        "from atb.analytics.risk import portfolio_var; "
        "r = np.random.default_rng(3).normal(0, 0.01, size=(1_000_000, 2)); "
        "p = portfolio_var(r, [0.6, 0.4], 0.95, 'normal'); "
        "print(repr(annual_volatility(r[:, 0], 365.0)), repr(p.var_pct), p.correlation.tolist())"
    )
    outs = []
    for threads in ("1", "2"):
        env = {**os.environ, "OPENBLAS_NUM_THREADS": threads}
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
        assert proc.returncode == 0, proc.stderr
        outs.append(proc.stdout)
    assert outs[0] == outs[1]
