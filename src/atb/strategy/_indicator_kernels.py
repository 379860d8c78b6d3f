"""Compiled loops behind `atb.strategy.indicators`.

Imported lazily by the indicator functions so that importing the indicators
module costs no numba import. Every kernel is a single forward pass: the
value at bar i is computed from bars 0..i only and with the same operations
whatever the array length, so a prefix of the input yields a bit-identical
prefix of the output (the causality tests rely on this).

Windowed kernels treat a non-finite input as "missing": it is not added to
the running state, it is counted, and every window containing it yields NaN;
once it leaves the window the output recovers. Recursive kernels (EMA, RSI,
ATR, DMI, OBV, cumulative VWAP) start at the first bar where all inputs are
finite and let a later non-finite value poison the recursion for good.

Rolling sums are kept as compensated (value, error) pairs and recomputed
from scratch every `n` bars (block boundaries depend on the bar index only,
which keeps prefixes bit-identical). Rounding error therefore does not grow
with the series length, a huge value leaves no debris once it has left the
window, and integer-valued inputs give exact sums.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar, cast

import numpy as np
import numpy.typing as npt
from numba import njit

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_F = TypeVar("_F", bound=Callable[..., Any])


def _jit(func: _F) -> _F:
    """`njit(cache=True)` that keeps the Python signature visible to mypy."""
    return cast(_F, njit(cache=True)(func))


@_jit
def _first_finite(x: FloatArray) -> int:
    i = 0
    while i < x.shape[0] and not math.isfinite(x[i]):
        i += 1
    return i


@_jit
def _first_finite3(a: FloatArray, b: FloatArray, c: FloatArray) -> int:
    i = 0
    while i < a.shape[0] and not (math.isfinite(a[i]) and math.isfinite(b[i]) and math.isfinite(c[i])):
        i += 1
    return i


@_jit
def _two_sum(a: float, b: float) -> tuple[float, float]:
    """Knuth's error-free sum: a + b == s + err exactly."""
    s = a + b
    bp = s - a
    err = (a - (s - bp)) + (b - bp)
    return s, err


@_jit
def _split(a: float) -> tuple[float, float]:
    """Veltkamp split of a into two 26-bit halves (for `_two_prod`)."""
    c = 134217729.0 * a  # 2**27 + 1
    hi = c - (c - a)
    return hi, a - hi


@_jit
def _two_prod(a: float, b: float) -> tuple[float, float]:
    """Dekker's error-free product: a * b == p + err exactly (barring over/underflow)."""
    p = a * b
    ah, al = _split(a)
    bh, bl = _split(b)
    err = ((ah * bh - p) + ah * bl + al * bh) + al * bl
    return p, err


@_jit
def _true_range(high: float, low: float, prev_close: float) -> float:
    # Same comparison order as TA-Lib's TRUE_RANGE macro; explicit NaN check
    # because comparisons with NaN would silently drop it.
    if not (math.isfinite(high) and math.isfinite(low) and math.isfinite(prev_close)):
        return math.nan
    tr = high - low
    t = abs(high - prev_close)
    if t > tr:
        tr = t
    t = abs(low - prev_close)
    if t > tr:
        tr = t
    return tr


# --------------------------------------------------------------------------- windows


@_jit
def rolling_sum(x: FloatArray, n: int) -> FloatArray:
    """Sum of the last n values; NaN in warm-up or if the window holds a non-finite value."""
    size = x.shape[0]
    out = np.full(size, np.nan)
    hi = 0.0  # running sum = hi + lo
    lo = 0.0
    bad = 0
    countdown = n  # bars until the next from-scratch refresh, at (i + 1) % n == 0
    for i in range(size):
        v = x[i]
        if not math.isfinite(v):
            bad += 1
            v = 0.0
        o = 0.0
        if i >= n:
            o = x[i - n]
            if not math.isfinite(o):
                bad -= 1
                o = 0.0
        # v - o == dv + de exactly, off the dependency chain of the running sum
        dv, de = _two_sum(v, -o)
        hi, e = _two_sum(hi, dv)
        lo += e + de
        countdown -= 1
        if countdown == 0:
            countdown = n
            hi = 0.0
            lo = 0.0
            for j in range(i - n + 1, i + 1):
                if math.isfinite(x[j]):
                    hi, e = _two_sum(hi, x[j])
                    lo += e
        if i >= n - 1 and bad == 0:
            out[i] = hi + lo
    return out


@_jit
def wma(x: FloatArray, n: int) -> FloatArray:
    """Linearly weighted mean, weights 1..n (newest heaviest), via an O(1) recurrence.

    W_i = W_{i-1} - S_{i-1} + n*x_i where S is the plain window sum; both are
    compensated pairs (the product too) and recomputed every n bars.
    """
    size = x.shape[0]
    out = np.full(size, np.nan)
    divider = n * (n + 1) / 2.0
    weight = float(n)
    s_hi = 0.0
    s_lo = 0.0
    w_hi = 0.0
    w_lo = 0.0
    bad = 0
    countdown = n
    for i in range(size):
        v = x[i]
        if not math.isfinite(v):
            bad += 1
            v = 0.0
        w_hi, e = _two_sum(w_hi, -s_hi)
        w_lo += e - s_lo
        p, pe = _two_prod(weight, v)
        w_hi, e = _two_sum(w_hi, p)
        w_lo += e + pe
        s_hi, e = _two_sum(s_hi, v)
        s_lo += e
        if i >= n:
            o = x[i - n]
            if math.isfinite(o):
                s_hi, e = _two_sum(s_hi, -o)
                s_lo += e
            else:
                bad -= 1
        countdown -= 1
        if countdown == 0:
            countdown = n
            s_hi = 0.0
            s_lo = 0.0
            w_hi = 0.0
            w_lo = 0.0
            for m in range(n):
                xv = x[i - m]
                if math.isfinite(xv):
                    s_hi, e = _two_sum(s_hi, xv)
                    s_lo += e
                    p, pe = _two_prod(float(n - m), xv)
                    w_hi, e = _two_sum(w_hi, p)
                    w_lo += e + pe
        if i >= n - 1 and bad == 0:
            out[i] = (w_hi + w_lo) / divider
    return out


@_jit
def _window_moments(x: FloatArray, stop: int, n: int) -> tuple[float, float, float]:
    """Two-pass (shift, sum of x - shift, sum of (x - shift)**2) over the finite x[stop-n+1..stop]."""
    tot = 0.0
    cnt = 0
    for j in range(stop - n + 1, stop + 1):
        if math.isfinite(x[j]):
            tot += x[j]
            cnt += 1
    shift = tot / cnt if cnt > 0 else 0.0
    d = 0.0
    q = 0.0
    for j in range(stop - n + 1, stop + 1):
        if math.isfinite(x[j]):
            e = x[j] - shift
            d += e
            q += e * e
    return shift, d, q


@_jit
def rolling_std(x: FloatArray, n: int) -> FloatArray:
    """Population (ddof=0) standard deviation over the last n values.

    Running sums of e = x - K and e**2 around a shift K (a recent window mean)
    give var = mean(e**2) - mean(e)**2 without cancellation. `mass`, the sum of
    every e**2 added or removed since the last exact pass, bounds the rounding
    error (~eps*mass); when that could exceed ~1e-10 of n*var (after a huge
    value left the window, or after the level drifted far from K) the window
    is recomputed exactly with two passes. A periodic exact pass every n bars
    keeps K fresh so that this stays rare.
    """
    size = x.shape[0]
    out = np.full(size, np.nan)
    shift = 0.0
    d = 0.0
    q = 0.0
    mass = 0.0
    bad = 0
    countdown = n
    for i in range(size):
        v = x[i]
        if math.isfinite(v):
            e = v - shift
            d += e
            q += e * e
            mass += e * e
        else:
            bad += 1
        if i >= n:
            o = x[i - n]
            if math.isfinite(o):
                e = o - shift
                d -= e
                q -= e * e
                mass += e * e
            else:
                bad -= 1
        countdown -= 1
        if countdown == 0:
            countdown = n
            shift, d, q = _window_moments(x, i, n)
            mass = q
        if i >= n - 1 and bad == 0:
            mean_d = d / n
            var = q / n - mean_d * mean_d
            if not (mass * 1e-6 <= var * n):
                shift, d, q = _window_moments(x, i, n)
                mass = q
                mean_d = d / n
                var = q / n - mean_d * mean_d
            out[i] = math.sqrt(var) if var > 0.0 else 0.0
    return out


@_jit
def rolling_extreme(x: FloatArray, n: int, want_max: bool) -> FloatArray:
    """Max (or min) of the last n values, van Herk / Gil-Werman: about 3 comparisons per bar.

    The series is cut into aligned blocks of n bars; the window ending at i is
    the tail of one block (running max from the right) plus the head of the
    next (running max from the left). That tail's block ends at or before i,
    so no future bar is read. Min is computed as -max(-x). NaN never wins a
    `>` comparison and an inf can only reach windows that contain it, which
    the non-finite count turns into NaN anyway.
    """
    size = x.shape[0]
    out = np.full(size, np.nan)
    sign = 1.0 if want_max else -1.0
    tail = np.empty(size)
    start = 0
    while start < size:
        stop = min(start + n, size)
        acc = -math.inf
        j = stop - 1
        while j >= start:
            v = sign * x[j]
            acc = v if v > acc else acc
            tail[j] = acc
            j -= 1
        start = stop
    head = -math.inf
    bad = 0
    pos = 0  # i % n
    for i in range(size):
        if pos == 0:
            head = -math.inf
        pos += 1
        if pos == n:
            pos = 0
        xv = x[i]
        v = sign * xv
        head = v if v > head else head
        if not math.isfinite(xv):
            bad += 1
        if i >= n and not math.isfinite(x[i - n]):
            bad -= 1
        if i >= n - 1 and bad == 0:
            t = tail[i - n + 1]
            out[i] = sign * (t if t > head else head)
    return out


@_jit
def stoch_fast_k(high: FloatArray, low: FloatArray, close: FloatArray, k: int) -> FloatArray:
    """100*(close - LL)/(HH - LL) over k bars in TA-Lib's arithmetic; 50 when HH == LL."""
    highest = rolling_extreme(high, k, True)
    lowest = rolling_extreme(low, k, False)
    out = np.empty(close.shape[0])
    for i in range(close.shape[0]):
        scale = (highest[i] - lowest[i]) / 100.0
        out[i] = (close[i] - lowest[i]) / scale if scale != 0.0 else 50.0
    return out


@_jit
def rolling_vwap(pv: FloatArray, volume: FloatArray, n: int) -> FloatArray:
    """sum(pv)/sum(volume) over n bars; NaN if a window holds no traded volume or a non-finite value."""
    pv_sum = rolling_sum(pv, n)
    v_sum = rolling_sum(volume, n)
    out = np.full(pv.shape[0], np.nan)
    traded = 0  # bars with volume > 0 in the window: decides "no volume" without float noise
    for i in range(pv.shape[0]):
        if volume[i] > 0.0:
            traded += 1
        if i >= n and volume[i - n] > 0.0:
            traded -= 1
        if traded > 0:
            out[i] = pv_sum[i] / v_sum[i]
    return out


@_jit
def cross(a: FloatArray, b: FloatArray, up: bool) -> npt.NDArray[np.bool_]:
    """a moves strictly beyond b (above if `up`) from not-beyond at the last bar where both are defined."""
    size = a.shape[0]
    out = np.zeros(size, np.bool_)
    have_prev = False
    prev_beyond = False
    for i in range(size):
        ai = a[i]
        bi = b[i]
        if math.isnan(ai) or math.isnan(bi):
            continue
        beyond = ai > bi if up else ai < bi
        if have_prev and beyond and not prev_beyond:
            out[i] = True
        prev_beyond = beyond
        have_prev = True
    return out


# --------------------------------------------------------------------------- recursions


@_jit
def ema(x: FloatArray, n: int, alpha: float, seed_offset: int) -> FloatArray:
    """EMA seeded at bar s + seed_offset with the mean of the n values ending there.

    s is the first finite bar. `seed_offset` is n - 1 for a plain EMA; MACD
    seeds its fast EMA at slow - 1 like TA-Lib does.
    """
    size = x.shape[0]
    out = np.full(size, np.nan)
    seed = _first_finite(x) + seed_offset
    if seed >= size:
        return out
    tot = 0.0
    for j in range(seed - n + 1, seed + 1):
        tot += x[j]
    prev = tot / n if math.isfinite(tot) else math.nan
    out[seed] = prev
    for i in range(seed + 1, size):
        v = x[i]
        # an inf would otherwise leave inf/-inf behind instead of NaN
        prev = (v - prev) * alpha + prev if math.isfinite(v) else math.nan
        out[i] = prev
    return out


@_jit
def _rsi_value(gain: float, loss: float) -> float:
    tot = gain + loss
    if tot == 0.0:
        return 50.0
    return 100.0 * (gain / tot)


@_jit
def rsi(x: FloatArray, n: int) -> FloatArray:
    """Wilder RSI in TA-Lib's arithmetic order: the first averages (bar s+n) are plain
    means of n moves, then avg = (avg*(n-1) + move)/n."""
    size = x.shape[0]
    out = np.full(size, np.nan)
    s = _first_finite(x)
    gain = 0.0
    loss = 0.0
    prev = x[s] if s < size else 0.0
    for i in range(s + 1, size):
        cur = x[i]
        delta = cur - prev
        prev = cur
        if i > s + n:
            loss *= n - 1
            gain *= n - 1
        if not math.isfinite(delta):
            gain = math.nan
            loss = math.nan
        elif delta < 0.0:
            loss -= delta
        else:
            gain += delta
        if i >= s + n:
            loss /= n
            gain /= n
            out[i] = _rsi_value(gain, loss)
    return out


@_jit
def atr(high: FloatArray, low: FloatArray, close: FloatArray, n: int) -> FloatArray:
    """TA-Lib ATR: mean of the first n true ranges at bar s+n, then Wilder smoothing."""
    size = high.shape[0]
    out = np.full(size, np.nan)
    s = _first_finite3(high, low, close)
    value = 0.0
    prev_close = close[s] if s < size else 0.0
    for i in range(s + 1, size):
        tr = _true_range(high[i], low[i], prev_close)
        prev_close = close[i]
        if i < s + n:
            value += tr
        elif i == s + n:
            value = (value + tr) / n
            out[i] = value
        else:
            value = (value * (n - 1) + tr) / n
            out[i] = value
    return out


@_jit
def dmi(high: FloatArray, low: FloatArray, close: FloatArray, n: int) -> tuple[FloatArray, FloatArray, FloatArray]:
    """ADX, +DI, -DI with TA-Lib's seeding.

    The Wilder sums of +DM, -DM and TR start as the plain sum of n - 1 bar
    values (bars s+1..s+n-1); from bar s+n on, S = S - S/n + value, and the
    DIs are output. ADX is the mean of the first n DX values (bar s+2n-1),
    then Wilder-smoothed.
    """
    size = high.shape[0]
    adx_out = np.full(size, np.nan)
    plus_out = np.full(size, np.nan)
    minus_out = np.full(size, np.nan)
    s = _first_finite3(high, low, close)
    if s + n >= size:
        return adx_out, plus_out, minus_out
    prev_high = high[s]
    prev_low = low[s]
    prev_close = close[s]
    s_plus = 0.0
    s_minus = 0.0
    s_tr = 0.0
    sum_dx = 0.0
    adx = math.nan
    for i in range(s + 1, size):
        h = high[i]
        lo = low[i]
        up = h - prev_high
        down = prev_low - lo
        if math.isfinite(up) and math.isfinite(down):
            dm_plus = up if (up > 0.0 and up > down) else 0.0
            dm_minus = down if (down > 0.0 and down > up) else 0.0
        else:
            dm_plus = math.nan
            dm_minus = math.nan
        tr = _true_range(h, lo, prev_close)
        prev_high = h
        prev_low = lo
        prev_close = close[i]
        if i < s + n:
            s_plus += dm_plus
            s_minus += dm_minus
            s_tr += tr
            continue
        s_plus = s_plus - s_plus / n + dm_plus
        s_minus = s_minus - s_minus / n + dm_minus
        s_tr = s_tr - s_tr / n + tr
        if s_tr == 0.0:
            plus_di = 0.0
            minus_di = 0.0
        else:
            plus_di = 100.0 * (s_plus / s_tr)
            minus_di = 100.0 * (s_minus / s_tr)
        plus_out[i] = plus_di
        minus_out[i] = minus_di
        di_sum = minus_di + plus_di
        dx = 0.0 if di_sum == 0.0 else 100.0 * (abs(minus_di - plus_di) / di_sum)
        k = i - (s + n)
        if k < n:
            sum_dx += dx
            if k == n - 1:
                adx = sum_dx / n
                adx_out[i] = adx
        else:
            adx = (adx * (n - 1) + dx) / n
            adx_out[i] = adx
    return adx_out, plus_out, minus_out


@_jit
def obv(close: FloatArray, volume: FloatArray) -> FloatArray:
    """On-balance volume, compensated summation; starts at volume[s] (TA-Lib)."""
    size = close.shape[0]
    out = np.full(size, np.nan)
    s = 0
    while s < size and not (math.isfinite(close[s]) and math.isfinite(volume[s])):
        s += 1
    if s >= size:
        return out
    total = volume[s]
    comp = 0.0
    prev = close[s]
    out[s] = total
    for i in range(s + 1, size):
        c = close[i]
        v = volume[i]
        if not (math.isfinite(c) and math.isfinite(v)):
            total = math.nan
        if c > prev:
            total, err = _two_sum(total, v)
            comp += err
        elif c < prev:
            total, err = _two_sum(total, -v)
            comp += err
        prev = c
        out[i] = total + comp
    return out


@_jit
def vwap_cumulative(pv: FloatArray, volume: FloatArray, anchor: IntArray, use_anchor: bool) -> FloatArray:
    """Cumulative sum(pv)/sum(volume), restarted whenever the anchor key changes.

    Within a segment, leading non-finite bars are skipped; a later one makes
    the rest of the segment NaN. Segments whose volume so far is all zero are NaN.
    """
    size = pv.shape[0]
    out = np.full(size, np.nan)
    spv = 0.0
    cpv = 0.0
    sv = 0.0
    cv = 0.0
    nonzero = 0
    started = False
    poisoned = False
    for i in range(size):
        if use_anchor and i > 0 and anchor[i] != anchor[i - 1]:
            spv = 0.0
            cpv = 0.0
            sv = 0.0
            cv = 0.0
            nonzero = 0
            started = False
            poisoned = False
        p = pv[i]
        v = volume[i]
        if not (math.isfinite(p) and math.isfinite(v)):
            if started:
                poisoned = True
            continue
        started = True
        spv, err = _two_sum(spv, p)
        cpv += err
        sv, err = _two_sum(sv, v)
        cv += err
        if v != 0.0:
            nonzero += 1
        if not poisoned and nonzero > 0:
            out[i] = (spv + cpv) / (sv + cv)
    return out
