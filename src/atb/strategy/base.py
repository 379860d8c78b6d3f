"""The `Strategy` base class: what a user subclasses, identical in every mode.

    class SmaCross(Strategy):
        fast = Param(10, ge=2)
        slow = Param(30, ge=3)

        def on_start(self) -> None:
            self.fast_ma = self.I(indicators.sma, self.data.close, self.fast)
            self.slow_ma = self.I(indicators.sma, self.data.close, self.slow)

        def on_bar(self) -> None:
            if self.fast_ma.now > self.slow_ma.now and self.position.is_flat:
                self.buy(fraction=1)

Callbacks: `on_start` (declare indicators), `on_bar` (every bar, after it
closed, warm-up included: values read NaN until an indicator is ready),
`on_fill`, `on_order` (rejected, cancelled, expired), `on_stop`. They take
`**kwargs`-free signatures on purpose: the engine calls them positionally.

Sizes are keyword-only and mean one thing each: `quantity=` (base units),
`notional=` (quote currency), `fraction=` (share of equity). Floats are
accepted here, at the edge, and rounded by a stated rule: quantities and
notionals DOWN, buy limits FLOOR and sell limits CEILING (never a worse
price), buy stops CEILING and sell stops FLOOR (never triggered early).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, ClassVar, NamedTuple

import numpy as np

from atb.domain import Fill, Order, OrderSide, OrderType, Rounding, TimeInForce
from atb.domain.errors import InvalidOrderError
from atb.domain.money import units_of
from atb.strategy.context import Feed, OrderRequest, StrategyContext
from atb.strategy.params import Param, ParamSpec, params_of, unknown_parameter
from atb.strategy.series import MappedSeries, Series
from atb.strategy.signals import TargetSignals
from atb.strategy.views import PortfolioView, PositionView

Number = int | float | str | Decimal


_FLOAT_DECIMALS: dict[float, Decimal] = {}


def _exact(value: Number, what: str) -> Decimal:
    if type(value) is float:
        cached = _FLOAT_DECIMALS.get(value)
        if cached is not None:
            return cached
    if isinstance(value, bool):
        raise InvalidOrderError(f"{what} must be a number, not bool")
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise InvalidOrderError(f"{what} must be finite, got {value}")
        exact = Decimal(repr(value))
        if len(_FLOAT_DECIMALS) < 1024:  # strategies reuse a few fractions; cache them
            _FLOAT_DECIMALS[value] = exact
        return exact
    if isinstance(value, (int, Decimal)):
        return Decimal(value)
    if isinstance(value, str):
        try:
            return Decimal(value)
        except ArithmeticError:
            raise InvalidOrderError(f"{what} {value!r} is not a number") from None
    raise InvalidOrderError(f"{what} must be a number, got {type(value).__name__}")


_MARKET = OrderType.MARKET
_GTC = TimeInForce.GTC


class _Declaration(NamedTuple):
    """One `self.I` call, kept so a live runtime can recompute it as bars arrive."""

    func: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    outputs: list[Series]


class Strategy:
    """Subclass me. Parameters are `Param` class attributes; see the module docstring."""

    name: ClassVar[str] = ""
    """Registry name (`atb strategies`); empty for user strategies loaded from a file."""

    description: ClassVar[str] = ""

    def __init__(self, **params: Any) -> None:
        declared = params_of(type(self))
        for key in params:
            if key not in declared:
                raise unknown_parameter(type(self), key)
        for key, param in declared.items():
            value = params.get(key, param.default)
            self.__dict__[key] = param.validate(value)
        self.validate_params()
        self._ctx: StrategyContext | None = None
        self._positions: dict[str, PositionView] = {}
        self._indicators: list[_Declaration] = []
        self.warmup_bars = 0

    # --- for subclasses ---------------------------------------------------------------------
    def validate_params(self) -> None:
        """Cross-parameter checks (e.g. fast < slow); raise `ParameterError`."""

    def on_start(self) -> None:
        """Declare indicators here with `self.I(...)`."""

    def on_bar(self) -> None:
        """Called once per bar, after the bar closed."""

    def on_fill(self, fill: Fill) -> None:
        """Called after each execution of one of this strategy's orders."""

    def on_order(self, order: Order) -> None:
        """Called when an order ends without filling completely (rejected, cancelled, expired)."""

    def on_stop(self) -> None:
        """Called once after the last bar."""

    def target_signals(self) -> TargetSignals | None:
        """Optional: the same decisions as `on_bar`, for all bars at once (see `atb.strategy.signals`).

        Return None (the default) to always run bar by bar. A strategy that
        returns signals promises that `on_bar` sends exactly these orders and
        that `on_fill`/`on_order` send none; the parity tests hold it to that.
        """
        return None

    # --- introspection ----------------------------------------------------------------------
    @classmethod
    def param_specs(cls) -> list[ParamSpec]:
        return [p.spec for p in params_of(cls).values()]

    @classmethod
    def parse_params(cls, pairs: dict[str, str]) -> dict[str, Any]:
        """Parse `key=value` strings from the command line into typed values."""
        declared = params_of(cls)
        out: dict[str, Any] = {}
        for key, text in pairs.items():
            if key not in declared:
                raise unknown_parameter(cls, key)
            out[key] = declared[key].parse(text)
        return out

    @property
    def params(self) -> dict[str, Any]:
        return {key: self.__dict__[key] for key in params_of(type(self))}

    # --- wiring (engine side) ---------------------------------------------------------------
    def bind(self, ctx: StrategyContext) -> None:
        self._ctx = ctx
        self.data: Feed = ctx.primary
        self._positions = {}

    @property
    def ctx(self) -> StrategyContext:
        if self._ctx is None:
            raise RuntimeError("strategy is not attached to an engine yet")
        return self._ctx

    # --- data -------------------------------------------------------------------------------
    def feed(self, symbol: str) -> Feed:
        return self.ctx.feed(symbol)

    @property
    def symbols(self) -> list[str]:
        return self.ctx.symbols()

    def timeframe(self, timeframe: str, symbol: str | None = None) -> Feed:
        """The same instrument on a higher timeframe; a bar is visible only after it closed."""
        return self.ctx.higher_timeframe(symbol or self.data.symbol, timeframe)

    def I(self, func: Callable[..., Any], *args: Any, name: str = "", **kwargs: Any) -> Any:  # noqa: E743, N802
        """Declare an indicator: computed once over all bars, revealed bar by bar.

        Series arguments are passed to `func` as whole arrays; `func` must be
        causal (value at i from inputs up to i), which every function in
        `atb.strategy.indicators` is and the tests check. Returns a `Series`,
        or a tuple of them when `func` returns several arrays.
        """
        clock: Series | None = None
        plain = []
        for arg in args:
            if isinstance(arg, Series):
                clock = clock or arg
                plain.append(arg._array)
            else:
                plain.append(arg)
        raw = func(*plain, **kwargs)
        label = name or getattr(func, "__name__", "indicator")
        outputs = list(raw) if isinstance(raw, tuple) else [raw]
        wrapped = [self._wrap(np.asarray(out, dtype=np.float64), clock, label) for out in outputs]
        if not isinstance(clock, MappedSeries):
            for series in wrapped:
                ready = np.flatnonzero(~np.isnan(series._array))
                self.warmup_bars = max(self.warmup_bars, int(ready[0]) if len(ready) else len(series._array))
        self._indicators.append(_Declaration(func, args, kwargs, wrapped))
        if isinstance(raw, tuple):
            fields = getattr(raw, "_fields", None)
            maker: Any = type(raw)
            return maker(*wrapped) if fields else tuple(wrapped)  # named tuples keep their field names
        return wrapped[0]

    def refresh_indicators(self) -> None:
        """Recompute every declared indicator over the data as it stands now.

        A live runtime appends each closed bar to the feeds' series and then calls this, so
        `self.I` series keep the meaning they have in a backtest (the full causal computation
        over all bars so far, not an incremental approximation that could drift from it).
        """
        for declaration in self._indicators:
            plain = [arg._array if isinstance(arg, Series) else arg for arg in declaration.args]
            raw = declaration.func(*plain, **declaration.kwargs)
            outputs = list(raw) if isinstance(raw, tuple) else [raw]
            clock = next((arg for arg in declaration.args if isinstance(arg, Series)), None)
            for series, out in zip(declaration.outputs, outputs, strict=True):
                values = np.asarray(out, dtype=np.float64)
                if isinstance(series, MappedSeries) and isinstance(clock, MappedSeries):
                    series._reset_mapped(values, np.asarray(clock._map, dtype=np.int64))
                else:
                    series._extend(values)

    def _wrap(self, values: np.ndarray[Any, Any], clock: Series | None, name: str) -> Series:
        ctx = self.ctx
        if isinstance(clock, MappedSeries):
            return MappedSeries(values, np.asarray(clock._map, dtype=np.int64), ctx.cursor, name)
        if len(values) != len(self.data.close._values):
            raise ValueError(
                f"indicator {name!r} returned {len(values)} values for {len(self.data.close._values)} bars"
            )
        return Series(values, ctx.cursor, name)

    # --- state ------------------------------------------------------------------------------
    @property
    def position(self) -> PositionView:
        """Position in the primary instrument."""
        return self.position_of(self.data.symbol)

    def position_of(self, symbol: str) -> PositionView:
        view = self._positions.get(symbol)
        if view is None:
            view = self._positions[symbol] = PositionView(self.ctx.position(symbol))
        return view

    @property
    def portfolio(self) -> PortfolioView:
        """Equity, cash, exposure and open positions across every instrument of the run."""
        return PortfolioView(self)

    @property
    def equity(self) -> Decimal:
        """Cash plus positions marked at the latest close, exact."""
        return Decimal(self.ctx.equity_units()).scaleb(-self.data.instrument.quote.precision)

    @property
    def cash(self) -> Decimal:
        return Decimal(self.ctx.cash_units()).scaleb(-self.data.instrument.quote.precision)

    @property
    def now_ns(self) -> int:
        """Open time (UTC epoch ns) of the bar being processed."""
        return self.ctx.now_ns()

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        return self.ctx.open_orders(symbol)

    def log(self, message: str) -> None:
        self.ctx.log(message)

    # --- orders -----------------------------------------------------------------------------
    def buy(
        self,
        *,
        quantity: Number | None = None,
        notional: Number | None = None,
        fraction: Number | None = None,
        limit: Number | None = None,
        stop: Number | None = None,
        tif: TimeInForce | str = TimeInForce.GTC,
        post_only: bool = False,
        reduce_only: bool = False,
        symbol: str | None = None,
        tag: str = "",
    ) -> Order:
        return self._order(
            OrderSide.BUY, quantity, notional, fraction, limit, stop, tif, post_only, reduce_only, symbol, tag
        )

    def sell(
        self,
        *,
        quantity: Number | None = None,
        notional: Number | None = None,
        fraction: Number | None = None,
        limit: Number | None = None,
        stop: Number | None = None,
        tif: TimeInForce | str = TimeInForce.GTC,
        post_only: bool = False,
        reduce_only: bool = False,
        symbol: str | None = None,
        tag: str = "",
    ) -> Order:
        return self._order(
            OrderSide.SELL, quantity, notional, fraction, limit, stop, tif, post_only, reduce_only, symbol, tag
        )

    def close(self, symbol: str | None = None, *, tag: str = "close") -> Order | None:
        """Flatten the position with a reduce-only market order; None when already flat."""
        sym = symbol or self.data.symbol
        lots = self.position_of(sym)._pos.lots
        if lots == 0:
            return None
        side = OrderSide.SELL if lots > 0 else OrderSide.BUY
        return self.ctx.submit(
            OrderRequest(sym, side, _MARKET, abs(lots), None, None, None, None, _GTC, False, True, tag)
        )

    def hold(self, direction: int, *, fraction: Number = 1, symbol: str | None = None) -> None:
        """Be long (+1), flat (0) or short (-1): close a position on the wrong side, then enter.

        The close is a reduce-only market order for the whole position; the
        entry, sent only when not already on that side, is a market order for
        `fraction` of equity. This is the order pattern `TargetSignals`
        describes, so a strategy built on `hold` can offer `target_signals()`.
        """
        if direction not in (-1, 0, 1):
            raise InvalidOrderError(f"direction must be -1, 0 or +1, got {direction!r}")
        sym = symbol or self.data.symbol
        lots = self.position_of(sym)._pos.lots
        if lots and (direction == 0 or (lots > 0) != (direction > 0)):
            self.close(sym)
            lots = 0
        if direction and not lots:
            # the same request `buy(fraction=...)` / `sell(fraction=...)` builds, without re-checking its arguments
            side = OrderSide.BUY if direction > 0 else OrderSide.SELL
            amount = _exact(fraction, "fraction")
            self.ctx.submit(OrderRequest(sym, side, _MARKET, None, None, amount, None, None, _GTC, False, False, ""))

    def order_target(self, fraction: Number, symbol: str | None = None, *, tag: str = "") -> Order | None:
        """Trade toward holding `fraction` of equity in `symbol` (negative = short), valued at the last close.

        Sends a market order for the difference (rounded toward zero to whole
        lots), or nothing when the difference is below the venue's minimum
        order. For rebalancing several instruments, send reductions first so
        sells fund the buys (see `momentum_rotation`).
        """
        sym = symbol or self.data.symbol
        delta = self.target_delta_lots(fraction, sym)
        if delta == 0:
            return None
        side = OrderSide.BUY if delta > 0 else OrderSide.SELL
        return self.ctx.submit(OrderRequest(sym, side, OrderType.MARKET, lots=abs(delta), tag=tag))

    def target_delta_lots(self, fraction: Number, symbol: str | None = None) -> int:
        """Lots `order_target` would trade (positive = buy); 0 when below the minimum order size."""
        sym = symbol or self.data.symbol
        inst = self.ctx.feed(sym).instrument
        unit = self.ctx.mark_ticks(sym) * inst.notional_factor
        target_lots = int(_exact(fraction, "fraction") * Decimal(self.ctx.equity_units()) / unit)  # toward zero
        delta = target_lots - self.ctx.position(sym).lots
        if abs(delta) < inst.min_lots or abs(delta) * unit < inst.min_notional_units:
            return 0
        return delta

    def cancel(self, order: Order) -> None:
        self.ctx.cancel(order)

    def cancel_all(self, symbol: str | None = None) -> None:
        for order in self.ctx.open_orders(symbol):
            self.ctx.cancel(order)

    def _order(
        self,
        side: OrderSide,
        quantity: Number | None,
        notional: Number | None,
        fraction: Number | None,
        limit: Number | None,
        stop: Number | None,
        tif: TimeInForce | str,
        post_only: bool,
        reduce_only: bool,
        symbol: str | None,
        tag: str,
    ) -> Order:
        sym = symbol or self.data.symbol
        inst = self.ctx.feed(sym).instrument
        if (quantity is not None) + (notional is not None) + (fraction is not None) != 1:
            raise InvalidOrderError("give exactly one of quantity=, notional= or fraction=")
        lots = notional_units = None
        equity_fraction = None
        if quantity is not None:
            lots = units_of(_exact(quantity, "quantity"), inst.lot, Rounding.DOWN)
            if lots <= 0:
                raise InvalidOrderError(f"quantity {quantity} is below one lot ({inst.lot}) of {sym}")
        elif notional is not None:
            notional_units = units_of(_exact(notional, "notional"), inst.quote.unit, Rounding.DOWN)
            if notional_units <= 0:
                raise InvalidOrderError(f"notional {notional} must be positive")
        else:
            assert fraction is not None
            equity_fraction = _exact(fraction, "fraction")
        buy = side is OrderSide.BUY
        limit_ticks = (
            None
            if limit is None
            else units_of(_exact(limit, "limit price"), inst.tick, Rounding.FLOOR if buy else Rounding.CEILING)
        )
        stop_ticks = (
            None
            if stop is None
            else units_of(_exact(stop, "stop price"), inst.tick, Rounding.CEILING if buy else Rounding.FLOOR)
        )
        if stop_ticks is not None:
            order_type = OrderType.STOP_LIMIT if limit_ticks is not None else OrderType.STOP_MARKET
        else:
            order_type = OrderType.LIMIT if limit_ticks is not None else OrderType.MARKET
        if tif is TimeInForce.GTC:
            time_in_force = TimeInForce.GTC
        else:
            try:
                time_in_force = TimeInForce(tif)
            except ValueError:
                raise InvalidOrderError(f"time in force must be gtc, ioc or fok, got {tif!r}") from None
        request = OrderRequest(
            sym, side, order_type, lots, notional_units, equity_fraction, limit_ticks, stop_ticks, time_in_force,
            post_only, reduce_only, tag,
        )  # fmt: skip
        return self.ctx.submit(request)


def strategy_params(cls: type[Strategy]) -> dict[str, Param[Any]]:
    return params_of(cls)
