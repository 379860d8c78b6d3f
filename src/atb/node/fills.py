"""A venue's trade report turned into the domain's exact `OrderFilled`.

Binance takes the fee in the asset received by default (VENUE_NOTES): a buy of 1 BTC at 0.1 %
credits 0.999 BTC. The domain ledger keeps positions on the lot grid and fees in the quote
currency, so a fee in the base asset is valued at the fill price and rounded UP to a quote unit
(a fee is never understated); the base the venue kept back shows up as a shortfall between the
run's position and the venue's base balance, which `sellable_lots` respects and the
reconciliation reports. A fee in a third asset (BNB) cannot be valued without its price: it is
booked as zero in quote and logged, and the balances snapshot still records the BNB spent.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from atb.domain import Instrument, Liquidity, OrderFilled
from atb.domain.errors import InvalidValueError
from atb.domain.ids import ClientOrderId, TradeId
from atb.domain.money import Rounding, product, units_of
from atb.errors import AtbError
from atb.venues.ccxt_models import VenueTrade

_log = logging.getLogger("atb.node")


class FillMismatchError(AtbError):
    """A venue trade that does not fit the instrument's grid: the instrument rules are wrong."""


def to_fill(trade: VenueTrade, client_order_id: str, instrument: Instrument, *, ts_init: int) -> OrderFilled:
    """The exact fill for `trade` of our order `client_order_id`."""
    try:
        lots = units_of(trade.amount, instrument.lot, Rounding.STRICT, "fill quantity")
        ticks = units_of(trade.price, instrument.tick, Rounding.STRICT, "fill price")
    except InvalidValueError as exc:
        raise FillMismatchError(f"trade {trade.trade_id} on {instrument.id} is off the instrument grid: {exc}") from exc
    fee_units = fee_in_quote_units(trade, instrument)
    ts_event = (trade.timestamp_ms or 0) * 1_000_000 or ts_init
    liquidity = Liquidity.MAKER if trade.maker else Liquidity.TAKER
    return OrderFilled(
        ClientOrderId(client_order_id),
        ts_event,
        ts_init,
        TradeId(trade.trade_id),
        instrument,
        trade.side,
        lots,
        ticks,
        fee_units,
        liquidity,
    )


def fee_in_quote_units(trade: VenueTrade, instrument: Instrument) -> int:
    if not trade.fee:
        return 0
    unit = instrument.quote.unit
    currency = (trade.fee_currency or "").upper()
    if currency == instrument.quote.code:
        return units_of(trade.fee, unit, Rounding.UP, "fee")
    if currency == instrument.base.code:
        return units_of(product(trade.fee, trade.price), unit, Rounding.UP, "fee")
    _log.warning(
        "trade %s: fee %s %s is in neither %s nor %s; booked as 0 %s (the balance snapshot keeps it)",
        trade.trade_id,
        trade.fee,
        currency or "?",
        instrument.base.code,
        instrument.quote.code,
        instrument.quote.code,
    )
    return 0


def base_fee(trade: VenueTrade, instrument: Instrument) -> Decimal:
    """The base asset the venue kept back as fee on this trade (0 when charged in another asset)."""
    return trade.fee if (trade.fee_currency or "").upper() == instrument.base.code else Decimal(0)
