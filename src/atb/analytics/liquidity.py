"""Liquidity and pre-trade cost estimates: "what will this size cost me?".

Every estimate here is a statistic of market data, so it is float64 (not
Decimal), numpy only (this module is imported by the engine's impact model,
which is on the backtest path).

Conventions shared by every function here:

* **UTC days.** Daily figures come from resampling the bars to 1d with
  `atb.data.resample` (UTC-midnight buckets). A day is *complete* when the
  data covers all of it: its bucket starts at or after the first bar's open
  and ends at or before the last bar's close time (`ts[-1] + timeframe`).
  Days cut by the start or end of the data (a partial first day, today's
  unfinished bar) are left out of daily averages, because their volume is
  only part of a day's. Missing bars inside a day (exchange outages) do not
  make it incomplete: the day is over and what traded is what was recorded.
  Days with no bars at all are absent, not zero.
* **Daily returns** are close-to-close over two consecutive calendar days;
  a return across a missing day is not used (it would span several days).
* **Quote volume** of a bar is `volume × close` (the bar's VWAP is unknown),
  summed per day; amounts are in the quote currency (USDT for BTC/USDT).
* **Fractions vs percent.** Functions return fractions of price (0.001 =
  10 bps) unless a name ends in `_pct` (x100).
* **Undefined is None**, never NaN: too little data (a spread from one bar,
  a volatility from one return) gives None; bad input (negative volume,
  non-positive prices, an unknown side) raises `UserInputError`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, overload

import numpy as np
import numpy.typing as npt

from atb.data.bars import NS_PER_DAY, Bars
from atb.data.resample import format_timeframe, resample
from atb.errors import UserInputError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

AMIHUD_SCALE = 1e6
"""Amihud ratios are reported per million units of quote currency traded."""

DEFAULT_IMPACT_COEFFICIENT = 0.5
"""Prefactor Y of the square-root law; see `sqrt_impact_fraction`."""

_CS_K = 3.0 - 2.0 * math.sqrt(2.0)


# --------------------------------------------------------------------------- daily series


@dataclass(frozen=True, slots=True)
class _Daily:
    ts: IntArray  # bucket open time (UTC midnight for sub-daily bars)
    close: FloatArray
    quote_volume: FloatArray
    complete: BoolArray
    has_return: BoolArray  # complete, and the previous calendar day has a close


_last_daily: tuple[Bars, _Daily] | None = None
"""The last `_daily` result with its bars (held, so `is` cannot match a new object at a reused address)."""


def _daily(bars: Bars) -> _Daily:
    """Daily buckets of `bars` (quote volume, closes); the same bars twice in a row are resampled once.

    A position's metrics ask for the average daily volume and the exit cost
    of the same bars one after the other, each resampling a million-row
    history (8 ms). `Bars` are never changed in place, so the last result is
    kept for the identical object.
    """
    global _last_daily
    last = _last_daily
    if last is not None and last[0] is bars:
        return last[1]
    daily = _resample_daily(bars)
    _last_daily = (bars, daily)
    return daily


def _resample_daily(bars: Bars) -> _Daily:
    _check_volume(bars.volume)
    quote = Bars(
        symbol=bars.symbol,
        ts=bars.ts,
        open=bars.open,
        high=bars.high,
        low=bars.low,
        close=bars.close,
        volume=bars.volume * bars.close,
        timeframe_ns=bars.timeframe_ns,
    )
    day = resample(quote, NS_PER_DAY)
    ts = np.asarray(day.ts, dtype=np.int64)
    if len(ts) == 0:
        empty = np.zeros(0, dtype=bool)
        return _Daily(ts, np.asarray(day.close), np.asarray(day.volume), empty, empty)
    span_end = int(bars.ts[-1]) + max(bars.timeframe_ns, 0)
    complete = (ts >= bars.ts[0]) & (ts + NS_PER_DAY <= span_end)
    has_return = complete.copy()
    has_return[0] = False
    has_return[1:] &= np.diff(ts) == NS_PER_DAY
    return _Daily(
        ts, np.asarray(day.close, dtype=np.float64), np.asarray(day.volume, dtype=np.float64), complete, has_return
    )


def _window(daily: _Daily, days: int) -> IntArray:
    """Indices of the last `days` complete days present in the data."""
    if days < 1:
        raise UserInputError(f"days must be >= 1, got {days}")
    return np.flatnonzero(daily.complete)[-days:].astype(np.int64)


def _simple_returns(daily: _Daily) -> FloatArray:
    r = np.zeros(len(daily.close))
    r[1:] = daily.close[1:] / daily.close[:-1] - 1.0
    return r


def _check_volume(volume: FloatArray) -> None:
    if not bool(np.all(np.isfinite(volume))) or bool(np.any(volume < 0)):
        raise UserInputError("volume must be finite and >= 0")


def _check_prices(name: str, values: npt.ArrayLike) -> FloatArray:
    a = np.asarray(values, dtype=np.float64)
    if a.ndim != 1:
        raise UserInputError(f"{name} must be one-dimensional")
    if not bool(np.all(np.isfinite(a))) or bool(np.any(a <= 0)):
        raise UserInputError(f"{name} must be finite and > 0")
    return a


# --------------------------------------------------------------------------- estimators


def _amihud_ratios(daily: _Daily, select: BoolArray | None = None) -> FloatArray:
    ok = daily.has_return & (daily.quote_volume > 0)
    if select is not None:
        ok &= select
    r = _simple_returns(daily)
    return np.abs(r[ok]) / daily.quote_volume[ok] * AMIHUD_SCALE


@overload
def amihud_illiquidity(bars: Bars, window: None = None) -> float | None: ...
@overload
def amihud_illiquidity(bars: Bars, window: int) -> FloatArray: ...
def amihud_illiquidity(bars: Bars, window: int | None = None) -> float | FloatArray | None:
    """Amihud (2002), "Illiquidity and stock returns: cross-section and time-series effects".

    ILLIQ = mean over days d of |R_d| / DVOL_d × 1e6, where R_d is the simple
    close-to-close return of UTC day d and DVOL_d its quote volume (Σ volume ×
    close over the day's bars). Unit: absolute return per 1,000,000 units of
    quote currency traded (the ×1e6 keeps crypto-sized numbers readable), so
    a higher value means a given notional moves the price more.

    Only complete days with a return from the previous calendar day count;
    zero-volume days are skipped (the ratio is undefined there, and a
    no-trade day says nothing about price response to volume). None when no
    day qualifies. With `window`, the trailing mean over each `window`
    consecutive qualifying days (length `n - window + 1`, empty if fewer).
    """
    ratios = _amihud_ratios(_daily(bars))
    if window is None:
        return float(np.mean(ratios)) if len(ratios) else None
    if window < 1:
        raise UserInputError(f"window must be >= 1, got {window}")
    if len(ratios) < window:
        return np.zeros(0)
    csum = np.concatenate((np.zeros(1), np.cumsum(ratios)))
    return (csum[window:] - csum[:-window]) / window


@dataclass(frozen=True, slots=True)
class RollSpread:
    spread: float
    """Effective spread in price units."""
    spread_pct: float
    """Spread as % of the mean price of the sample."""


def roll_spread(close: npt.ArrayLike) -> RollSpread | None:
    """Roll (1984), "A simple implicit measure of the effective bid-ask spread in an efficient market".

    If trades bounce between bid and ask at random (p_t = m_t + s/2 · q_t,
    q_t = ±1 independent) around an efficient random-walk mid m_t, then
    cov(Δp_t, Δp_{t-1}) = -s²/4, so s = 2·sqrt(-cov). The covariance is the
    sample covariance (ddof=1, each leg demeaned) of the consecutive price
    changes. A non-negative covariance (trending or momentum in the sample)
    has no spread interpretation; 0.0 is returned, as is customary, rather
    than an imaginary number. Strictly alternating bounces (not random) give
    cov = -s², i.e. an estimate of 2s: the model needs random trade signs.

    None for fewer than 4 prices (two pairs of price changes are needed).
    """
    p = _check_prices("close", close)
    if len(p) < 4:
        return None
    dp = np.diff(p)
    x, y = dp[1:], dp[:-1]
    cov = float(np.sum((x - x.mean()) * (y - y.mean())) / (len(x) - 1))
    spread = 2.0 * math.sqrt(-cov) if cov < 0 else 0.0
    return RollSpread(spread=spread, spread_pct=100.0 * spread / float(np.mean(p)))


def corwin_schultz_spread(high: npt.ArrayLike, low: npt.ArrayLike) -> float | None:
    """Corwin & Schultz (2012), "A simple way to estimate bid-ask spreads from daily high and low prices".

    Highs are buyer-initiated (at the ask), lows seller-initiated (at the
    bid), so the high/low range holds the spread plus volatility; volatility
    grows with the horizon, the spread does not. For each pair of
    consecutive bars t, t+1:

        β = ln(H_t/L_t)² + ln(H_{t+1}/L_{t+1})²
        γ = ln(max(H_t, H_{t+1}) / min(L_t, L_{t+1}))²
        α = (sqrt(2β) − sqrt(β)) / (3 − 2√2) − sqrt(γ / (3 − 2√2))
        S = 2(e^α − 1) / (1 + e^α)

    Negative two-bar estimates are set to 0 before averaging (the authors'
    recommended treatment) and the result is the mean S over all pairs, a
    fraction of price. The paper's overnight-return adjustment is not
    applied: crypto trades around the clock, so there is no close-to-open
    gap to remove. None for fewer than 2 bars.
    """
    h = _check_prices("high", high)
    lo = _check_prices("low", low)
    if len(h) != len(lo):
        raise UserInputError(f"high has {len(h)} values, low has {len(lo)}")
    if bool(np.any(h < lo)):
        raise UserInputError("high must be >= low on every bar")
    if len(h) < 2:
        return None
    range_sq = np.log(h / lo) ** 2
    beta = range_sq[:-1] + range_sq[1:]
    gamma = np.log(np.maximum(h[:-1], h[1:]) / np.minimum(lo[:-1], lo[1:])) ** 2
    alpha = (np.sqrt(2.0 * beta) - np.sqrt(beta)) / _CS_K - np.sqrt(gamma / _CS_K)
    e = np.exp(alpha)
    s = 2.0 * (e - 1.0) / (1.0 + e)
    return float(np.mean(np.maximum(s, 0.0)))


def average_daily_volume(bars: Bars, days: int = 30) -> float | None:
    """Mean quote-currency volume per day over the last `days` complete UTC days.

    Fewer complete days than `days` in the data: the mean of those there
    are. None when there is no complete day (e.g. less than a day of 5m
    bars). A zero-volume day counts as a zero (the market was there, nobody
    traded); a day without any bar is absent.
    """
    daily = _daily(bars)
    idx = _window(daily, days)
    return float(np.mean(daily.quote_volume[idx])) if len(idx) else None


def daily_volatility(bars: Bars, days: int = 30) -> float | None:
    """Sample standard deviation (ddof=1) of daily log returns over the last `days` complete UTC days.

    A fraction per day (not annualised), the σ of the square-root law. None
    for fewer than two usable returns.
    """
    daily = _daily(bars)
    return _daily_sigma(daily, _window(daily, days))


def _daily_sigma(daily: _Daily, idx: IntArray) -> float | None:
    idx = idx[daily.has_return[idx]]
    if len(idx) < 2:
        return None
    logret = np.log(daily.close[idx] / daily.close[idx - 1])
    return float(np.std(logret, ddof=1))


def participation_rate(quantity: float, volume: float) -> float:
    """quantity / volume, both in the same unit (base or quote, per bar or per day).

    The share of the market's volume an order would be; the square-root law
    is calibrated on participations well below 1 (a few % of daily volume).
    """
    q, v = float(quantity), float(volume)
    if not math.isfinite(q) or q < 0:
        raise UserInputError(f"order quantity must be finite and >= 0, got {quantity}")
    if not math.isfinite(v) or v <= 0:
        raise UserInputError(f"volume must be finite and > 0, got {volume}")
    return q / v


@overload
def sqrt_impact_fraction(coefficient: float, sigma: float, quantity: float, volume: float) -> float: ...
@overload
def sqrt_impact_fraction(
    coefficient: float | FloatArray, sigma: float | FloatArray, quantity: float | FloatArray, volume: float | FloatArray
) -> float | FloatArray: ...
def sqrt_impact_fraction(
    coefficient: float | FloatArray, sigma: float | FloatArray, quantity: float | FloatArray, volume: float | FloatArray
) -> float | FloatArray:
    """The square-root law of market impact: I = Y · σ · sqrt(Q / V), a fraction of price.

    σ is the volatility over the horizon V is measured on (daily σ with
    daily volume; per-bar σ with bar volume); Q and V in the same unit.
    Empirically (Tóth et al. 2011, "Anomalous price impact and the critical
    nature of liquidity in financial markets"; Almgren, Thum, Hauptmann & Li
    2005, "Direct estimation of equity market impact", for context) the
    prefactor Y is of order one, typically 0.5-1 for metaorders of up to a
    few % of daily volume; `DEFAULT_IMPACT_COEFFICIENT` = 0.5 is the low end,
    a modest rather than pessimistic default.

    The single kernel shared by the estimates here and the engine's
    `SquareRootImpact` slippage model. Scalars in, float out (computed with
    `math`, bit-identical to the engine's historic inline formula); any
    array in, broadcast float64 array out. Requires coefficient, σ and Q
    finite and >= 0 and V finite and > 0.
    """
    if np.ndim(coefficient) == np.ndim(sigma) == np.ndim(quantity) == np.ndim(volume) == 0:
        c, s, q, v = float(coefficient), float(sigma), float(quantity), float(volume)
        if not (c >= 0 and s >= 0 and q >= 0 and v > 0) or not all(map(math.isfinite, (c, s, q, v))):
            raise UserInputError(
                f"square-root impact needs coefficient, sigma, quantity >= 0 and volume > 0; got {c}, {s}, {q}, {v}"
            )
        return c * s * math.sqrt(q / v)
    ca, sa, qa, va = (np.asarray(x, dtype=np.float64) for x in (coefficient, sigma, quantity, volume))
    bad = ~(np.isfinite(ca) & np.isfinite(sa) & np.isfinite(qa) & np.isfinite(va))
    if bool(np.any(bad)) or bool(np.any(ca < 0) | np.any(sa < 0) | np.any(qa < 0) | np.any(va <= 0)):
        raise UserInputError("square-root impact needs finite coefficient, sigma, quantity >= 0 and volume > 0")
    out: FloatArray = ca * sa * np.sqrt(qa / va)
    return out


# --------------------------------------------------------------------------- pre-trade estimate


@dataclass(frozen=True, slots=True)
class OrderCostEstimate:
    """Expected cost of one taker order, before fees, from the last `days` complete UTC days.

    Fractions are of `price`; amounts in quote currency.
    """

    symbol: str
    side: str
    quantity: float
    price: float
    """Last close."""
    notional: float
    adv: float
    """Average daily quote volume."""
    days_used: int
    participation: float
    """notional / adv."""
    daily_sigma: float
    coefficient: float
    impact_fraction: float
    impact_cost: float
    spread_fraction: float
    """Full Corwin-Schultz spread over the window's bars."""
    half_spread_fraction: float
    half_spread_cost: float
    total_fraction: float
    total_cost: float
    expected_price: float
    """Average fill price: price × (1 ± total_fraction), against the trader."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def estimate_order_cost(
    bars: Bars,
    quantity: float,
    side: str,
    *,
    coefficient: float = DEFAULT_IMPACT_COEFFICIENT,
    days: int = 30,
) -> OrderCostEstimate:
    """What a market order of `quantity` (base units) is expected to cost right now.

    cost = half spread + impact, where the half spread is half the
    Corwin-Schultz estimate over the window's own bars (crossing the book
    once costs half the bid-ask spread) and impact the square-root law with
    daily σ and ADV over the last `days` complete UTC days. Exchange fees
    are not included (they belong to the instrument). The estimate is
    symmetric in side; `side` fixes the sign of `expected_price`.
    """
    side_key = side.strip().lower() if isinstance(side, str) else ""
    if side_key not in ("buy", "sell"):
        raise UserInputError(f"side must be 'buy' or 'sell', got {side!r}")
    q = float(quantity)
    if not math.isfinite(q) or q <= 0:
        raise UserInputError(f"order quantity must be a positive number, got {quantity}")
    if len(bars) == 0:
        raise UserInputError("cannot estimate order cost without bars")
    daily = _daily(bars)
    idx = _window(daily, days)
    sigma = _daily_sigma(daily, idx)
    if sigma is None:
        raise UserInputError("order cost estimate needs at least 3 complete consecutive UTC days of bars")
    adv = float(np.mean(daily.quote_volume[idx]))
    if adv <= 0:
        raise UserInputError(f"no volume traded in the last {len(idx)} complete days: impact is undefined")
    lo, hi = _bar_range(bars, daily, idx)
    spread = corwin_schultz_spread(bars.high[lo:hi], bars.low[lo:hi]) or 0.0
    price = float(bars.close[-1])
    notional = q * price
    impact = sqrt_impact_fraction(coefficient, sigma, notional, adv)
    half = spread / 2.0
    total = impact + half
    sign = 1.0 if side_key == "buy" else -1.0
    return OrderCostEstimate(
        symbol=bars.symbol,
        side=side_key,
        quantity=q,
        price=price,
        notional=notional,
        adv=adv,
        days_used=len(idx),
        participation=participation_rate(notional, adv),
        daily_sigma=sigma,
        coefficient=float(coefficient),
        impact_fraction=impact,
        impact_cost=impact * notional,
        spread_fraction=spread,
        half_spread_fraction=half,
        half_spread_cost=half * notional,
        total_fraction=total,
        total_cost=total * notional,
        expected_price=price * (1.0 + sign * total),
    )


def _bar_range(bars: Bars, daily: _Daily, idx: IntArray) -> tuple[int, int]:
    """Rows of `bars` inside the days `idx` (contiguous: the window is the last complete days)."""
    start = int(daily.ts[idx[0]])
    end = int(daily.ts[idx[-1]]) + NS_PER_DAY
    return int(np.searchsorted(bars.ts, start, "left")), int(np.searchsorted(bars.ts, end, "left"))


def _iso_day(ns: int) -> str:
    return datetime.fromtimestamp(ns // 1_000_000_000, tz=UTC).strftime("%Y-%m-%d")


def liquidity_report(
    bars: Bars,
    order_quantities: tuple[float, ...] = (),
    *,
    adv_fractions: tuple[float, ...] = (0.001, 0.01, 0.05),
    coefficient: float = DEFAULT_IMPACT_COEFFICIENT,
    days: int = 30,
) -> dict[str, Any]:
    """JSON-ready liquidity summary of the last `days` complete UTC days, for `atb risk`.

    Cost estimates are given for orders sized as `adv_fractions` of ADV
    (0.1 %, 1 %, 5 % by default) and for any explicit `order_quantities`
    (base units). Every estimator uses the same window (the bars of those
    days); values are plain floats/ints/str, fractions as `_pct` (x100)
    where named so, None when undefined.
    """
    for size in (*adv_fractions, *order_quantities):
        if not math.isfinite(float(size)) or size <= 0:
            raise UserInputError(f"order sizes must be positive numbers, got {size}")
    daily = _daily(bars)
    idx = _window(daily, days)
    out: dict[str, Any] = {
        "symbol": bars.symbol,
        "timeframe": format_timeframe(bars.timeframe_ns),
        "bars": len(bars),
        "days_requested": days,
        "days_used": len(idx),
        "window_start": _iso_day(int(daily.ts[idx[0]])) if len(idx) else None,
        "window_end": _iso_day(int(daily.ts[idx[-1]])) if len(idx) else None,
        "last_price": float(bars.close[-1]) if len(bars) else None,
        "adv_quote": None,
        "daily_volatility_pct": None,
        "amihud_illiquidity": None,
        "roll_spread": None,
        "roll_spread_pct": None,
        "corwin_schultz_spread_pct": None,
        "impact_coefficient": float(coefficient),
        "estimates": [],
    }
    if not len(idx):
        return out
    out["adv_quote"] = float(np.mean(daily.quote_volume[idx]))
    sigma = _daily_sigma(daily, idx)
    out["daily_volatility_pct"] = None if sigma is None else 100.0 * sigma
    select = np.zeros(len(daily.ts), dtype=bool)
    select[idx] = True
    ratios = _amihud_ratios(daily, select)
    out["amihud_illiquidity"] = float(np.mean(ratios)) if len(ratios) else None
    lo, hi = _bar_range(bars, daily, idx)
    roll = roll_spread(bars.close[lo:hi])
    if roll is not None:
        out["roll_spread"], out["roll_spread_pct"] = roll.spread, roll.spread_pct
    cs = corwin_schultz_spread(bars.high[lo:hi], bars.low[lo:hi])
    out["corwin_schultz_spread_pct"] = None if cs is None else 100.0 * cs
    price = float(bars.close[-1])
    sizes = [("adv_fraction", f, f * out["adv_quote"] / price) for f in adv_fractions]
    sizes += [("quantity", q, float(q)) for q in order_quantities]
    if sigma is None or out["adv_quote"] <= 0:
        return out
    for kind, value, qty in sizes:
        est = estimate_order_cost(bars, qty, "buy", coefficient=coefficient, days=days)
        out["estimates"].append(
            {
                "size_as": kind,
                "size": float(value),
                "quantity": est.quantity,
                "notional": est.notional,
                "participation_pct": 100.0 * est.participation,
                "impact_bps": 1e4 * est.impact_fraction,
                "half_spread_bps": 1e4 * est.half_spread_fraction,
                "total_bps": 1e4 * est.total_fraction,
                "total_cost": est.total_cost,
            }
        )
    return out
