"""The pre-trade risk engine: every order passes `check` before it may leave.

It is mode-neutral: the caller (backtest context, live node) builds a
`RiskState` snapshot and supplies a clock, so the same limits and the same
answers hold in backtest, paper and live. The engine keeps only what a
snapshot cannot carry: the order-rate window (`record_submission`), the
equity watermarks (peak and UTC day start) and the kill switch.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping
from decimal import Decimal

from atb.domain import InstrumentId, Order, Position
from atb.domain.money import product, quotient
from atb.risk import checks
from atb.risk.config import RiskConfig
from atb.risk.decision import RiskDecision, RiskReason
from atb.risk.kill_switch import FlattenOrder, KillSwitch
from atb.risk.state import EXACT, EquityWatermarks, RiskState

Clock = Callable[[], int]
"""Current time in int nanoseconds since the epoch (`time.time_ns`, a backtest context's `now_ns`)."""

RATE_WINDOW_NS = 60 * 1_000_000_000
_HUNDRED = Decimal(100)


def _first_denial(*steps: Callable[[], RiskDecision | None]) -> RiskDecision | None:
    """Run the checks in order, stopping at the first denial (later ones are not even computed)."""
    for step in steps:
        denial = step()
        if denial is not None:
            return denial
    return None


class RiskEngine:
    """Pre-trade checks, order-rate window, equity watermarks and the kill switch of one account."""

    __slots__ = ("_submissions", "clock", "config", "kill_switch", "watermarks")

    def __init__(self, config: RiskConfig, clock: Clock, kill_switch: KillSwitch | None = None) -> None:
        self.config = config
        self.clock = clock
        self.kill_switch = kill_switch if kill_switch is not None else KillSwitch()
        self.watermarks = EquityWatermarks()
        self._submissions: list[int] = []

    # --- feeds ---------------------------------------------------------------------------
    def record_submission(self, ts: int | None = None) -> None:
        """Count an order that was sent (at `ts`, default now) in the order-rate window."""
        bisect.insort(self._submissions, self.clock() if ts is None else ts)

    def submissions_in_window(self, now: int | None = None) -> int:
        """Submissions in the trailing 60 s: those with now − 60 s < ts ≤ now."""
        now = self.clock() if now is None else now
        start = now - RATE_WINDOW_NS
        drop = bisect.bisect_right(self._submissions, start)
        del self._submissions[:drop]  # the window only slides forward: older ones never count again
        return bisect.bisect_right(self._submissions, now)

    def observe_equity(self, equity: Decimal, peak: Decimal | None = None) -> bool:
        """Feed the equity (every bar or tick): updates the watermarks, trips the kill switch on drawdown.

        Returns True if the kill switch is tripped afterwards. Drawdown is
        (peak − equity) / peak; it trips when strictly greater than
        `max_drawdown_pct` (equal is allowed, like every limit). `peak`
        overrides the engine's own peak (a restored value).
        """
        now = self.clock()
        self.watermarks.observe(now, equity)
        peak = self.watermarks.peak if peak is None else peak
        limit = self.config.max_drawdown_pct
        if limit is not None and peak is not None and peak > 0 and not self.kill_switch.tripped:
            fall = EXACT.subtract(peak, equity)
            if product(fall, _HUNDRED) > product(limit, peak):
                drawdown = quotient(product(fall, _HUNDRED), peak)
                self.kill_switch.trip(
                    f"max_drawdown_pct: drawdown {drawdown:.4f} % from peak {peak:f} to {equity:f} exceeds {limit:f} %",
                    now,
                )
        return self.kill_switch.tripped

    # --- the check -----------------------------------------------------------------------
    def check(self, order: Order, state: RiskState) -> RiskDecision:
        """Approve or deny `order` against `state`. Checks run in this order; the first failure wins.

        1. `kill_switch` — the state's equity is observed first (so a drawdown
           beyond `max_drawdown_pct` trips it now); while tripped only
           position-reducing orders pass.
        2. `unknown_instrument` — the order's instrument is not in the state.
        3. `no_last_price` — a configured limit needs the symbol's last price.
        4. `price_band_pct` — fat finger; applies to reducing orders too.

        Orders that can only reduce a position (reduce-only, or sized in lots
        and no larger than the opposing position) are approved here: the
        remaining limits guard against new risk and must never stop an exit.

        5. `daily_loss_limit`   6. `max_open_orders`   7. `max_orders_per_minute`
        8. `max_order_notional` 9. `max_position_notional` (per-symbol override)
        10. `max_gross_exposure` 11. `max_gross_leverage` 12. `max_var_95_pct`

        A check does not record the submission: call `record_submission` when
        the approved order is actually sent.
        """
        config = self.config
        now = self.clock()
        symbol = order.instrument_id
        held = state.lots(symbol)
        reducing = checks.reduces_position(order, held)

        self.observe_equity(state.equity, state.peak_equity)
        if self.kill_switch.tripped and not reducing:
            return RiskDecision.deny(
                RiskReason.KILL_SWITCH,
                f"kill switch tripped ({self.kill_switch.reason}); only reduce-only orders are accepted "
                "until reset(confirm=True)",
            )
        instrument = state.instruments.get(symbol)
        if instrument is None:
            return RiskDecision.deny(RiskReason.UNKNOWN_INSTRUMENT, f"no instrument {symbol} in the risk state")
        last = state.last_prices.get(symbol)
        if last is None:
            if config.needs_prices:
                return RiskDecision.deny(RiskReason.NO_LAST_PRICE, f"no last price for {symbol}: limits need one")
            last = Decimal(1)  # never read: no configured limit values anything
        est = checks.estimate(order, instrument, last, state.equity)
        denial = checks.price_band(order, est, config)
        if denial is not None:
            return denial
        if reducing:
            return RiskDecision.approve("reduces a position: exempt from exposure and loss limits")

        day_start = state.day_start_equity if state.day_start_equity is not None else self.watermarks.day_start
        denial = _first_denial(
            lambda: checks.daily_loss(state.equity, day_start, config),
            lambda: checks.open_orders(state.open_orders, config),
            lambda: checks.order_rate(self.submissions_in_window(now), config),
            lambda: checks.order_notional(est, config),
            lambda: checks.position_notional(est, held, config),
        )
        if denial is not None:
            return denial
        if config.max_gross_exposure is None and config.max_gross_leverage is None and config.max_var_95_pct is None:
            return RiskDecision.approve()
        values, unpriced = checks.gross_after(
            est, dict(state.positions), dict(state.instruments), dict(state.last_prices)
        )
        if unpriced is not None:
            return RiskDecision.deny(
                RiskReason.NO_LAST_PRICE, f"no last price or instrument for held {unpriced}: exposure unknown"
            )
        gross = Decimal(0)
        for value in values.values():
            gross = EXACT.add(gross, value.copy_abs())
        denial = _first_denial(
            lambda: checks.gross_exposure(gross, config),
            lambda: checks.gross_leverage(gross, state.equity, config),
            lambda: checks.value_at_risk(values, state.equity, state.returns, state.return_symbols, config),
        )
        return denial if denial is not None else RiskDecision.approve()

    # --- kill switch ---------------------------------------------------------------------
    def flatten_orders(self, positions: Mapping[InstrumentId, int | Position]) -> list[FlattenOrder]:
        """The reduce-only market orders a runtime must send to go flat (see `kill_switch.flatten_orders`)."""
        return self.kill_switch.flatten_orders(positions)

    def reset_kill_switch(self, *, confirm: bool = False, equity: Decimal | None = None) -> None:
        """Reset the switch and, given the current `equity`, measure drawdown from it afresh.

        Without a new peak the old drawdown would trip the switch again at the next observation.
        """
        self.kill_switch.reset(confirm=confirm)
        if equity is not None:
            self.watermarks.rebase_peak(equity)
