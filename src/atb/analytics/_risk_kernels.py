"""Compiled rolling loops behind `atb.analytics.var_backtest`.

Imported lazily by `backtest_var`, so importing the analytics modules costs
no numba import. Inputs are finite (validated by the caller). Every kernel is
causal: output j describes the window ending just before bar `window + j`,
and it is computed from bars before that one with a schedule that depends
on the bar index only, so a prefix of the input yields a bit-identical
prefix of the output.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar, cast

import numpy as np
import numpy.typing as npt
from numba import njit

FloatArray = npt.NDArray[np.float64]

_F = TypeVar("_F", bound=Callable[..., Any])


def _jit(func: _F) -> _F:
    """`njit(cache=True)` that keeps the Python signature visible to mypy."""
    return cast(_F, njit(cache=True)(func))


@_jit
def rolling_quantile(x: FloatArray, window: int, alpha: float) -> FloatArray:
    """alpha-quantile (numpy's linear interpolation) of x[t-window:t] for t = window .. n-1.

    Keeps the window sorted: each step finds the leaving value by binary
    search and slides the elements between it and the entering value's slot
    by one - O(log w + shift) per bar, the shift a short memory move.
    """
    n = x.shape[0]
    m = n - window
    out = np.empty(m)
    s = np.sort(x[:window])
    h = (window - 1) * alpha
    lo = int(h)
    hi = min(lo + 1, window - 1)
    f = h - lo
    for j in range(m):
        t = window + j
        if j > 0:
            old = x[t - window - 1]
            new = x[t - 1]
            i = np.searchsorted(s, old)
            if new > old:
                while i + 1 < window and s[i + 1] < new:
                    s[i] = s[i + 1]
                    i += 1
            else:
                while i > 0 and s[i - 1] > new:
                    s[i] = s[i - 1]
                    i -= 1
            s[i] = new
        a = s[lo]
        diff = s[hi] - a
        # numpy's _lerp: from the nearer end, so f = 0 or 1 returns an order statistic exactly
        out[j] = a + diff * f if f < 0.5 else s[hi] - diff * (1.0 - f)
    return out


@_jit
def _window_sums(x: FloatArray, start: int, stop: int) -> tuple[float, float, float, float, float]:
    """(c, sum d, sum d^2, sum d^3, sum d^4) over x[start:stop] with d = x - c, c the mean (two passes)."""
    total = 0.0
    for i in range(start, stop):
        total += x[i]
    c = total / (stop - start)
    s1 = s2 = s3 = s4 = 0.0
    for i in range(start, stop):
        d = x[i] - c
        d2 = d * d
        s1 += d
        s2 += d2
        s3 += d2 * d
        s4 += d2 * d2
    return c, s1, s2, s3, s4


@_jit
def rolling_moments(x: FloatArray, window: int) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """(mean, std ddof=1, skewness g1, excess kurtosis g2) of x[t-window:t] for t = window .. n-1.

    Power sums of d = x - c are slid in O(1) per bar, with the shift c the
    window mean at the last refresh. The sums are recomputed from the window
    (two passes, O(w)) every `max(64, window // 4)` bars, and early when
    sliding would lose precision:

    * the window mean has moved more than one standard deviation from c
      (the central moments come from raw power sums of d, whose
      cancellation grows like ((mean - c) / std)^k);
    * a value leaves whose d^4 exceeds 1e4 times the remaining sum of d^4:
      subtracting it would leave rounding debris as large as the remaining
      tail (a 0.8 return leaving a window of 1e-4 returns).

    Stationary returns trigger neither, so the cost is about three passes;
    a pathological input (a steady trend with almost no noise) refreshes
    every bar, O(n w). Moments are the biased m_k as in
    `risk._moments`; a window of identical values (tracked exactly with a run
    length) gives std = g1 = g2 = 0.
    """
    n = x.shape[0]
    m = n - window
    mean = np.empty(m)
    std = np.empty(m)
    g1 = np.empty(m)
    g2 = np.empty(m)
    refresh = max(64, window // 4)
    w = float(window)
    run = 1  # length of the run of equal values ending at x[t-1]
    for i in range(1, window):
        run = run + 1 if x[i] == x[i - 1] else 1
    c = s1 = s2 = s3 = s4 = 0.0
    for j in range(m):
        t = window + j
        if j > 0:
            run = run + 1 if x[t - 1] == x[t - 2] else 1
        if j % refresh == 0:
            c, s1, s2, s3, s4 = _window_sums(x, t - window, t)
        else:
            dn = x[t - 1] - c
            do = x[t - window - 1] - c
            dn2 = dn * dn
            do2 = do * do
            s1 += dn - do
            s2 += dn2 - do2
            s3 += dn2 * dn - do2 * do
            s4 += dn2 * dn2 - do2 * do2
            db = s1 / w
            if run < window and (do2 * do2 > 1e4 * s4 or db * db > s2 / w - db * db):
                c, s1, s2, s3, s4 = _window_sums(x, t - window, t)
        if run >= window:
            mean[j] = x[t - 1]
            std[j] = g1[j] = g2[j] = 0.0
            continue
        db = s1 / w
        e2 = s2 / w
        e3 = s3 / w
        m2 = e2 - db * db
        mean[j] = c + db
        if m2 <= 0.0:
            std[j] = g1[j] = g2[j] = 0.0
            continue
        m3 = e3 - 3.0 * db * e2 + 2.0 * db**3
        m4 = s4 / w - 4.0 * db * e3 + 6.0 * db * db * e2 - 3.0 * db**4
        std[j] = math.sqrt(m2 * w / (w - 1.0))
        g1[j] = m3 / m2**1.5
        g2[j] = m4 / (m2 * m2) - 3.0
    return mean, std, g1, g2


@_jit
def ewma_variance_path(x: FloatArray, lam: float) -> FloatArray:
    """s2[t] = lam s2[t-1] + (1 - lam) x[t]^2 with s2[0] = x[0]^2: the forecast for bar t + 1."""
    n = x.shape[0]
    out = np.empty(n)
    if n == 0:
        return out
    s2 = x[0] * x[0]
    out[0] = s2
    for t in range(1, n):
        s2 = lam * s2 + (1.0 - lam) * x[t] * x[t]
        out[t] = s2
    return out
