"""A venue's trade report turned into the domain's exact `OrderFilled`.

Binance takes the fee in the asset received by default (VENUE_NOTES): a buy of 1 BTC at 0.1 %
credits 0.999 BTC. The fill then carries `fee_lots`, the withheld base rounded UP to whole lots,
and the position grows by the rest, so the ledger never holds base the venue did not credit (the
fraction of a lot left over stays at the venue as dust); the fee is recorded as those lots' value
at the fill price, so cash and equity stay exact. A fee in a third asset (BNB) cannot be valued without its price: it is
booked as zero in quote and logged, and the balances snapshot still records the BNB spent.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from atb.domain import Instrument, Liquidity, OrderFilled
from atb.domain.errors import InvalidValueError
from atb.domain.ids import ClientOrderId, TradeId
from atb.domain.money import Rounding, units_of
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
    fee_lots = withheld_lots(trade, instrument)
    fee_units = instrument.notional_units(ticks, fee_lots) if fee_lots else _fee_in_quote_units(trade, instrument)
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
        fee_lots,
    )


def withheld_lots(trade: VenueTrade, instrument: Instrument) -> int:
    """A fee charged in the base asset as whole lots, rounded UP: the ledger never holds more than the venue."""
    return units_of(base_fee(trade, instrument), instrument.lot, Rounding.CEILING) if trade.fee else 0


def _fee_in_quote_units(trade: VenueTrade, instrument: Instrument) -> int:
    """A fee not withheld in base (those are `fee_lots`): in quote units, rounded up; another asset books 0."""
    if not trade.fee:
        return 0
    currency = (trade.fee_currency or "").upper()
    if currency == instrument.quote.code:
        return units_of(trade.fee, instrument.quote.unit, Rounding.UP, "fee")
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
