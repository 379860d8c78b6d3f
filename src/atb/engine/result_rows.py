"""The result JSON's `trades`, `orders` and `equity` rows, built from columns.

Each column is formatted in one pass per instrument grid (decimal strings from
exact integers, `formatting.scaled_strs`), and the rows are then zipped
together: tens of thousands of rows cost a few list comprehensions, not a
method call per cell. Both engines go through here, so their JSON cannot
differ in formatting.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numpy as np
import numpy.typing as npt

from atb.engine.columns import OrderColumns
from atb.engine.formatting import Grid, div_round_half_even, fixed_str, scaled_strs, scaled_strs_or_none
from atb.engine.trades import TradeColumns

_PRICE_EXTRA_DIGITS = 4
"""Average prices are quotients: shown with 4 digits beyond the tick, half-even."""

Grids = dict[str, tuple[Grid, Grid]]
"""Symbol → (lot grid, tick grid)."""

K = TypeVar("K")
T = TypeVar("T")


_NS_PER_S = 1_000_000_000
_MINUTES = [f"{m // 60:02d}:{m % 60:02d}:00Z" for m in range(1440)]
"""Every whole minute of a day as ISO text: bar times are nearly always whole minutes."""


def iso_times(ns: npt.ArrayLike) -> list[str]:
    """UTC epoch ns → ISO 8601 strings with a Z ("2020-01-01T00:01:00Z"), vectorised.

    Times on whole minutes (bar data) are glued from a day's date and a table
    of the day's minutes, three times faster than numpy's formatting of each
    value; any other time goes through `numpy.datetime_as_string`, which also
    fixes the format the shortcut reproduces.
    """
    values = np.asarray(ns, dtype=np.int64)
    if len(values) == 0:
        return []
    seconds, rest = np.divmod(values, _NS_PER_S)
    days, of_day = np.divmod(seconds, 86_400)
    first, span = int(days.min()), int(days.max() - days.min()) + 1
    if rest.any() or (of_day % 60).any() or span > 4 * len(values) + 1024:
        text = np.datetime_as_string(values.astype("datetime64[ns]"), unit="s")
        return [t + "Z" for t in text.tolist()]
    dates = np.datetime_as_string(np.arange(first, first + span).astype("datetime64[D]")).tolist()
    heads = [d + "T" for d in dates]
    minutes = _MINUTES
    return [heads[d] + minutes[m] for d, m in zip((days - first).tolist(), (of_day // 60).tolist(), strict=True)]


def trade_rows(
    trades: TradeColumns, mae: npt.NDArray[np.float64], mfe: npt.NDArray[np.float64], grids: Grids
) -> list[dict[str, Any]]:
    if not len(trades):
        return []
    symbols = [str(inst.id) for inst in trades.instruments]
    pnl = trades.pnl_units

    def texts(sym: int, cols: list[list[int]]) -> list[list[str]]:
        lots, entry, exit_, gains, fees = cols
        inst = trades.instruments[sym]
        lot_grid, tick_grid = grids[symbols[sym]]
        qp = inst.quote.precision
        factor, step = inst.notional_factor, lot_grid.step_int
        units = lots if factor == 1 else [q * factor for q in lots]
        return [
            scaled_strs(lots if step == 1 else [q * step for q in lots], lot_grid.decimals),
            _avg_prices(entry, lots, units, lot_grid, tick_grid, qp),
            _avg_prices(exit_, lots, units, lot_grid, tick_grid, qp),
            scaled_strs(gains, qp),
            scaled_strs(fees, qp) if any(fees) else scaled_strs([0], qp) * len(fees),  # fee-free runs: one text
        ]

    quantity, entry_price, exit_price, pnl_text, fee_text = _by_group(
        trades.owner, [trades.lots, trades.entry_notional, trades.exit_notional, pnl, trades.fees], texts
    )
    durations = ((np.array(trades.exit_ts) - np.array(trades.entry_ts)) / 1e9).tolist()  # int64 ns: exact
    return [
        {
            "symbol": symbols[sym],
            "side": "long" if d > 0 else "short",
            "entry_time": et,
            "exit_time": xt,
            "quantity": q,
            "entry_price": ep,
            "exit_price": xp,
            "pnl": p,
            "return_pct": r,
            "fees": f,
            "duration_s": dur,
            "mae_pct": a,
            "mfe_pct": b,
            "open": o,
        }
        for sym, d, et, xt, q, ep, xp, p, r, f, dur, a, b, o in zip(
            trades.owner, trades.direction, iso_times(trades.entry_ts), iso_times(trades.exit_ts), quantity,
            entry_price, exit_price, pnl_text, trades.return_pct, fee_text, durations, mae.tolist(), mfe.tolist(),
            trades.is_open, strict=True,
        )
    ]  # fmt: skip


def order_rows(orders: OrderColumns, grids: Grids) -> list[dict[str, Any]]:
    def texts(symbol: str, cols: list[list[Any]]) -> list[list[str | None]]:
        lots, filled, notional, limit, stop = cols
        lot_grid, tick_grid = grids[symbol]
        quantity = _scaled_texts(lots, lot_grid)
        # most orders filled completely (the text is the quantity's) or not at all: format only the rest
        (zero,) = scaled_strs([0], lot_grid.decimals)
        filled_qty = [zero if not f else q if f == n else None for f, n, q in zip(filled, lots, quantity, strict=True)]
        partial = [k for k, text in enumerate(filled_qty) if text is None]
        for k, text in zip(
            partial, scaled_strs([filled[k] * lot_grid.step_int for k in partial], lot_grid.decimals), strict=True
        ):
            filled_qty[k] = text
        # the average fill price: whole ticks (one fill, or fills at one price) formatted as a column
        ticks = _whole_quotients(notional, filled)
        price = _scaled_texts(ticks, tick_grid)
        for k in [k for k, (f, t) in enumerate(zip(filled, ticks, strict=True)) if f and t is None]:
            price[k] = _avg_ticks(notional[k], filled[k], tick_grid)  # between ticks: 4 more digits
        m = len(lots)
        limit_text: list[str | None] = (
            [None] * m if limit.count(None) == m else scaled_strs_or_none(limit, tick_grid.decimals, tick_grid.step_int)
        )
        stop_text: list[str | None] = (
            [None] * m if stop.count(None) == m else scaled_strs_or_none(stop, tick_grid.decimals, tick_grid.step_int)
        )
        return [quantity, filled_qty, price, limit_text, stop_text]

    quantity, filled_qty, price, limit, stop = _by_group(
        orders.symbol,
        [orders.lots, orders.filled_lots, orders.filled_notional, orders.limit_ticks, orders.stop_ticks],
        texts,
    )
    return [
        {
            "id": i,
            "time": t,
            "symbol": s,
            "side": sd,
            "type": ty,
            "quantity": q,
            "price": p,
            "limit_price": lp,
            "stop_price": sp,
            "filled_quantity": fq,
            "status": st,
            "reason": r,
            "tag": tg,
        }
        for i, t, s, sd, ty, q, p, lp, sp, fq, st, r, tg in zip(
            orders.ids, iso_times(orders.ts), orders.symbol, orders.side, orders.type, quantity, price, limit, stop,
            filled_qty, orders.status, orders.reason, orders.tag, strict=True,
        )
    ]  # fmt: skip


def equity_rows(ts: npt.NDArray[np.int64], equity_exact: dict[int, int], precision: int) -> list[dict[str, str]]:
    points = sorted(equity_exact)
    times = iso_times(ts[np.asarray(points, dtype=np.int64)])
    values = scaled_strs([equity_exact[i] for i in points], precision)
    return [{"time": t, "equity": v} for t, v in zip(times, values, strict=True)]


def _scaled_texts(units: list[int | None], grid: Grid) -> list[str | None]:
    """`units` steps of `grid` as decimal strings, None kept (`scaled_strs_or_none`, cheaper when no None)."""
    if None in units:
        return scaled_strs_or_none(units, grid.decimals, grid.step_int)
    values = cast(list[int], units)
    step = grid.step_int
    texts = scaled_strs(values if step == 1 else [v * step for v in values], grid.decimals)
    return cast(list[str | None], texts)


def _by_group(
    keys: list[K], columns: list[list[Any]], make: Callable[[K, list[list[Any]]], list[list[T]]]
) -> list[list[T]]:
    """Text columns made one instrument grid at a time: `make(key, the key's rows of each column)`.

    With one key (the usual single-instrument run) the columns go to `make`
    whole: no gathering into groups and no scattering back.
    """
    if not keys or keys.count(keys[0]) == len(keys):
        return make(keys[0], columns) if keys else [[] for _ in columns]
    groups: dict[K, list[int]] = {}
    for k, key in enumerate(keys):
        groups.setdefault(key, []).append(k)
    out: list[list[Any]] = []
    for key, rows in groups.items():
        made = make(key, [[column[k] for k in rows] for column in columns])
        if not out:
            out = [[None] * len(keys) for _ in made]
        for target, part in zip(out, made, strict=True):
            for k, text in zip(rows, part, strict=True):
                target[k] = text
    return out


def _avg_ticks(ticks_times_lots: int, lots: int, tick: Grid) -> str:
    """Average fill price: exact when it lies on the tick grid, else 4 more digits, half-even."""
    if ticks_times_lots % lots == 0:
        return tick.format(ticks_times_lots // lots)
    scale = 10**_PRICE_EXTRA_DIGITS
    value = div_round_half_even(ticks_times_lots * tick.step_int * scale, lots)
    return fixed_str(value, tick.decimals + _PRICE_EXTRA_DIGITS)


def _avg_prices(
    notionals: list[int], lots: list[int], units: list[int], lot: Grid, tick: Grid, quote_precision: int
) -> list[str]:
    """notional / quantity as price strings, a column at a time.

    `units[k]` is lots[k] × the notional factor: a notional divisible by it is
    a whole number of ticks, the exact price (what `avg_price` finds the slow
    way); the rest go through `avg_price`. The divisibility test and the
    division run in int64 when every number fits (always, short of notionals
    near 10^18 quote units), else on Python ints.
    """
    whole_ticks = _whole_quotients(notionals, units)
    out = _scaled_texts(whole_ticks, tick)
    for k in [k for k, t in enumerate(whole_ticks) if t is None]:
        out[k] = avg_price(notionals[k], lots[k], lot, tick, quote_precision)
    return cast(list[str], out)


_INT64_SAFE = 1 << 62


def _whole_quotients(numerators: list[int], denominators: list[int]) -> list[int | None]:
    """n // d where d > 0 divides n, None elsewhere (d = 0: nothing filled, no price).

    In int64, one column at a time, when every number fits (always, short of
    notionals near 10^18 quote units); on Python ints otherwise.
    """
    try:
        num = np.array(numerators, dtype=np.int64)
        den = np.array(denominators, dtype=np.int64)
        fits = not len(den) or (int(den.min()) >= 0 and int(np.abs(num).max()) < _INT64_SAFE)
    except OverflowError:
        fits = False
    if not fits:
        return [n // d if d and n % d == 0 else None for n, d in zip(numerators, denominators, strict=True)]
    empty = den == 0
    quotient, remainder = np.divmod(num, np.where(empty, 1, den))
    whole: list[int | None] = quotient.tolist()
    for k in np.flatnonzero((remainder != 0) | empty).tolist():
        whole[k] = None
    return whole


def avg_price(notional_units: int, lots: int, lot: Grid, tick: Grid, quote_precision: int) -> str:
    """notional / quantity as a price string (exact on-grid, else 4 extra digits half-even)."""
    # price = notional × 10^-qp / (lots × lot_int × 10^-dl), expressed in units of 10^-(dt+extra)
    num = notional_units * 10**lot.decimals  # price = num / den, in quote currency
    den = 10**quote_precision * lots * lot.step_int
    in_decimals = num * 10**tick.decimals
    if in_decimals % den == 0 and (in_decimals // den) % tick.step_int == 0:
        return tick.format(in_decimals // den // tick.step_int)  # on the tick grid: exact, the tick's decimals
    digits = tick.decimals + _PRICE_EXTRA_DIGITS
    value = div_round_half_even(num * 10**digits, den)
    return fixed_str(value, digits)
