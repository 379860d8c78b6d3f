"""Causal, bar-relative views of data columns and indicators.

A `Series` wraps an array computed over the whole run, but only reveals it up
to the bar being processed: `s[0]` (or `s.now`) is the current bar,
`s[-1]` the one before, and any positive offset raises `LookAheadError`. The
array is computed once, vectorised, before the run; reading is one list
index, cheap enough for a callback on every bar.

Values are held in a Python list (not a numpy array): indexing a list returns
a float without allocating a numpy scalar, several times faster.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import numpy.typing as npt

from atb.errors import AtbError

_NAN = float("nan")


class LookAheadError(AtbError, IndexError):
    """A strategy asked for a value from a bar that has not closed yet."""


class BarCursor(Protocol):
    """The engine's bar index: the only mutable thing a Series reads."""

    i: int


class Series:
    __slots__ = ("_array", "_cursor", "_values", "name")

    def __init__(self, values: npt.ArrayLike, cursor: BarCursor, name: str = "") -> None:
        array = np.asarray(values)
        if array.ndim != 1:
            raise ValueError(f"series {name!r} must be one-dimensional, got shape {array.shape}")
        self._array = array
        self._values: list[float] = array.tolist()
        self._cursor = cursor
        self.name = name

    @property
    def now(self) -> float:
        """Value at the current bar."""
        return self._values[self._cursor.i]

    @property
    def prev(self) -> float:
        """Value at the previous bar; NaN at the first bar, like any value still warming up."""
        i = self._cursor.i
        return self._values[i - 1] if i else _NAN

    def __getitem__(self, offset: int) -> float:
        """`s[0]` now, `s[-k]` k bars ago (NaN before the first bar); positive offsets are look-ahead."""
        if offset > 0:
            raise LookAheadError(f"series {self.name!r}[{offset}] looks {offset} bar(s) into the future")
        i = self._cursor.i + offset
        return self._values[i] if i >= 0 else _NAN

    def window(self, n: int) -> npt.NDArray[np.float64]:
        """The last `n` values up to and including the current bar (a read-only numpy view)."""
        i = self._cursor.i + 1
        view = self._array[max(0, i - n) : i]
        view.flags.writeable = False
        return view

    def history(self) -> npt.NDArray[np.float64]:
        """Everything revealed so far (read-only view)."""
        return self.window(self._cursor.i + 1)

    def __len__(self) -> int:
        """Bars revealed so far."""
        return self._cursor.i + 1

    def __float__(self) -> float:
        return float(self.now)

    def _reset(self, values: npt.ArrayLike) -> None:
        """Replace the values (a live runtime after a new bar); the cursor decides what is visible."""
        array = np.asarray(values)
        self._array = array
        self._values = array.tolist()

    def _extend(self, values: npt.ArrayLike) -> None:
        """Take a longer copy of a causal series: earlier values cannot have changed, so only the new
        tail is converted (a live node's per-bar cost stays flat however long it has run)."""
        array = np.asarray(values)
        known = len(self._values)
        self._array = array
        if len(array) >= known:
            self._values.extend(array[known:].tolist())
        else:
            self._values = array.tolist()

    def __repr__(self) -> str:
        return f"Series({self.name!r}, now={self.now!r})"


class MappedSeries(Series):
    """A series on another clock (a higher timeframe), read through an index map.

    `index_map[i]` is the last higher-timeframe bar that had *closed* by the
    close of base bar `i` (-1 when none had), so nothing from an unfinished
    1d bar is visible on the 1h bars inside it.
    """

    __slots__ = ("_map",)

    def __init__(
        self, values: npt.ArrayLike, index_map: npt.NDArray[np.int64], cursor: BarCursor, name: str = ""
    ) -> None:
        super().__init__(values, cursor, name)
        self._map: list[int] = index_map.tolist()

    @property
    def now(self) -> float:
        """Latest closed higher-timeframe value; NaN until the first one has closed."""
        j = self._map[self._cursor.i]
        return self._values[j] if j >= 0 else _NAN

    @property
    def prev(self) -> float:
        j = self._map[self._cursor.i] - 1
        return self._values[j] if j >= 0 else _NAN

    def __getitem__(self, offset: int) -> float:
        if offset > 0:
            raise LookAheadError(f"series {self.name!r}[{offset}] looks {offset} bar(s) into the future")
        j = self._map[self._cursor.i] + offset
        return self._values[j] if j >= 0 else _NAN

    def window(self, n: int) -> npt.NDArray[np.float64]:
        j = self._map[self._cursor.i] + 1
        view = self._array[max(0, j - n) : max(0, j)]
        view.flags.writeable = False
        return view

    def history(self) -> npt.NDArray[np.float64]:
        return self.window(self._map[self._cursor.i] + 1)

    def __len__(self) -> int:
        return self._map[self._cursor.i] + 1

    def _reset_mapped(self, values: npt.ArrayLike, index_map: npt.NDArray[np.int64]) -> None:
        """Replace values and map together (a live runtime after a new base bar)."""
        self._reset(values)
        self._map = index_map.tolist()
