"""Arrow timestamp columns to epoch ns, read from their buffers (without `pyarrow.compute`)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from atb.data._arrow import time_to_ns
from atb.errors import DataValidationError

T0_S = 1_700_000_000


@pytest.mark.parametrize(("unit", "per_second"), [("s", 1), ("ms", 10**3), ("us", 10**6), ("ns", 10**9)])
@pytest.mark.parametrize("tz", [None, "UTC", "Asia/Tokyo"])
@pytest.mark.parametrize("split", [0, 2])
def test_every_unit_and_zone_gives_utc_nanoseconds(unit: str, per_second: int, tz: str | None, split: int) -> None:
    counts = [T0_S * per_second, (T0_S + 60) * per_second, None, (T0_S + 180) * per_second]
    parts = [counts[:split], counts[split:]] if split else [counts]
    column = pa.chunked_array([pa.array(p, pa.int64()) for p in parts]).cast(pa.timestamp(unit, tz=tz))
    before = column.to_pylist()
    times = time_to_ns(column)
    assert column.to_pylist() == before  # one chunk is read in place: the Arrow data must stay as it was
    assert times.ns.tolist() == [T0_S * 10**9, (T0_S + 60) * 10**9, 0, (T0_S + 180) * 10**9]
    assert times.missing is not None and times.missing.tolist() == [False, False, True, False]
    reference = column.cast(pa.timestamp("ns", tz=tz)).cast(pa.int64()).to_pylist()
    assert [v for v in reference if v is not None] == np.delete(times.ns, 2).tolist()


def test_a_timestamp_beyond_the_nanosecond_range_is_refused() -> None:
    column = pa.array([T0_S, 10**11], pa.int64()).cast(pa.timestamp("s"))  # the year 5138
    with pytest.raises(DataValidationError, match="timestamp out of range"):
        time_to_ns(column)


def test_a_single_chunk_without_nulls_is_scaled_into_a_new_array() -> None:
    column = pa.array([T0_S, T0_S + 60], pa.int64()).cast(pa.timestamp("s"))
    times = time_to_ns(column)
    assert times.ns.tolist() == [T0_S * 10**9, (T0_S + 60) * 10**9]
    assert times.missing is None
    assert column.cast(pa.int64()).to_pylist() == [T0_S, T0_S + 60]
