"""The individual pre-trade limits, each a pure function of (order estimate, state, config).

Each returns None when the order passes, or a denial. The engine runs them in
the fixed order of `RiskEngine.check`'s docstring; the first denial wins.

Sizes. An order sized in lots is valued at the price it names (limit, else
stop, else the last price). An order sized by notional or equity fraction
has no lots yet (the venue resolves them at the fill price), so it is
estimated by its budget: the notional itself, or fraction × current equity.
Positions and gross exposure are always marked at the last price, and the
position after the order is the current position value ± the order's value
at the last price (lots orders) or ± its budget (notional/fraction orders).

All comparisons are exact: ratios are compared by cross-multiplying
Decimals, never by dividing.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from atb.analytics.risk import portfolio_var
from atb.domain import Instrument, InstrumentId, Order, OrderType
from atb.domain.money import product, quotient, shifted
from atb.risk.config import RiskConfig
from atb.risk.decision import RiskDecision, RiskReason
from atb.risk.state import EXACT, FloatArray

_HUNDRED = Decimal(100)
_ZERO = Decimal(0)


def _fmt(value: Decimal) -> str:
    """A money/price value exactly, without exponent or trailing zeros; ratios (`_pct`) are rounded for reading."""
    return f"{value.normalize(EXACT):f}"


def _signed(sign: int, value: Decimal) -> Decimal:
    return value if sign > 0 else value.copy_negate()


def _pct(value: Decimal) -> str:
    return f"{value:.4f}".rstrip("0").rstrip(".")


@dataclass(frozen=True, slots=True)
class OrderEstimate:
    """What the order adds, in quote currency, as the checks see it."""

    instrument: Instrument
    last: Decimal
    notional: Decimal
    """Unsigned value of the order (see the module docstring for the price used)."""
    delta_value: Decimal
    """Signed change of the position's value at the last price."""
    estimated: bool
    """True when the size is a notional/fraction budget, not lots."""


def reduces_position(order: Order, held_lots: int) -> bool:
    """Whether the order can only shrink the position: reduce-only, or lots ≤ the opposing position.

    A notional/fraction order is not trusted to reduce (its lots are unknown
    until it fills) unless flagged reduce-only.
    """
    if order.reduce_only:
        return True
    if order.lots is None or held_lots == 0:
        return False
    return (held_lots > 0) != (order.side.sign > 0) and order.lots <= abs(held_lots)


def estimate(order: Order, instrument: Instrument, last: Decimal, equity: Decimal) -> OrderEstimate:
    sign = order.side.sign
    if order.lots is not None:
        quantity = product(Decimal(order.lots), instrument.lot)
        named = order.limit_ticks if order.limit_ticks is not None else order.stop_ticks
        price = product(Decimal(named), instrument.tick) if named is not None else last
        return OrderEstimate(instrument, last, product(quantity, price), _signed(sign, product(quantity, last)), False)
    if order.notional_units is not None:
        budget = shifted(Decimal(order.notional_units), -instrument.quote.precision)
    else:
        assert order.equity_fraction is not None
        budget = product(max(equity, _ZERO), order.equity_fraction)
    return OrderEstimate(instrument, last, budget, _signed(sign, budget), True)


def position_value(state_lots: int, instrument: Instrument, last: Decimal) -> Decimal:
    return product(product(Decimal(state_lots), instrument.lot), last)


# --------------------------------------------------------------------------- limits


def price_band(order: Order, est: OrderEstimate, config: RiskConfig) -> RiskDecision | None:
    """A limit order's price vs the last price; a stop-limit's limit vs its stop. |p − ref| ≤ band % × ref."""
    band = config.price_band_pct
    if band is None or order.limit_ticks is None:
        return None
    tick = est.instrument.tick
    price = product(Decimal(order.limit_ticks), tick)
    if order.order_type is OrderType.STOP_LIMIT and order.stop_ticks is not None:
        ref, what = product(Decimal(order.stop_ticks), tick), "stop price"
    else:
        ref, what = est.last, "last price"
    gap = EXACT.subtract(price, ref).copy_abs()
    if product(gap, _HUNDRED) <= product(band, ref):
        return None
    return RiskDecision.deny(
        RiskReason.PRICE_BAND,
        f"limit price {_fmt(price)} is {_pct(quotient(product(gap, _HUNDRED), ref))} % from the {what} {_fmt(ref)}; "
        f"price_band_pct is {_pct(band)} %",
    )


def daily_loss(equity: Decimal, day_start: Decimal | None, config: RiskConfig) -> RiskDecision | None:
    limit = config.daily_loss_limit
    if limit is None or day_start is None:
        return None
    loss = EXACT.subtract(day_start, equity)
    if loss <= limit:
        return None
    return RiskDecision.deny(
        RiskReason.DAILY_LOSS,
        f"loss today {_fmt(loss)} (from {_fmt(day_start)} at the UTC day start to {_fmt(equity)}) exceeds "
        f"daily_loss_limit {_fmt(limit)}",
    )


def open_orders(count: int, config: RiskConfig) -> RiskDecision | None:
    limit = config.max_open_orders
    if limit is None or count + 1 <= limit:
        return None
    return RiskDecision.deny(
        RiskReason.MAX_OPEN_ORDERS, f"{count} orders already open; max_open_orders is {limit} (this one included)"
    )


def order_rate(in_window: int, config: RiskConfig) -> RiskDecision | None:
    limit = config.max_orders_per_minute
    if limit is None or in_window + 1 <= limit:
        return None
    return RiskDecision.deny(
        RiskReason.ORDER_RATE,
        f"{in_window} orders submitted in the last 60 s; max_orders_per_minute is {limit} (this one included)",
    )


def order_notional(est: OrderEstimate, config: RiskConfig) -> RiskDecision | None:
    limit = config.max_order_notional
    if limit is None or est.notional <= limit:
        return None
    how = "estimated from its budget" if est.estimated else "at its price"
    return RiskDecision.deny(
        RiskReason.ORDER_NOTIONAL,
        f"order notional {_fmt(est.notional)} ({how}) exceeds max_order_notional {_fmt(limit)}",
    )


def position_notional(est: OrderEstimate, held_lots: int, config: RiskConfig) -> RiskDecision | None:
    symbol = est.instrument.id
    limit = config.position_limit(symbol)
    if limit is None:
        return None
    after = EXACT.add(position_value(held_lots, est.instrument, est.last), est.delta_value).copy_abs()
    if after <= limit:
        return None
    name = "max_position_notional_by_symbol" if symbol in config.max_position_notional_by_symbol else ""
    return RiskDecision.deny(
        RiskReason.POSITION_NOTIONAL,
        f"{symbol} position would be worth {_fmt(after)}; {name or 'max_position_notional'} is {_fmt(limit)}",
    )


def gross_after(
    est: OrderEstimate,
    positions: dict[InstrumentId, int],
    instruments: dict[InstrumentId, Instrument],
    last_prices: dict[InstrumentId, Decimal],
) -> tuple[dict[InstrumentId, Decimal], InstrumentId | None]:
    """Signed value per symbol after the order, or the first symbol without a last price."""
    values: dict[InstrumentId, Decimal] = {}
    for symbol in sorted(positions):
        lots = positions[symbol]
        if not lots or symbol == est.instrument.id:
            continue
        if symbol not in last_prices or symbol not in instruments:
            return values, symbol
        values[symbol] = position_value(lots, instruments[symbol], last_prices[symbol])
    mine = est.instrument.id
    values[mine] = EXACT.add(position_value(positions.get(mine, 0), est.instrument, est.last), est.delta_value)
    return values, None


def gross_exposure(gross: Decimal, config: RiskConfig) -> RiskDecision | None:
    limit = config.max_gross_exposure
    if limit is None or gross <= limit:
        return None
    return RiskDecision.deny(
        RiskReason.GROSS_EXPOSURE, f"gross exposure would be {_fmt(gross)}; max_gross_exposure is {_fmt(limit)}"
    )


def gross_leverage(gross: Decimal, equity: Decimal, config: RiskConfig) -> RiskDecision | None:
    limit = config.max_gross_leverage
    if limit is None:
        return None
    if equity <= 0:
        return RiskDecision.deny(
            RiskReason.GROSS_LEVERAGE, f"equity is {_fmt(equity)}: no leverage is within max_gross_leverage"
        )
    if gross <= product(limit, equity):
        return None
    return RiskDecision.deny(
        RiskReason.GROSS_LEVERAGE,
        f"gross leverage would be {_pct(quotient(gross, equity))}x (exposure {_fmt(gross)} on equity {_fmt(equity)}); "
        f"max_gross_leverage is {_pct(limit)}x",
    )


def value_at_risk(
    values: dict[InstrumentId, Decimal],
    equity: Decimal,
    returns: FloatArray | None,
    symbols: tuple[InstrumentId, ...],
    config: RiskConfig,
) -> RiskDecision | None:
    """Historical one-bar 95 % VaR of the portfolio after the order (`analytics.risk.portfolio_var`).

    Weights are each position's value after the order over current equity;
    symbols in the history without a position weigh 0. A position without a
    return column, no history at all, or equity ≤ 0 cannot be checked and is
    refused (a limit that cannot be evaluated fails closed).
    """
    limit = config.max_var_95_pct
    if limit is None:
        return None
    held = [symbol for symbol, value in values.items() if value]
    if not held:
        return None
    missing = [symbol for symbol in held if symbol not in symbols]
    if returns is None or missing:
        what = ", ".join(missing) if returns is not None else "the portfolio"
        return RiskDecision.deny(RiskReason.VAR, f"max_var_95_pct cannot be checked: no return history for {what}")
    if equity <= 0:
        return RiskDecision.deny(RiskReason.VAR, f"max_var_95_pct cannot be checked: equity is {_fmt(equity)}")
    weights = np.array([float(quotient(values.get(symbol, _ZERO), equity)) for symbol in symbols], dtype=np.float64)
    var_pct = portfolio_var(returns, weights, level=0.95, method="historical").var_pct
    if var_pct <= float(limit):
        return None
    return RiskDecision.deny(
        RiskReason.VAR,
        f"portfolio 95 % one-bar VaR would be {var_pct:.4f} % of equity; max_var_95_pct is {_pct(limit)} %",
    )
