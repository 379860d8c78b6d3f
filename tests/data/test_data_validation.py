"""Every validation rule on small hand-made CSVs: refused, with the file rows named."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from atb.data.loader import bars_from_arrays, load_ohlcv
from atb.errors import DataValidationError, UserInputError

HEADER = "timestamp,open,high,low,close,volume\n"
GOOD = [
    "2021-01-01 00:00,10,11,9,10.5,1",
    "2021-01-01 01:00,10.5,12,10,11,2",
    "2021-01-01 02:00,11,11.5,10.5,11,3",
    "2021-01-01 03:00,11,11.2,10.8,11.1,4",
]
H = 3_600_000_000_000
T0 = 1_609_459_200_000_000_000  # 2021-01-01 00:00 UTC


def write(tmp_path: Path, rows: list[str], name: str = "X_USDT_1h.csv", header: str = HEADER) -> Path:
    path = tmp_path / name
    path.write_text(header + "\n".join(rows) + "\n")
    return path


def with_row(index: int, text: str) -> list[str]:
    """GOOD with data row `index` (0-based) replaced: it is file row index + 2."""
    rows = list(GOOD)
    rows[index] = text
    return rows


def refused(path: Path, repair: bool = False) -> str:
    with pytest.raises(DataValidationError) as info:
        load_ohlcv(path, repair=repair)
    return str(info.value)


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ("2021-01-01 01:00,10.5,12,10,,2", "missing or non-finite close: row 3"),
        ("2021-01-01 01:00,NaN,12,10,11,2", "missing or non-finite open: row 3"),
        ("2021-01-01 01:00,10.5,inf,10,11,2", "missing or non-finite high: row 3"),
        ("2021-01-01 01:00,10.5,12,,11,2", "missing or non-finite low: row 3"),
        ("2021-01-01 01:00,10.5,12,10,11,", "missing or non-finite volume: row 3"),
        (",10.5,12,10,11,2", "missing timestamp: row 3"),
        ("2021-01-01 01:00,10.5,12,0,11,2", "non-positive price: row 3 (low=0)"),
        ("2021-01-01 01:00,-1,12,-2,11,2", "non-positive price: row 3 (open=-1, low=-2)"),
        ("2021-01-01 01:00,10.5,9,10,9.5,2", "high below low: row 3 (high=9, low=10)"),
        ("2021-01-01 01:00,10.5,12,10,12.5,2", "high below open or close: row 3 (high=12, open=10.5, close=12.5)"),
        ("2021-01-01 01:00,9.5,12,10,11,2", "low above open or close: row 3 (low=10, open=9.5, close=11)"),
        ("2021-01-01 01:00,10.5,12,10,11,-2", "negative volume: row 3 (volume=-2)"),
        ("2021-01-01 01:00,abc,12,10,11,2", "non-numeric open: row 3 ('abc')"),
        ("yesterday,10.5,12,10,11,2", "unparseable timestamp: row 3 ('yesterday')"),
    ],
)
def test_each_value_rule_names_the_file_row(tmp_path: Path, row: str, expected: str) -> None:
    message = refused(write(tmp_path, with_row(1, row)))
    first, *rest = message.splitlines()
    assert first.startswith(f"invalid market data in {tmp_path / 'X_USDT_1h.csv'}: problems in 1 row (")
    assert rest == [f"  - {expected}"]


def test_high_below_close_is_not_reported_as_high_below_low(tmp_path: Path) -> None:
    message = refused(write(tmp_path, with_row(2, "2021-01-01 02:00,11,11.5,10.5,12,3")))
    assert "high below open or close: row 4" in message
    assert "high below low" not in message


def test_repair_never_fixes_values(tmp_path: Path) -> None:
    path = write(tmp_path, with_row(1, "2021-01-01 01:00,10.5,12,10,,2"))
    assert "missing or non-finite close: row 3" in refused(path, repair=True)


def test_zero_volume_is_allowed_with_a_warning(tmp_path: Path) -> None:
    result = load_ohlcv(write(tmp_path, with_row(2, "2021-01-01 02:00,11,11.5,10.5,11,0")))
    assert result.bars.volume[2] == 0.0
    assert result.report.warnings == ["1 bar with zero volume (first at 2021-01-01 02:00 UTC)"]


def test_out_of_order_rows_are_refused_and_named(tmp_path: Path) -> None:
    rows = [GOOD[0], GOOD[2], GOOD[1], GOOD[3]]
    message = refused(write(tmp_path, rows))
    assert (
        "  - timestamp out of order: row 4 (2021-01-01 01:00 UTC is before 2021-01-01 02:00 UTC in row 3)"
        in message.splitlines()
    )
    assert "repair=True" in message  # the hint: this one is repairable


def test_exact_duplicate_refused_without_repair(tmp_path: Path) -> None:
    message = refused(write(tmp_path, [*GOOD[:2], GOOD[1], *GOOD[2:]]))
    assert "duplicate row (same time and values): row 4 (2021-01-01 01:00 UTC, same as row 3)" in message
    assert "conflicting" not in message


def test_conflicting_duplicate_refused_even_with_repair(tmp_path: Path) -> None:
    rows = [*GOOD[:2], "2021-01-01 01:00,10.5,12,10,11.5,2", *GOOD[2:]]
    for repair in (False, True):
        message = refused(write(tmp_path, rows), repair=repair)
        assert (
            "conflicting duplicate timestamp (same time, different values): row 4 "
            "(2021-01-01 01:00 UTC, same as row 3)" in message
        )
    assert "hint" not in message


def test_duplicates_found_even_when_not_adjacent(tmp_path: Path) -> None:
    rows = [GOOD[0], GOOD[1], GOOD[2], GOOD[1], GOOD[3]]  # row 5 repeats row 3, out of order too
    message = refused(write(tmp_path, rows))
    assert "timestamp out of order: row 5" in message
    assert "duplicate row (same time and values): row 5 (2021-01-01 01:00 UTC, same as row 3)" in message


def test_all_problem_kinds_in_one_error(tmp_path: Path) -> None:
    rows = [
        "2021-01-01 00:00,10,11,9,10.5,1",
        "2021-01-01 01:00,10,11,9,,1",  # row 3 missing close
        "2021-01-01 02:00,10,9,11,10,1",  # row 4 high < low (and both vs open/close)
        "2021-01-01 04:00,10,11,9,10,1",
        "2021-01-01 03:00,10,11,9,10,-1",  # row 6 out of order, negative volume
        "2021-01-01 04:00,10,11,9,10.2,1",  # row 7 conflicts with row 5
    ]
    lines = refused(write(tmp_path, rows)).splitlines()
    assert lines[0].endswith(
        "problems in 4 rows (missing or non-finite close; high below low; negative volume; timestamp out of order; "
        "conflicting duplicate timestamp (same time, different values))"
    )
    assert lines[1:-1] == [
        "  - missing or non-finite close: row 3",
        "  - high below low: row 4 (high=9, low=11)",
        "  - negative volume: row 6 (volume=-1)",
        "  - timestamp out of order: row 6 (2021-01-01 03:00 UTC is before 2021-01-01 04:00 UTC in row 5)",
        "  - conflicting duplicate timestamp (same time, different values): row 7 "
        "(2021-01-01 04:00 UTC, same as row 5)",
    ]
    assert lines[-1].startswith("  hint: repair=True")


def test_long_lists_are_cut_after_five_rows(tmp_path: Path) -> None:
    rows = [f"2021-01-01 {h:02d}:00,10,11,9,10,-1" for h in range(8)]
    message = refused(write(tmp_path, rows))
    assert "negative volume: rows 2 (volume=-1), 3 (volume=-1), 4 (volume=-1), 5 (volume=-1), " in message
    assert message.splitlines()[1].endswith("6 (volume=-1) and 3 more")
    assert "problems in 8 rows (" in message.splitlines()[0]


def test_error_is_a_user_input_error(tmp_path: Path) -> None:
    with pytest.raises(UserInputError):
        load_ohlcv(write(tmp_path, with_row(1, "2021-01-01 01:00,10.5,12,10,,2")))


# ------------------------------------------------------------------ repair


def test_repair_sorts_and_drops_exact_duplicates(tmp_path: Path) -> None:
    rows = [GOOD[2], GOOD[0], GOOD[0], GOOD[1], GOOD[3], GOOD[3]]
    result = load_ohlcv(write(tmp_path, rows), repair=True)
    assert result.report.rows_read == 6
    assert result.report.rows_used == 4
    assert result.report.repairs == [
        "sorted rows by time (1 row out of order)",
        "dropped 2 rows that exactly duplicated an earlier row (rows 4, 7)",
    ]
    np.testing.assert_array_equal(result.bars.ts, T0 + H * np.arange(4))
    np.testing.assert_array_equal(result.bars.close, [10.5, 11, 11, 11.1])
    np.testing.assert_array_equal(result.bars.volume, [1, 2, 3, 4])
    assert result.report.gaps.count == 0


def test_repair_on_clean_file_does_nothing(tmp_path: Path) -> None:
    result = load_ohlcv(write(tmp_path, GOOD), repair=True)
    assert result.report.repairs == []
    assert result.report.rows_used == 4


def test_row_numbers_stay_file_rows_when_repair_would_reorder(tmp_path: Path) -> None:
    rows = [GOOD[3], GOOD[0], GOOD[1], "2021-01-01 02:00,11,11.5,10.5,0,3"]
    message = refused(write(tmp_path, rows), repair=True)
    assert "non-positive price: row 5 (close=0)" in message
    assert "out of order" not in message  # repairable, so not refused when repair=True


# ------------------------------------------------------------------ other sources


def test_parquet_rows_are_counted_from_one(tmp_path: Path) -> None:
    path = tmp_path / "X_USDT_1h.parquet"
    table = pa.table(
        {
            "timestamp": pa.array(T0 // 1_000_000 + np.arange(3) * 3_600_000, pa.int64()),
            "open": [10.0, 10.0, 10.0],
            "high": [11.0, 9.0, 11.0],
            "low": [9.0, 9.5, 9.0],
            "close": [10.0, 9.5, 10.0],
            "volume": [1.0, 1.0, 1.0],
        }
    )
    pq.write_table(table, path)
    message = refused(path)
    assert "high below low: row 2 (high=9, low=9.5)" in message


def test_arrays_are_validated_the_same_way_with_indices() -> None:
    ts = T0 + H * np.array([0, 1, 1, 3])
    with pytest.raises(DataValidationError) as info:
        bars_from_arrays(ts, [1, 1, 1, 1], [2, 2, 2, 0.5], [0.5, 0.5, 0.5, 1], [1, 1.5, 1, 1], [1, 1, 1, 1])
    message = str(info.value)
    assert "high below low: index 3 (high=0.5, low=1)" in message
    assert "conflicting duplicate timestamp (same time, different values): index 2" in message


def test_bad_cells_beyond_the_first_parsed_block_are_named(tmp_path: Path) -> None:
    """The CSV reader infers types from its first block (1 MB); later bad cells still get rows."""
    n = 40_000
    minutes = np.datetime64("2021-01-01T00:00") + np.arange(n).astype("timedelta64[m]")
    rows = [f"{m},10,11,9,10,1" for m in minutes.astype(str)]
    rows[35_000] = "garbage,10,11,9,10,1"
    rows[36_000] = f"{minutes[36_000]},10,11,9,x,1"
    path = write(tmp_path, rows)
    assert path.stat().st_size > 1 << 20
    message = refused(path)
    assert "unparseable timestamp: row 35002 ('garbage')" in message
    assert "non-numeric close: row 36002 ('x')" in message


def test_epoch_numbers_that_fall_back_to_text_still_load(tmp_path: Path) -> None:
    n = 40_000
    seconds = T0 // 1_000_000_000 + 60 * np.arange(n)
    rows = [f"{s},10,11,9,10,1" for s in seconds.tolist()]
    rows[30_000] = f"{seconds[30_000]}.0,10,11,9,10,1"  # a float in an int column, far down
    rows[39_000] = f"{seconds[39_000]},10,11,9,,1"  # and a missing close to force the text path
    message = refused(write(tmp_path, rows))
    assert message.splitlines()[1:] == ["  - missing or non-finite close: row 39002"]
