"""Calendar tables of an equity curve: the worst drawdown episodes and per-month / per-year returns.

Inputs as in `atb.analytics.metrics`: numpy equity plus int64 UTC-epoch-ns
times, or a pandas Series with a DatetimeIndex (naive times are UTC). Rows
are JSON-safe: ISO 8601 UTC strings, plain floats, None for "not yet".
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np

from atb.analytics.metrics import as_equity, series_times
from atb.analytics.performance import NS_PER_DAY, drawdown_series, iso_utc
from atb.analytics.performance import returns as simple_returns

DrawdownRow = dict[str, str | float | None]


def drawdown_table(equity: Any, ts: Any = None, top: int = 5) -> list[DrawdownRow]:
    """The `top` deepest drawdown episodes, deepest first (ties: earliest first).

    An episode is a maximal run of points strictly below the running peak, so
    episodes never overlap. Each row:

    - `start`: time of the peak the episode falls from (the point before the run);
    - `valley`: time of its lowest point (the first one, on ties);
    - `recovery`: time of the first point back at or above the peak, None if
      the curve ends underwater;
    - `depth_pct`: (valley / peak - 1) * 100, negative like `max_drawdown_pct`;
    - `length_days`: start -> recovery, or start -> last point if not recovered;
    - `valley_days`: start -> valley.

    Times are the curve's own point times, so the lengths are multiples of the
    point spacing. After ruin (equity <= 0) the curve counts as 0. An empty
    list when the curve never falls below a peak.
    """
    if top < 0:
        raise ValueError(f"top must be >= 0, got {top}")
    eq = as_equity(equity)
    t = series_times(equity, ts)
    ratio = drawdown_series(eq) + 1.0  # value / running peak
    under = ratio < 1.0
    if not under.any() or top == 0:
        return []
    step = np.diff(under.view(np.int8))
    starts = np.flatnonzero(step == 1) + 1  # first underwater point of each episode
    recoveries = np.flatnonzero(step == -1) + 1  # first point back at the peak
    ends = np.append(recoveries, len(eq)) if len(recoveries) < len(starts) else recoveries
    depths = np.minimum.reduceat(ratio, starts)
    order = np.lexsort((starts, depths))[:top]  # deepest first, then earliest
    rows: list[DrawdownRow] = []
    for k in order:
        lo, hi = int(starts[k]), int(ends[k])
        peak_t = int(t[lo - 1])
        valley_t = int(t[lo + int(ratio[lo:hi].argmin())])
        recovered = k < len(recoveries)
        end_t = int(t[hi]) if recovered else int(t[-1])
        rows.append(
            {
                "start": iso_utc(peak_t),
                "valley": iso_utc(valley_t),
                "recovery": iso_utc(end_t) if recovered else None,
                "depth_pct": (float(depths[k]) - 1.0) * 100.0,
                "length_days": (end_t - peak_t) / NS_PER_DAY,
                "valley_days": (valley_t - peak_t) / NS_PER_DAY,
            }
        )
    return rows


def period_returns(
    equity: Any, ts: Any = None, period: Literal["month", "year"] = "month"
) -> list[tuple[str, float | None]]:
    """Return of each calendar month ("2021-05") or year ("2021") in %, oldest first.

    A period's return is its last equity point (the value at the period end,
    UTC) over the previous period's last point; the first period is measured
    from the curve's first value (pass `[initial, *equity]` with the first
    time repeated to measure from the initial cash). This is pandas'
    `s.resample("ME"/"YE").last().pct_change()` with the first row filled in.
    Periods without any point are left out, and the next period's return
    then spans the gap. Ruin (equity <= 0) is -100 % once, 0 after. None only
    if a value overflows float64.
    """
    if period not in ("month", "year"):
        raise ValueError(f"period must be 'month' or 'year', got {period!r}")
    eq = as_equity(equity)
    t = series_times(equity, ts)
    unit = "M" if period == "month" else "Y"
    ids = t.astype("datetime64[ns]").astype(f"datetime64[{unit}]")
    is_last = np.append(ids[1:] != ids[:-1], True)
    ends = eq[is_last]
    r = simple_returns(np.concatenate(([eq[0]], ends)))
    labels = ids[is_last].astype(str)  # datetime64[M] -> "2021-05", [Y] -> "2021"
    return [
        (str(label), value * 100.0 if math.isfinite(value) else None)
        for label, value in zip(labels, r.tolist(), strict=True)
    ]
