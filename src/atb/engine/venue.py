"""The simulated venue: accepts orders, matches them against bars, books fills in the account.

Used by the backtest and by the paper node alike, so both produce the same
orders and fills from the same bars.

Intrabar rules (documented in the README, "Execution model"):

* An order placed while bar i is processed is first eligible on bar
  i + 1 + latency (market orders fill at that bar's open). With
  `fill=close` a market order fills at the close of bar i instead.
* Within one bar, orders are executed in three passes, each in submission
  order: (1) what is executable at the open — market orders, stops the open
  gapped through, limits the open crossed; (2) stops triggered inside the
  bar's range, at the stop price; (3) limits touched inside the range, at the
  limit price. A bar that hits both a protective stop and a take-profit
  therefore executes the stop first: the pessimistic reading.
* Gaps fill at the open: a stop the open jumped over fills at the open (worse
  than the stop). A limit on its first eligible bar that the open already
  crossed fills at the open as a taker; a limit that was resting from an
  earlier bar fills at its own price as a maker.
* A stop-limit triggered inside the bar fills at the stop price when its
  limit allows; otherwise it rests as a limit from the next bar.
* IOC and FOK orders are judged at the open of their first eligible bar;
  whatever does not fill there is cancelled. Post-only orders that would
  take at arrival are rejected.
* Reduce-only orders are cut to the position they reduce and cancelled when
  there is nothing left to reduce.
* Fees: taker rate on market, stop and marketable fills, maker rate on
  resting limits, rounded up to the quote currency's unit.
"""

from __future__ import annotations

from collections.abc import Callable

from atb.domain import (
    Account,
    FeeRate,
    Instrument,
    Liquidity,
    Order,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    OrderSide,
    OrderSubmitted,
    OrderTriggered,
    OrderType,
    TimeInForce,
)
from atb.domain.enums import CLOSED_STATUSES
from atb.domain.errors import InsufficientFundsError
from atb.domain.ids import InstrumentId, TradeId, VenueOrderId
from atb.engine.execution import ExecutionConfig, FillTiming
from atb.engine.market import MarketData
from atb.errors import UserInputError

_MARKET, _STOP_MARKET, _LIMIT, _STOP_LIMIT = (
    OrderType.MARKET,
    OrderType.STOP_MARKET,
    OrderType.LIMIT,
    OrderType.STOP_LIMIT,
)
_AT_OPEN, _IN_BAR_STOP, _IN_BAR_LIMIT = 0, 1, 2
_GTC = TimeInForce.GTC
_TAKER = Liquidity.TAKER
_BUY = OrderSide.BUY


class _Working:
    __slots__ = ("active_from", "first_bar", "market", "order")

    def __init__(self, order: Order, market: MarketData, active_from: int) -> None:
        self.order = order
        self.market = market
        self.active_from = active_from
        self.first_bar = True


FillListener = Callable[[OrderFilled, Order], None]
OrderListener = Callable[[Order], None]


class SimulatedVenue:
    """Matching engine over bars, with an exact account behind it."""

    def __init__(
        self,
        account: Account,
        markets: dict[str, MarketData],
        config: ExecutionConfig,
        on_fill: FillListener,
        on_order_closed: OrderListener,
    ) -> None:
        self.account = account
        self.markets = markets
        self.config = config
        self.working: list[_Working] = []
        self.close_queue: list[_Working] = []
        self._on_fill = on_fill
        self._on_closed = on_order_closed
        self._trade_seq = 0
        self._venue_seq = 0
        self.bar = 0
        self.ts = 0
        slip = config.slippage
        if slip is not None and hasattr(slip, "prepare"):
            if len(markets) != 1:
                # one model instance holds one instrument's volume history
                raise UserInputError("the square-root impact model supports one instrument per run for now")
            (only,) = markets.values()
            slip.prepare(only.bars.close, only.bars.volume)

    # --- order entry ----------------------------------------------------------------------
    def submit(self, order: Order, bar: int, ts: int) -> None:
        """Accept or reject an order placed while bar `bar` is processed."""
        market = self.markets.get(order.instrument_id)
        submitted = OrderSubmitted(order.client_order_id, ts, ts)
        reason = self._refusal(order, market)
        if reason:
            order.apply(submitted)
            self._reject(order, ts, reason)
            return
        assert market is not None
        self._venue_seq += 1
        order.submit_accepted(
            submitted, OrderAccepted(order.client_order_id, ts, ts, VenueOrderId(str(self._venue_seq)))
        )
        latency = self.config.latency_bars
        if order.order_type is _MARKET and self.config.fill is FillTiming.CLOSE:
            work = _Working(order, market, bar + latency)
            if latency == 0:
                self.close_queue.append(work)
                return
            self.working.append(work)
            return
        self.working.append(_Working(order, market, bar + 1 + latency))

    @staticmethod
    def _refusal(order: Order, market: MarketData | None) -> str:
        """Why the venue refuses the order on arrival ("" when it accepts)."""
        if market is None:
            return f"unknown instrument {order.instrument_id}"
        lots = order.lots
        if lots is None:
            return ""
        inst = market.instrument
        if lots < inst.min_lots:
            return f"quantity below minimum {inst.min_quantity} {inst.base}"
        price = order.limit_ticks or order.stop_ticks
        if price is not None and price * lots * inst.notional_factor < inst.min_notional_units:
            return f"notional below minimum {inst.min_notional} {inst.quote}"
        return ""

    def cancel(self, order: Order, ts: int, reason: str = "cancelled by strategy") -> bool:
        for queue in (self.working, self.close_queue):
            for k, work in enumerate(queue):
                if work.order is order:
                    del queue[k]
                    order.apply(OrderCanceled(order.client_order_id, ts, ts, reason))
                    self._on_closed(order)
                    return True
        return False

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        orders = [w.order for w in self.working] + [w.order for w in self.close_queue]
        if symbol is None:
            return orders
        return [o for o in orders if o.instrument_id == symbol]

    # --- matching ---------------------------------------------------------------------------
    def process_bar(self, i: int, ts: int) -> None:
        """Match working orders against bar i (called before the strategy sees bar i)."""
        self.bar = i
        self.ts = ts
        close_mode = self.config.fill is FillTiming.CLOSE
        plan: list[tuple[int, int, _Working, int, Liquidity]] = []
        seq = 0
        moved = False
        for work in self.working:
            if work.active_from > i:
                continue
            order = work.order
            if close_mode and order.order_type is _MARKET:
                # latency elapsed: fill at this bar's close
                self.close_queue.append(work)
                moved = True
                continue
            step = self._plan(work, i)
            seq += 1
            if step is not None:
                plan.append((step[0], seq, work, step[1], step[2]))
            elif work.first_bar and order.tif is not _GTC:
                plan.append((_AT_OPEN, seq, work, -1, _TAKER))  # -1: cancel unfilled IOC/FOK
            work.first_bar = False
        if moved:
            self.working[:] = [w for w in self.working if w not in self.close_queue]
        if len(plan) > 1:
            plan.sort()  # by (phase, submission sequence); the sequence is unique, so no tie reaches `work`
        for _, _, work, ticks, liquidity in plan:
            order = work.order
            if order.status in CLOSED_STATUSES:
                continue
            if ticks == -1:
                self._close(work, ts, "time in force: not filled on arrival")
                continue
            self._execute(work, i, ticks, liquidity, ts)
            if order.tif is not _GTC and order.status not in CLOSED_STATUSES:
                self._close(work, ts, "time in force: rest cancelled")

    def process_close(self, i: int, ts: int) -> None:
        """Fill market orders in `fill=close` mode at bar i's close."""
        self.bar = i
        self.ts = ts
        queue = list(self.close_queue)
        self.close_queue.clear()
        for work in queue:
            if work.order.status not in CLOSED_STATUSES:
                self._execute(work, i, int(work.market.close[i]), Liquidity.TAKER, ts, at_close=True)
                if work.order.status not in CLOSED_STATUSES:
                    if work.order.tif is not _GTC:
                        # IOC: what the close did not fill is cancelled, as at the open
                        self._close(work, ts, "time in force: rest cancelled")
                        continue
                    # participation-capped remainder carries on at later closes
                    work.active_from = i + 1
                    self.working.append(work)

    def _plan(self, work: _Working, i: int) -> tuple[int, int, Liquidity] | None:
        """When and at what price (ticks) `work` executes on bar i, or None."""
        order = work.order
        m = work.market
        o = int(m.open[i])
        kind = order.order_type
        buy = order.side is OrderSide.BUY
        if kind is _MARKET:
            return (_AT_OPEN, o, Liquidity.TAKER)
        if not order.triggered:
            stop = order.stop_ticks
            assert stop is not None
            if (o >= stop) if buy else (o <= stop):
                order.apply(OrderTriggered(order.client_order_id, self.ts, self.ts))
                if kind is _STOP_MARKET:
                    return (_AT_OPEN, o, Liquidity.TAKER)
                limit = order.limit_ticks
                assert limit is not None
                if (o <= limit) if buy else (o >= limit):
                    return (_AT_OPEN, o, Liquidity.TAKER)
                # opened beyond the limit: rests; may still fill if the bar comes back to it
                return self._limit_in_bar(order, m, i, limit, buy)
            reached = int(m.high[i]) >= stop if buy else int(m.low[i]) <= stop
            if not reached:
                return None
            order.apply(OrderTriggered(order.client_order_id, self.ts, self.ts))
            if kind is _STOP_MARKET:
                return (_IN_BAR_STOP, stop, Liquidity.TAKER)
            limit = order.limit_ticks
            assert limit is not None
            if (limit >= stop) if buy else (limit <= stop):
                return (_IN_BAR_STOP, stop, Liquidity.TAKER)
            return None
        limit = order.limit_ticks
        assert limit is not None
        crossed_at_open = (o <= limit) if buy else (o >= limit)
        if crossed_at_open:
            if work.first_bar and kind is _LIMIT:
                if order.post_only:
                    return (_AT_OPEN, -2, Liquidity.MAKER)  # -2: post-only would take → reject
                return (_AT_OPEN, o, Liquidity.TAKER)
            return (_AT_OPEN, limit, Liquidity.MAKER)
        if order.tif is not TimeInForce.GTC:
            return None
        return self._limit_in_bar(order, m, i, limit, buy)

    @staticmethod
    def _limit_in_bar(order: Order, m: MarketData, i: int, limit: int, buy: bool) -> tuple[int, int, Liquidity] | None:
        touched = int(m.low[i]) <= limit if buy else int(m.high[i]) >= limit
        return (_IN_BAR_LIMIT, limit, Liquidity.MAKER) if touched else None

    # --- execution --------------------------------------------------------------------------
    def _execute(
        self, work: _Working, i: int, ticks: int, liquidity: Liquidity, ts: int, at_close: bool = False
    ) -> None:
        order = work.order
        if ticks == -2:
            self._reject(order, ts, "post-only order would take liquidity")
            self._drop(work)
            return
        inst = work.market.instrument
        account = self.account
        slip = self.config.slippage
        taker = liquidity is _TAKER
        rate = inst.taker_fee if taker else inst.maker_fee
        buy = order.side is _BUY
        price = ticks
        marks = self._marks(i, inst.id, at_close)  # the other open positions, for sizing and the funds check
        if order.lots is None:
            lots = self._resolve_size(order, inst, ticks, rate, marks)
            if lots is not None and slip is not None and taker:
                price = self._slipped(ticks, buy, slip.fraction(i, lots, float(inst.lot)))
                lots = self._resolve_size(order, inst, price, rate, marks)
            if lots is None or lots < inst.min_lots or price * lots * inst.notional_factor < inst.min_notional_units:
                self._reject(order, ts, "equity too small for the minimum order size")
                self._drop(work)
                return
            order.resolve_lots(lots)
            leaves = lots
        else:
            leaves = order.lots - order.filled_lots
            if (
                not order.filled_lots
                and order.limit_ticks is None
                and order.stop_ticks is None
                and ticks * order.lots * inst.notional_factor < inst.min_notional_units
            ):
                # a market order has no price at submission: its minimum notional is judged on arrival
                self._reject(order, ts, f"notional below minimum {inst.min_notional} {inst.quote}")
                self._drop(work)
                return
        pos = account.position(inst)
        if order.reduce_only:
            reducible = -pos.lots if buy else pos.lots
            if reducible <= 0:
                self._close(work, ts, "reduce-only: no position to reduce")
                return
            leaves = min(leaves, reducible)
        if slip is not None:
            cap = slip.max_lots(i, float(inst.lot))
            if cap is not None:
                if order.tif is TimeInForce.FOK and cap < leaves:
                    self._close(work, ts, "fill-or-kill: not enough volume")
                    return
                leaves = min(leaves, cap)
            if leaves <= 0:
                return
            if taker and price == ticks:
                price = self._slipped(ticks, buy, slip.fraction(i, leaves, float(inst.lot)))
                limit = order.limit_ticks
                if limit is not None:
                    # slippage never takes a limit (or stop-limit) order past its limit price
                    price = min(price, limit) if buy else max(price, limit)
        signed = leaves if buy else -leaves
        fee = rate.fee_units(price * leaves * inst.notional_factor)
        try:
            account.check_fill(inst, signed, price, fee, marks)
        except InsufficientFundsError as exc:
            if order.filled_lots:
                self._close(work, ts, f"insufficient funds for the rest: {exc}")
            else:
                self._reject(order, ts, str(exc))
                self._drop(work)
            return
        self._trade_seq += 1
        fill = OrderFilled(
            order.client_order_id,
            ts,
            ts,
            TradeId(str(self._trade_seq)),
            inst,
            order.side,
            leaves,
            price,
            fee,
            liquidity,
        )
        order.apply(fill)  # the order accepts the fill first: a refused fill never reaches the ledger
        account.book(inst, signed, price, fee, ts)
        if order.status in CLOSED_STATUSES:
            self._drop(work)
        elif order.reduce_only and pos.lots == 0:
            self._close(work, ts, "reduce-only: position closed")
        self._on_fill(fill, order)

    def _resolve_size(
        self, order: Order, inst: Instrument, ticks: int, rate: FeeRate, marks: dict[InstrumentId, int]
    ) -> int | None:
        """Lots a notional/fraction order buys at `ticks`, fee included, never more than its budget.

        `marks` values the other open positions; this instrument is marked at `ticks`.
        """
        if order.notional_units is not None:
            budget = order.notional_units
        else:
            assert order.equity_fraction is not None
            fraction_num, fraction_den = order.equity_fraction.as_integer_ratio()
            budget = self.account.equity_units({**marks, inst.id: ticks}) * fraction_num // fraction_den
        if budget <= 0:
            return None
        unit = ticks * inst.notional_factor
        fee_num, fee_den = rate.ratio
        lots = budget * fee_den // (unit * (fee_den + max(fee_num, 0)))
        while lots > 0 and lots * unit + rate.fee_units(lots * unit) > budget:
            lots -= 1
        return lots or None

    @staticmethod
    def _slipped(ticks: int, buy: bool, fraction: float) -> int:
        """Price moved by `fraction` against the trader, rounded to the adverse tick (exact)."""
        if fraction <= 0:
            return ticks
        # The float's shortest decimal (10 bps → 0.001), not its binary value (0.00100000000000000002...):
        # otherwise a slipped price landing exactly on the grid would be pushed one more tick.
        from fractions import Fraction  # only runs with slippage: 3 ms of imports otherwise

        exact_fraction = Fraction(repr(fraction))
        if buy:
            exact = Fraction(ticks) * (1 + exact_fraction)
            return -((-exact.numerator) // exact.denominator)
        exact = Fraction(ticks) * (1 - exact_fraction)
        return max(1, exact.numerator // exact.denominator)

    def _marks(self, i: int, filling: InstrumentId, at_close: bool) -> dict[InstrumentId, int]:
        """Marks for the other open positions: the last close known at this moment."""
        marks: dict[InstrumentId, int] = {}
        positions = self.account.positions
        if len(positions) == 1 and filling in positions:
            return marks
        for iid, pos in positions.items():
            if pos.lots and iid != filling:
                m = self.markets[str(iid)]
                j = i if at_close else max(i - 1, 0)
                marks[iid] = int(m.close[j])
        return marks

    def _reject(self, order: Order, ts: int, reason: str) -> None:
        order.apply(OrderRejected(order.client_order_id, ts, ts, reason))
        self._on_closed(order)

    def _close(self, work: _Working, ts: int, reason: str) -> None:
        order = work.order
        order.apply(OrderCanceled(order.client_order_id, ts, ts, reason))
        self._drop(work)
        self._on_closed(order)

    def _drop(self, work: _Working) -> None:
        for queue in (self.working, self.close_queue):
            if work in queue:
                queue.remove(work)
