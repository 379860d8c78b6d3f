"""Sums of products that give the same bits on every machine.

`x @ y` on two vectors is BLAS `ddot`, which OpenBLAS splits over as many
threads as the machine (or `OPENBLAS_NUM_THREADS`) allows, each summing its
own stretch: the last bits of a volatility or a Sharpe ratio then depended on
the core count, and two runs of one backtest could disagree. numpy's own
`add.reduce` sums in a fixed pairwise order, single-threaded and more
accurate than a running sum, at the price of one temporary array.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def dot(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> float:
    """sum(a * b) in numpy's pairwise order (see the module docstring)."""
    return float(np.add.reduce(a * b))


def covariance(returns: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Sample covariance (ddof=1) of the columns of a T x N matrix, without BLAS.

    `np.cov` multiplies through BLAS `gemm`, threaded like `ddot`; numpy's own
    `einsum` loop sums in one fixed order (and was faster on a million rows).
    """
    dev = returns - returns.mean(axis=0)
    out: npt.NDArray[np.float64] = np.einsum("ti,tj->ij", dev, dev) / (len(returns) - 1)
    return out
