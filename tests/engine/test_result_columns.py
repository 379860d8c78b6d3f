"""The column-at-a-time result code against slower, independent ways of computing the same thing.

Trades: the flat-to-flat shortcut against the general walk over the fills.
Prices, amounts: the column formatters against `Decimal`. Tick snapping: the
cache-sized chunks against the whole-array computation.
"""

from __future__ import annotations

from decimal import Context, Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atb.engine.columns import FillColumns
from atb.engine.formatting import Grid, scaled_strs, scaled_strs_or_none
from atb.engine.market import _CHUNK, _snap, to_ticks
from atb.engine.result_rows import _avg_prices, _whole_quotients, avg_price, iso_times
from atb.engine.trades import _flat_to_flat, _walk_fills, build_trades
from atb.errors import DataValidationError

from .helpers import instrument

INST = instrument(lot="0.001", fee="0.00075")


def _fills(signed: list[int], ticks: list[int], fees: list[int]) -> FillColumns:
    bars = list(range(0, 3 * len(signed), 3))
    return FillColumns(
        bar=bars, ts=[1_000 + b for b in bars], signed=signed, ticks=ticks, fee=fees, owner=None, instruments=[INST]
    )


@st.composite
def round_trips(draw: st.DrawFn) -> FillColumns:
    """Fills that open from flat and close to flat, the last trade possibly still open."""
    trades = draw(st.integers(1, 12))
    signed: list[int] = []
    for _ in range(trades):
        lots = draw(st.integers(1, 10**12))
        side = draw(st.sampled_from([1, -1]))
        signed += [side * lots, -side * lots]
    if draw(st.booleans()):
        signed.pop()
    ticks = [draw(st.integers(1, 10**9)) for _ in signed]
    fees = [draw(st.integers(0, 10**9)) for _ in signed]
    return _fills(signed, ticks, fees)


@settings(max_examples=300, deadline=None)
@given(round_trips(), st.integers(1, 10**9))
def test_flat_to_flat_trades_equal_the_general_walk(fills: FillColumns, last_close: int) -> None:
    fast = _flat_to_flat(fills, [last_close], 999, 99_999)
    assert fast is not None
    assert fast == _walk_fills(fills, [last_close], 999, 99_999)


def test_fills_that_flip_or_scale_in_take_the_general_walk() -> None:
    flip = _fills([5, -8, 3], [100, 110, 105], [7, 9, 4])
    scale_in = _fills([5, 5, -10], [100, 101, 103], [1, 1, 2])
    for fills in (flip, scale_in):
        assert _flat_to_flat(fills, [100], 9, 9) is None
        assert build_trades(fills, [100], 9, 9) == _walk_fills(fills, [100], 9, 9)
    trades = build_trades(flip, [100], 9, 9)
    assert trades.direction == [1, -1] and trades.lots == [5, 3] and trades.is_open == [False, False]
    assert trades.fees == [7 + 9 * 5 // 8, 9 - 9 * 5 // 8 + 4]  # the flip's fee split, rounded down for the close


@settings(max_examples=500, deadline=None)
@given(
    st.integers(-(10**30), 10**30),
    st.integers(0, 12),
)
def test_scaled_strings_are_decimal_strings(value: int, decimals: int) -> None:
    (text,) = scaled_strs([value], decimals)
    exact = Decimal(value).scaleb(-decimals, Context(prec=100))
    assert text == format(exact, f".{decimals}f")
    assert Decimal(text) == exact


@settings(max_examples=200)
@given(st.lists(st.tuples(st.integers(0, 10**20), st.integers(0, 10**6)), max_size=30))
def test_whole_quotients_in_int64_or_python_ints_are_the_definition(pairs: list[tuple[int, int]]) -> None:
    numerators, denominators = [n for n, _ in pairs], [d for _, d in pairs]
    expected = [n // d if d and n % d == 0 else None for n, d in pairs]
    assert _whole_quotients(numerators, denominators) == expected
    small = [n % 10**12 for n in numerators]  # int64 all the way
    assert _whole_quotients(small, denominators) == [
        n // d if d and n % d == 0 else None for n, d in zip(small, denominators, strict=True)
    ]


@settings(max_examples=500, deadline=None)
@given(
    st.sampled_from(["0.01", "0.0001", "0.5", "1", "25"]),
    st.sampled_from(["0.00000001", "0.001", "1", "0.05"]),
    st.integers(1, 10**9),
    st.integers(1, 10**7),
    st.integers(0, 5),
)
def test_column_prices_equal_the_one_at_a_time_quotient(
    tick: str, lot: str, ticks: int, lots: int, remainder: int
) -> None:
    inst = instrument(tick=tick, lot=lot)
    unit = lots * inst.notional_factor
    notional = ticks * unit + remainder  # on the grid when remainder is 0, a 4-digit quotient otherwise
    lot_grid, tick_grid = Grid(inst.lot), Grid(inst.tick)
    qp = inst.quote.precision
    (column,) = _avg_prices([notional], [lots], [unit], lot_grid, tick_grid, qp)
    assert column == avg_price(notional, lots, lot_grid, tick_grid, qp)
    if remainder == 0:
        assert Decimal(column) == Decimal(ticks) * inst.tick


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 3 * _CHUNK + 5), st.integers(0, 2**32 - 1), st.sampled_from([0, 2, 4]))
def test_chunked_snapping_equals_the_whole_array(n: int, seed: int, decimals: int) -> None:
    rng = np.random.default_rng(seed)
    scale = 10.0**decimals
    values = np.round(rng.uniform(0.01, 5e4, n), decimals)
    if n and seed % 3 == 0:
        values[rng.integers(0, n)] += 0.4 / scale  # off the grid somewhere
    worst, allowed, largest = _snap(values, scale)
    scaled = values * scale
    rounded = np.rint(scaled)
    assert worst == (float(np.abs(scaled - rounded).max()) if n else 0.0)
    assert largest == (float(np.abs(rounded).max()) if n else 0.0)
    assert allowed == 1e-6 * max(1.0, 1e-9 * largest)
    tick = Decimal(1).scaleb(-decimals)
    if worst <= allowed:
        assert np.array_equal(to_ticks(values, tick, "close", "X"), rounded.astype(np.int64))
    else:
        with pytest.raises(DataValidationError, match="not a multiple of the tick"):
            to_ticks(values, tick, "close", "X")


def test_snapping_refuses_prices_too_large_for_the_tick_without_a_cast_warning() -> None:
    values = np.full(2 * _CHUNK, 1.0)
    values[-1] = 2.0**60
    with pytest.raises(DataValidationError, match="too large"):
        to_ticks(values, Decimal(1), "close", "X")


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(-(10**12), 10**12), min_size=1, max_size=50),
    st.sampled_from([60 * 10**9, 10**9, 1, 86_400 * 10**9]),
    st.sampled_from([0, 1_577_836_800 * 10**9, -(10**18), 4 * 10**18]),
    st.sampled_from([1, 10**6, 60 * 10**9]),
)
def test_iso_times_equal_numpy_formatting(steps: list[int], unit: int, origin: int, spread: int) -> None:
    """Whole minutes take the date + minute table shortcut; anything else numpy's formatting."""
    raw = np.array(steps, dtype=np.int64) * spread // unit * unit + origin
    reference = [t + "Z" for t in np.datetime_as_string(raw.astype("datetime64[ns]"), unit="s").tolist()]
    assert iso_times(raw) == reference


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.integers(-(10**20), 10**20)), max_size=20),
    st.integers(-3, 12),
    st.sampled_from([1, 5, 25]),
)
def test_strings_or_none_match_the_plain_column(values: list[int | None], decimals: int, step: int) -> None:
    texts = scaled_strs_or_none(values, decimals, step)
    present = [v * step for v in values if v is not None]
    assert [t for t in texts if t is not None] == scaled_strs(present, decimals)
    assert [t is None for t in texts] == [v is None for v in values]
