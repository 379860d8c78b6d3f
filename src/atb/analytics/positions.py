"""Position and portfolio metrics: the one place the CLI, the REST API and the live node read them from.

Two kinds of number, kept apart on purpose:

* **Ledger values** (quantity, notional, entry/mark price, PnL, fees, equity,
  exposures) are `Decimal`, computed from the position's integer ledger
  (`lots`, `cost_units`, ...) and the mark without rounding, written to the
  quote currency's decimals when that loses no digit. The one division, the
  average entry, is correctly rounded at 60 significant digits
  (`atb.domain.money.quotient`). The liquidation price, a model, is a
  `Decimal` on the tick grid (see `liquidation_price`).
* **Statistics** (percentages, ratios, VaR, liquidity score, cost estimates)
  are `float`. Every float is finite or None (JSON null), never NaN or inf.

Conventions:

* `quantity` and `notional` (= quantity × mark) are magnitudes (>= 0); `side`
  gives the direction. Net exposure is signed (shorts negative).
* Percentages are x100. `unrealised_pnl_pct` is of the entry cost
  (|quantity| × average entry). `realised_pnl` is gross of fees, as in the
  ledger; `fees_paid` are the fees of every fill in this instrument.
* `mae_pct` / `mfe_pct` follow the backtest's trade convention
  (`atb.engine.trades.excursions`): signed % of the average entry, long
  MFE = max high / entry - 1 and MAE = min low / entry - 1, mirrored for a
  short; so MAE is usually <= 0 and MFE >= 0. They use the bars that overlap
  the holding period (open time before `now_ns`, close time after the
  position opened; the entry bar's full range counts, as in the backtest)
  plus the mark.
* Only bars that had opened by `now_ns` (`ts < now_ns`) are read: metrics
  for a past instant never see later data.
* `var_95_pct` / `cvar_95_pct`: one-bar historical VaR/CVaR
  (`atb.analytics.risk.var_cvar`) of the position's value, from close-to-close
  returns of the bars (negated for a short); positive = loss. `var_95` is the
  same VaR in quote currency (var_95_pct / 100 × notional). The caller picks
  the look-back by the bars it passes.
* `leverage` is the *effective* leverage notional / equity (None without
  equity or when equity <= 0); the `leverage` argument is the margin setting
  used for the liquidation price only.
* A flat position has zero quantity, notional and unrealised PnL, keeps its
  realised PnL and fees, and every other metric None.
"""

from __future__ import annotations

import decimal
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from decimal import Decimal
from functools import reduce
from typing import Any

import numpy as np

from atb.analytics.liquidity import average_daily_volume, estimate_order_cost
from atb.analytics.performance import FloatArray, last_drawdown
from atb.analytics.risk import portfolio_var, var_cvar
from atb.data.bars import NS_PER_SECOND, Bars
from atb.domain import Account, InvalidValueError, Position
from atb.domain.money import Currency, Rounding, product, quantize_to_step, quotient, shifted, to_decimal
from atb.errors import UserInputError

LEVEL = 0.95
"""Confidence of every VaR/CVaR here."""

_EXACT = decimal.Context(
    prec=decimal.MAX_PREC,
    Emax=decimal.MAX_EMAX,
    Emin=decimal.MIN_EMIN,
    traps=[decimal.InvalidOperation, decimal.Inexact],
)
"""Sums and differences of ledger amounts: never rounded by whatever the global context says."""

_ZERO = Decimal(0)
_ONE = Decimal(1)


def _plain(value: Any) -> Any:
    """JSON-ready: Decimal as a fixed-point string (never "1E+2"), non-finite float as None."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, list):
        return [v.as_dict() if isinstance(v, PositionMetrics) else _plain(v) for v in value]
    return value


def _as_dict(obj: Any) -> dict[str, Any]:
    return {f.name: _plain(getattr(obj, f.name)) for f in fields(obj)}


@dataclass(frozen=True, slots=True)
class PositionMetrics:
    """Metrics of one position at `mark` (see the module docstring for units and signs)."""

    symbol: str
    currency: str
    """Quote currency: the unit of every money field."""
    side: str
    """"long", "short" or "flat"."""
    quantity: Decimal
    notional: Decimal
    avg_entry_price: Decimal | None
    mark_price: Decimal
    unrealised_pnl: Decimal
    unrealised_pnl_pct: float | None
    realised_pnl: Decimal
    fees_paid: Decimal
    holding_time_s: float | None
    mae_pct: float | None
    mfe_pct: float | None
    leverage: float | None
    distance_to_stop_pct: float | None
    liquidation_price: Decimal | None
    distance_to_liquidation_pct: float | None
    var_95_pct: float | None
    cvar_95_pct: float | None
    var_95: float | None
    liquidity_score: float | None
    exit_cost_estimate: float | None

    def as_dict(self) -> dict[str, Any]:
        """Plain str/float/None values, keys in field order; Decimals as fixed-point strings."""
        return _as_dict(self)


@dataclass(frozen=True, slots=True)
class PortfolioMetrics:
    """Account-level exposure, concentration and risk at `marks`, with each open position's metrics."""

    currency: str
    equity: Decimal
    cash: Decimal
    gross_exposure: Decimal
    """Σ |quantity × mark| over open positions."""
    net_exposure: Decimal
    """Σ signed quantity × mark (shorts negative)."""
    gross_exposure_pct: float | None
    """Of equity; None when equity <= 0."""
    net_exposure_pct: float | None
    largest_position: str | None
    largest_position_pct: float | None
    """The largest position's share of gross exposure (%); None without exposure."""
    herfindahl: float | None
    """Σ (|exposure_i| / gross)^2: 1 for one position, 1/N for N equal ones; None without exposure."""
    var_95_pct: float | None
    cvar_95_pct: float | None
    drawdown_pct: float | None
    positions: list[PositionMetrics] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Plain values as `PositionMetrics.as_dict`, positions as a list of their dicts."""
        return _as_dict(self)


# --------------------------------------------------------------------------- helpers


def _decimal(value: Decimal, what: str) -> Decimal:
    """A finite Decimal (str/int accepted, float refused); bad values are the caller's input error."""
    try:
        return to_decimal(value, what)
    except InvalidValueError as exc:
        raise UserInputError(str(exc)) from None


def _money(amount: Decimal, currency: Currency) -> Decimal:
    """`amount` written to the currency's decimals when that loses no digit (as ledger `Money` prints)."""
    try:
        return amount.quantize(currency.unit, context=_EXACT)
    except decimal.Inexact:  # a mark finer than the tick: keep every digit
        return amount


def _pct(num: Decimal, den: Decimal) -> float | None:
    """num / den × 100 as a float; None for a zero denominator or a value float cannot hold."""
    if den == 0:
        return None
    value = float(quotient(shifted(num, 2), den))
    return value if math.isfinite(value) else None


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _visible(bars: Bars, now_ns: int) -> Bars:
    """The bars that had opened by `now_ns` (no look-ahead for a past instant)."""
    return bars.slice(0, int(np.searchsorted(bars.ts, now_ns, "left")))


def _excursions(bars: Bars, opened_ns: int, mark: float, entry: float, sign: int) -> tuple[float, float]:
    """(MAE %, MFE %) over the bars overlapping [opened_ns, now) plus the mark (backtest convention)."""
    first = int(np.searchsorted(bars.ts, opened_ns - bars.timeframe_ns, "right"))  # ts + tf > opened_ns
    held = slice(first, len(bars))
    high = max(float(bars.high[held].max()), mark) if first < len(bars) else mark
    low = min(float(bars.low[held].min()), mark) if first < len(bars) else mark
    up = (high / entry - 1.0) * 100.0
    down = (low / entry - 1.0) * 100.0
    return (down, up) if sign > 0 else (-up, -down)


def liquidation_price(entry: Decimal, sign: int, leverage: Decimal, maintenance_margin: Decimal) -> Decimal:
    """Isolated-margin liquidation price of a position entered at `entry` with `leverage` L.

    The position posts initial margin E·q / L and is liquidated when its
    margin plus unrealised PnL falls to the maintenance margin m·P·q:

        long:  E/L + (P - E) = m P   →   P = E (1 - 1/L) / (1 - m) = E (L - 1) / (L (1 - m))
        short: E/L + (E - P) = m P   →   P = E (1 + 1/L) / (1 + m) = E (L + 1) / (L (1 + m))

    Fees, funding and the venue's tiered maintenance amounts are ignored, so
    a real venue liquidates slightly earlier (closer to the mark). Exact to
    60 significant digits; `position_metrics` reports it rounded onto the
    tick grid toward the mark (up for a long, down for a short), the side
    that warns early.
    """
    if sign > 0:
        return quotient(product(entry, leverage - _ONE), product(leverage, _ONE - maintenance_margin))
    return quotient(product(entry, leverage + _ONE), product(leverage, _ONE + maintenance_margin))


def liquidity_score(notional: float, adv: float) -> float:
    """0-100, higher = more liquid: -25 × log10(notional / ADV) clipped to [0, 100].

    Each tenfold of the position's share of average daily (quote) volume
    costs 25 points: 0.01 % of ADV or less → 100, 0.1 % → 75, 1 % → 50,
    10 % → 25, a whole day's volume or more → 0. Logarithmic because the
    square-root impact law makes cost grow with the order of magnitude of
    participation rather than linearly. Zero volume scores 0.
    """
    if adv <= 0.0:
        return 0.0
    if notional <= 0.0:
        return 100.0
    share = notional / adv
    return min(100.0, max(0.0, -25.0 * math.log10(share)))


# --------------------------------------------------------------------------- one position


def position_metrics(
    position: Position,
    mark: Decimal,
    *,
    now_ns: int,
    bars: Bars | None = None,
    stop_price: Decimal | None = None,
    leverage: Decimal = Decimal(1),
    maintenance_margin: Decimal = Decimal("0.005"),
    equity: Decimal | None = None,
) -> PositionMetrics:
    """Metrics of `position` marked at `mark` at time `now_ns` (UTC epoch ns).

    `bars` (the position's instrument, any timeframe) enables MAE/MFE, VaR,
    the liquidity score and the exit cost; `stop_price` the stop distance
    (long: (mark - stop) / mark, short: (stop - mark) / mark, so negative
    means the stop is already through); `leverage` > 1 the isolated-margin
    liquidation price (`liquidation_price`) and its distance, measured the
    same way; `equity` the effective leverage. The exit cost is the
    `estimate_order_cost` fraction (half Corwin-Schultz spread + square-root
    impact, no fees) of closing the whole position now, times its notional
    at the mark; None when the bars hold fewer than 3 complete consecutive
    UTC days or no volume.
    """
    inst = position.instrument
    mark = _decimal(mark, "mark")
    if mark <= 0:
        raise UserInputError(f"mark must be positive, got {mark}")
    leverage = _decimal(leverage, "leverage")
    if leverage < 1:
        raise UserInputError(f"leverage must be at least 1, got {leverage}")
    maintenance_margin = _decimal(maintenance_margin, "maintenance margin")
    if not _ZERO <= maintenance_margin < _ONE:
        raise UserInputError(f"maintenance margin must be in [0, 1), got {maintenance_margin}")
    if stop_price is not None:
        stop_price = _decimal(stop_price, "stop price")
        if stop_price <= 0:
            raise UserInputError(f"stop price must be positive, got {stop_price}")
    if equity is not None:
        equity = _decimal(equity, "equity")

    qp = inst.quote.precision
    lots = position.lots
    sign = 1 if lots > 0 else -1
    signed_qty = product(Decimal(lots), inst.lot)
    notional = abs(product(signed_qty, mark))
    cost = shifted(Decimal(position.cost_units), -qp)  # signed, as lots
    unrealised = _EXACT.subtract(product(signed_qty, mark), cost)

    held_s = effective = stop_pct = liq = liq_pct = None
    mae = mfe = var_pct = cvar_pct = var_money = score = exit_cost = None
    if lots:
        if now_ns < position.opened_ts:
            raise UserInputError(f"now_ns {now_ns} is before the position opened ({position.opened_ts})")
        held_s = (now_ns - position.opened_ts) / NS_PER_SECOND
        entry = quotient(cost, signed_qty)
        if equity is not None and equity > 0:
            effective = _finite(float(quotient(notional, equity)))
        if stop_price is not None:
            stop_pct = _pct(_toward_loss(mark, stop_price, sign), mark)
        if leverage > 1:
            exact = liquidation_price(entry, sign, leverage, maintenance_margin)
            liq = quantize_to_step(exact, inst.tick, Rounding.CEILING if sign > 0 else Rounding.FLOOR)
            liq_pct = _pct(_toward_loss(mark, liq, sign), mark)
        if bars is not None:
            seen = _visible(bars, now_ns)
            mae, mfe = _excursions(seen, position.opened_ts, float(mark), float(entry), sign)
            closes = seen.close
            if len(closes) >= 2:
                est = var_cvar(sign * (closes[1:] / closes[:-1] - 1.0), LEVEL, "historical")
                var_pct, cvar_pct = _finite(est.var_pct), _finite(est.cvar_pct)
                var_money = None if var_pct is None else _finite(var_pct / 100.0 * float(notional))
            adv = average_daily_volume(seen) if len(seen) else None
            score = None if adv is None else liquidity_score(float(notional), adv)
            exit_cost = _exit_cost(seen, float(abs(signed_qty)), sign, float(notional))

    return PositionMetrics(
        symbol=str(inst.id),
        currency=inst.quote.code,
        side=position.side.value,
        quantity=abs(signed_qty),
        notional=_money(notional, inst.quote),
        avg_entry_price=position.avg_entry_price,
        mark_price=mark,
        unrealised_pnl=_money(unrealised, inst.quote),
        unrealised_pnl_pct=_pct(unrealised, abs(cost)),
        realised_pnl=shifted(Decimal(position.realised_units), -qp),
        fees_paid=shifted(Decimal(position.fees_units), -qp),
        holding_time_s=held_s,
        mae_pct=_finite(mae),
        mfe_pct=_finite(mfe),
        leverage=effective,
        distance_to_stop_pct=stop_pct,
        liquidation_price=liq,
        distance_to_liquidation_pct=liq_pct,
        var_95_pct=var_pct,
        cvar_95_pct=cvar_pct,
        var_95=var_money,
        liquidity_score=score,
        exit_cost_estimate=exit_cost,
    )


def _toward_loss(mark: Decimal, level: Decimal, sign: int) -> Decimal:
    """How far the price can move against the position before reaching `level` (negative: already past)."""
    return _EXACT.subtract(mark, level) if sign > 0 else _EXACT.subtract(level, mark)


def _exit_cost(bars: Bars, quantity: float, sign: int, notional: float) -> float | None:
    """Expected cost of closing `quantity` now, at the mark's notional; None when the bars cannot say."""
    if len(bars) == 0:
        return None
    try:
        est = estimate_order_cost(bars, quantity, "sell" if sign > 0 else "buy")
    except UserInputError:  # fewer than 3 complete consecutive days, or no volume in the window
        return None
    return _finite(est.total_fraction * notional)


# --------------------------------------------------------------------------- portfolio


def portfolio_metrics(
    account: Account,
    marks: Mapping[str, Decimal],
    *,
    now_ns: int,
    bars: Mapping[str, Bars] | None = None,
    equity_curve: Sequence[Decimal] | FloatArray | None = None,
) -> PortfolioMetrics:
    """Exposure, concentration and risk of `account` at `marks` (keyed by symbol, e.g. "BTC/USDT").

    Every open position needs a mark; `positions` lists the open ones, by
    symbol. Each is measured by `position_metrics` with the account's equity
    and `leverage=1`: the account's margin is cross (gross exposure against
    total equity), so the isolated-margin liquidation price does not apply.

    Portfolio VaR/CVaR (% of equity, one bar, historical) is
    `risk.portfolio_var` on the close-to-close returns of every open
    position's bars, weighted by signed exposure / equity. The series are
    aligned on their common bar times (same timeframe required), and a
    return spanning a gap in any series (consecutive common times more than
    one bar apart) is dropped. None when a position has no bars, the
    timeframes differ, fewer than 2 aligned returns remain, or equity <= 0;
    0.0 when nothing is open (cash carries no market risk).

    `drawdown_pct` is the last point of `equity_curve` (Decimals, or a float
    array such as a backtest's per-bar equity) against its running peak
    (<= 0, x100, as `performance.drawdown_series`); the curve should end at
    the current equity. None without a curve.
    """
    open_positions = sorted(
        ((str(iid), pos) for iid, pos in account.positions.items() if pos.lots), key=lambda item: item[0]
    )
    missing = [sym for sym, _ in open_positions if sym not in marks]
    if missing:
        raise UserInputError(f"no mark for open position(s): {', '.join(missing)}")
    prices = {sym: _decimal(marks[sym], f"mark of {sym}") for sym, _ in open_positions}
    values = {sym: product(product(Decimal(pos.lots), pos.instrument.lot), prices[sym]) for sym, pos in open_positions}

    cash = account.cash.amount
    net = reduce(_EXACT.add, values.values(), _ZERO)
    gross = reduce(_EXACT.add, (abs(v) for v in values.values()), _ZERO)
    equity = _EXACT.add(cash, net)

    rows = [
        position_metrics(pos, prices[sym], now_ns=now_ns, bars=None if bars is None else bars.get(sym), equity=equity)
        for sym, pos in open_positions
    ]
    largest = max(values, key=lambda sym: abs(values[sym])) if gross else None
    hhi = None
    if gross:
        squares = reduce(_EXACT.add, (product(v, v) for v in values.values()), _ZERO)
        hhi = float(quotient(squares, product(gross, gross)))
    var_pct, cvar_pct = _portfolio_var(open_positions, values, equity, bars, now_ns)
    return PortfolioMetrics(
        currency=account.currency.code,
        equity=_money(equity, account.currency),
        cash=cash,
        gross_exposure=_money(gross, account.currency),
        net_exposure=_money(net, account.currency),
        gross_exposure_pct=_pct(gross, equity) if equity > 0 else None,
        net_exposure_pct=_pct(net, equity) if equity > 0 else None,
        largest_position=largest,
        largest_position_pct=None if largest is None else _pct(abs(values[largest]), gross),
        herfindahl=hhi,
        var_95_pct=var_pct,
        cvar_95_pct=cvar_pct,
        drawdown_pct=_drawdown_pct(equity_curve),
        positions=rows,
    )


def _portfolio_var(
    open_positions: list[tuple[str, Position]],
    values: Mapping[str, Decimal],
    equity: Decimal,
    bars: Mapping[str, Bars] | None,
    now_ns: int,
) -> tuple[float | None, float | None]:
    if not open_positions:
        return 0.0, 0.0
    if bars is None or equity <= 0 or any(sym not in bars for sym, _ in open_positions):
        return None, None
    series = [_visible(bars[sym], now_ns) for sym, _ in open_positions]
    timeframe = series[0].timeframe_ns
    if any(b.timeframe_ns != timeframe for b in series):
        return None, None
    if len(series) == 1:  # nothing to align
        common, closes = series[0].ts, series[0].close[:, None]
    else:
        common = reduce(np.intersect1d, [b.ts for b in series])
        closes = np.column_stack([b.close[np.searchsorted(b.ts, common)] for b in series])
    if len(common) < 3:
        return None, None
    consecutive = np.diff(common) == timeframe
    returns = (closes[1:] / closes[:-1] - 1.0)[consecutive]
    if len(returns) < 2:
        return None, None
    weights = [float(quotient(values[sym], equity)) for sym, _ in open_positions]
    risk = portfolio_var(returns, weights, LEVEL, "historical")
    return _finite(risk.var_pct), _finite(risk.cvar_pct)


def _drawdown_pct(curve: Sequence[Decimal] | FloatArray | None) -> float | None:
    if curve is None or len(curve) == 0:
        return None
    eq = curve if isinstance(curve, np.ndarray) else np.array([float(v) for v in curve], dtype=np.float64)
    if eq[0] <= 0:
        raise UserInputError("the equity curve must start positive")
    return _finite(last_drawdown(eq) * 100.0)
