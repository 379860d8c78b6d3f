"""The chunked all-clean shortcut of `check_values` must never pass data the full checks would refuse."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from atb.data.validation import _CHUNK, PRICE_COLUMNS, check_values

DEFECTS = ("nan", "inf", "zero", "negative", "crossed", "high_low", "low_high", "volume")


def _columns(n: int, seed: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    close = np.round(100 * np.exp(np.cumsum(rng.normal(0, 0.01, n))), 2)
    open_ = np.concatenate(([100.0], close[:-1]))
    high = np.maximum(open_, close) + rng.uniform(0, 1, n)
    low = np.minimum(open_, close) - rng.uniform(0, 1, n)
    low = np.maximum(low, 0.01)
    return {"open": open_, "high": high, "low": low, "close": close}, rng.uniform(0, 100, n)


def _spoil(prices: dict[str, np.ndarray], volume: np.ndarray, row: int, defect: str, column: str) -> None:
    if defect == "nan":
        prices[column][row] = np.nan
    elif defect == "inf":
        prices[column][row] = np.inf
    elif defect == "zero":
        prices[column][row] = 0.0
    elif defect == "negative":
        prices[column][row] = -1.0
    elif defect == "crossed":
        prices["high"][row] = prices["low"][row] - 0.5
    elif defect == "high_low":
        prices["high"][row] = prices["open"][row] - 0.001
    elif defect == "low_high":
        prices["low"][row] = prices["close"][row] + 0.001
    else:
        volume[row] = -1.0


def _full(prices: dict[str, np.ndarray], volume: np.ndarray) -> list[tuple[str, list[int]]]:
    """The checks that name the rows (an empty `reported` entry switches the shortcut off)."""
    problems = check_values(None, prices, volume, reported={"open": np.zeros(0, dtype=np.intp)})
    return [(p.title, p.positions.tolist()) for p in problems]


@settings(max_examples=80, deadline=None)
@given(
    st.integers(1, 2 * _CHUNK + 3),
    st.integers(0, 2**32 - 1),
    st.lists(
        st.tuples(st.floats(0, 1, exclude_max=True), st.sampled_from(DEFECTS), st.sampled_from(PRICE_COLUMNS)),
        max_size=3,
    ),
)
def test_the_shortcut_agrees_with_the_full_checks(n: int, seed: int, defects: list[tuple[float, str, str]]) -> None:
    prices, volume = _columns(n, seed)
    for where, defect, column in defects:
        _spoil(prices, volume, int(where * n), defect, column)
    quick = [(p.title, p.positions.tolist()) for p in check_values(None, prices, volume)]
    assert quick == _full(prices, volume)


def test_a_defect_in_the_last_row_of_a_chunk_is_found() -> None:
    prices, volume = _columns(2 * _CHUNK, 7)
    prices["high"][_CHUNK - 1] = np.nan
    titles = [p.title for p in check_values(None, prices, volume)]
    assert "missing or non-finite high" in titles
