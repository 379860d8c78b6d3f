"""Loading: column spellings, time formats, file formats, symbol/timeframe inference."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from atb.data.bars import Bars
from atb.data.loader import bars_from_arrays, build_from_arrays, load_ohlcv, symbol_from_path
from atb.data.validation import infer_timeframe
from atb.errors import DataValidationError, UserInputError

H = 3_600_000_000_000
T0 = 1_609_459_200_000_000_000  # 2021-01-01 00:00 UTC
VALUES = [  # open, high, low, close, volume for 3 hourly bars
    (10.0, 11.0, 9.0, 10.5, 1.5),
    (10.5, 12.0, 10.0, 11.0, 0.25),
    (11.0, 11.5, 10.5, 11.25, 3.0),
]


def csv_text(header: str, times: list[str], with_volume: bool = True, extra: str = "") -> str:
    lines = [header]
    for t, (o, h, lo, c, v) in zip(times, VALUES, strict=True):
        lines.append(f"{t},{o},{h},{lo},{c}" + (f",{v}" if with_volume else "") + extra)
    return "\n".join(lines) + "\n"


def write(tmp_path: Path, text: str, name: str = "BTC_USDT_1h.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def assert_standard(bars: Bars) -> None:
    """The three VALUES bars at 00:00, 01:00, 02:00 UTC on 2021-01-01."""
    np.testing.assert_array_equal(bars.ts, T0 + H * np.arange(3))
    assert bars.ts.dtype == np.int64
    for i, name in enumerate(("open", "high", "low", "close", "volume")):
        col = getattr(bars, name)
        assert col.dtype == np.float64
        np.testing.assert_array_equal(col, [row[i] for row in VALUES])
    assert bars.timeframe_ns == H


ISO_TIMES = ["2021-01-01 00:00:00", "2021-01-01 01:00:00", "2021-01-01 02:00:00"]


@pytest.mark.parametrize(
    "header",
    [
        "timestamp,open,high,low,close,volume",
        " Date , Open ,HIGH,Low,CLOSE, Volume ",
        "datetime,open,high,low,close,vol",
        "Time,open,high,low,close,VOL",
        "open_time,open,high,low,close,volume",
        "ts,open,high,low,close,volume",
    ],
)
def test_column_spellings(tmp_path: Path, header: str) -> None:
    result = load_ohlcv(write(tmp_path, csv_text(header, ISO_TIMES)))
    assert_standard(result.bars)
    assert result.report.warnings == []


def test_extra_columns_are_ignored(tmp_path: Path) -> None:
    text = csv_text("timestamp,open,high,low,close,volume,trades,note", ISO_TIMES, extra=",7,hello")
    assert_standard(load_ohlcv(write(tmp_path, text)).bars)


def test_missing_volume_becomes_zero_with_a_note(tmp_path: Path) -> None:
    result = load_ohlcv(write(tmp_path, csv_text("timestamp,open,high,low,close", ISO_TIMES, False)))
    np.testing.assert_array_equal(result.bars.volume, np.zeros(3))
    assert result.report.warnings[0] == "no volume column: volume set to 0 for every bar"
    assert "3 bars with zero volume" in result.report.warnings[1]


def test_missing_price_column_is_named(tmp_path: Path) -> None:
    with pytest.raises(DataValidationError, match=r"missing column close \(found: 'timestamp', 'open'"):
        load_ohlcv(write(tmp_path, "timestamp,open,high,low,vol\n2021-01-01,1,1,1,1\n"))


def test_missing_time_column_lists_accepted_names(tmp_path: Path) -> None:
    with pytest.raises(DataValidationError, match="time column may be called timestamp, datetime, date"):
        load_ohlcv(write(tmp_path, "when,open,high,low,close\n2021-01-01,1,1,1,1\n"))


@pytest.mark.parametrize(
    ("times", "why"),
    [
        (["1609459200", "1609462800", "1609466400"], "epoch seconds"),
        (["1609459200000", "1609462800000", "1609466400000"], "epoch milliseconds"),
        (["1609459200000000", "1609462800000000", "1609466400000000"], "epoch microseconds"),
        (["1609459200000000000", "1609462800000000000", "1609466400000000000"], "epoch nanoseconds"),
        (["1609459200.0", "1609462800.0", "1609466400.0"], "float epoch seconds"),
        (["2021-01-01T00:00:00Z", "2021-01-01T01:00:00Z", "2021-01-01T02:00:00Z"], "ISO, Z"),
        (["2021-01-01T02:00:00+02:00", "2021-01-01T03:00:00+02:00", "2021-01-01T04:00:00+02:00"], "+02:00"),
        (["2020-12-31T19:00:00-05:00", "2020-12-31T20:00:00-05:00", "2020-12-31T21:00:00-05:00"], "-05:00"),
        (["2021-01-01T00:00:00Z", "2021-01-01 01:00:00", "2021-01-01T03:00:00+01:00"], "mixed zone and naive"),
        (["2021-01-01 00:00", "2021-01-01 01:00", "2021-01-01 02:00"], "naive minutes"),
    ],
)
def test_time_formats(tmp_path: Path, times: list[str], why: str) -> None:
    result = load_ohlcv(write(tmp_path, csv_text("timestamp,open,high,low,close,volume", times)))
    assert_standard(result.bars)


def test_fractional_epoch_seconds(tmp_path: Path) -> None:
    times = ["1609459200.5", "1609459201.5", "1609459202.5"]
    bars = load_ohlcv(write(tmp_path, csv_text("ts,open,high,low,close,volume", times))).bars
    np.testing.assert_array_equal(bars.ts, T0 + 500_000_000 + 1_000_000_000 * np.arange(3))
    assert bars.timeframe_ns == 1_000_000_000


def test_date_only_is_midnight_utc(tmp_path: Path) -> None:
    times = ["2021-01-01", "2021-01-02", "2021-01-03"]
    bars = load_ohlcv(write(tmp_path, csv_text("date,open,high,low,close,volume", times), "BTC_USDT_1d.csv")).bars
    np.testing.assert_array_equal(bars.ts, T0 + 24 * H * np.arange(3))
    assert bars.timeframe_ns == 24 * H


def test_epoch_row_in_another_unit_is_named(tmp_path: Path) -> None:
    times = ["1609459200000", "1609462800", "1609466400000"]
    with pytest.raises(DataValidationError, match=r"epoch timestamp in a different unit from the rest \(ms\): row 3"):
        load_ohlcv(write(tmp_path, csv_text("timestamp,open,high,low,close,volume", times)))


def test_gzip_csv(tmp_path: Path) -> None:
    path = tmp_path / "BTC_USDT_1h.csv.gz"
    path.write_bytes(gzip.compress(csv_text("timestamp,open,high,low,close,volume", ISO_TIMES).encode()))
    result = load_ohlcv(path)
    assert_standard(result.bars)
    assert result.bars.symbol == "BTC/USDT"


def test_utf8_bom_header(tmp_path: Path) -> None:
    path = tmp_path / "BTC_USDT_1h.csv"
    path.write_bytes(b"\xef\xbb\xbf" + csv_text("Timestamp,Open,High,Low,Close,Volume", ISO_TIMES).encode())
    assert_standard(load_ohlcv(path).bars)


@pytest.mark.parametrize(
    "time_column",
    [
        pa.array((T0 // 1_000_000 + np.arange(3) * 3_600_000), pa.int64()).cast(pa.timestamp("ms", tz="UTC")),
        pa.array((T0 // 1_000_000 + np.arange(3) * 3_600_000), pa.int64()).cast(pa.timestamp("ms")),
        pa.array(T0 + np.arange(3) * H, pa.int64()).cast(pa.timestamp("ns", tz="Europe/Paris")),
        pa.array(T0 // 1_000_000 + np.arange(3) * 3_600_000, pa.int64()),
        pa.array((T0 // 1_000_000_000 + np.arange(3) * 3600).astype(np.float64), pa.float64()),
    ],
)
def test_parquet_time_types(tmp_path: Path, time_column: pa.Array) -> None:
    names = ["Open", "High", "Low", "Close", "Volume"]
    columns = {name: pa.array([row[i] for row in VALUES], pa.float64()) for i, name in enumerate(names)}
    table = pa.table({"Timestamp": time_column, **columns})
    path = tmp_path / "BTC_USDT_1h.parquet"
    pq.write_table(table, path, compression="zstd")
    assert_standard(load_ohlcv(path).bars)


def test_parquet_round_trip_of_a_csv(tmp_path: Path) -> None:
    original = load_ohlcv(write(tmp_path, csv_text("timestamp,open,high,low,close,volume", ISO_TIMES))).bars
    table = pa.table(
        {
            "timestamp": pa.array(original.ts, pa.int64()).cast(pa.timestamp("ns", tz="UTC")),
            "open": original.open,
            "high": original.high,
            "low": original.low,
            "close": original.close,
            "volume": original.volume,
        }
    )
    path = tmp_path / "BTC_USDT_1h.parquet"
    pq.write_table(table, path)
    again = load_ohlcv(path).bars
    for name in ("ts", "open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(getattr(again, name), getattr(original, name))
    assert (again.symbol, again.timeframe_ns) == (original.symbol, original.timeframe_ns)


def test_parquet_with_nulls_is_refused(tmp_path: Path) -> None:
    table = pa.table(
        {
            "timestamp": pa.array([T0, None, T0 + 2 * H], pa.int64()),
            "open": pa.array([1.0, 1.0, None]),
            "high": [1.0, 1.0, 1.0],
            "low": [1.0, 1.0, 1.0],
            "close": [1.0, 1.0, 1.0],
        }
    )
    path = tmp_path / "X.parquet"
    pq.write_table(table, path)
    with pytest.raises(DataValidationError) as info:
        load_ohlcv(path)
    assert "missing timestamp: row 2" in str(info.value)
    assert "missing or non-finite open: row 3" in str(info.value)


@pytest.mark.parametrize(
    ("name", "symbol"),
    [
        ("BTC_USDT_2h.csv", "BTC/USDT"),
        ("eth-usdt.csv.gz", "ETH/USDT"),
        ("sol_usdc_15m.parquet", "SOL/USDC"),
        ("BTCUSDT.csv", "BTCUSDT"),
        ("synth-1m.csv", "SYNTH-1M"),
        ("my_price_data_v2.csv", "MY_PRICE_DATA_V2"),
    ],
)
def test_symbol_from_file_name(name: str, symbol: str) -> None:
    assert symbol_from_path(Path("/data") / name) == symbol


def test_symbol_argument_wins(tmp_path: Path) -> None:
    path = write(tmp_path, csv_text("timestamp,open,high,low,close,volume", ISO_TIMES))
    assert load_ohlcv(path, symbol="XBT/EUR").bars.symbol == "XBT/EUR"


def test_timeframe_is_the_most_common_step_and_gaps_are_reported(tmp_path: Path) -> None:
    hours = [0, 1, 2, 5, 6, 7, 8, 12, 13]
    ts = T0 + H * np.array(hours)
    result = build_from_arrays(ts, np.ones(9), np.ones(9), np.ones(9), np.ones(9), np.ones(9))
    assert result.bars.timeframe_ns == H
    gaps = result.report.gaps
    assert (gaps.count, gaps.missing_bars, gaps.largest_ns, gaps.largest_at) == (2, 5, 4 * H, T0 + 8 * H)
    assert gaps.gaps == [(T0 + 2 * H, T0 + 5 * H), (T0 + 8 * H, T0 + 12 * H)]
    assert gaps.describe() == "2 gaps (5 missing 1h bars); largest: 3 bars (3h) missing after 2021-01-01 08:00 UTC"


def test_timeframe_name_mismatch_warns(tmp_path: Path) -> None:
    result = load_ohlcv(write(tmp_path, csv_text("timestamp,open,high,low,close,volume", ISO_TIMES), "BTC_USDT_4h.csv"))
    assert result.bars.timeframe_ns == H
    assert "the file name says 4h but the most common step between bars is 1h" in result.report.warnings[0]


def test_single_bar_needs_a_timeframe(tmp_path: Path) -> None:
    text = "timestamp,open,high,low,close\n2021-01-01,1,1,1,1\n"
    assert load_ohlcv(write(tmp_path, text, "BTC_USDT_1d.csv")).bars.timeframe_ns == 24 * H
    with pytest.raises(DataValidationError, match="single bar"):
        load_ohlcv(write(tmp_path, text, "data.csv"))
    assert load_ohlcv(tmp_path / "data.csv", timeframe_ns=H).bars.timeframe_ns == H


def test_empty_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(DataValidationError, match="no data rows"):
        load_ohlcv(write(tmp_path, "timestamp,open,high,low,close\n"))
    with pytest.raises(DataValidationError, match="empty"):
        load_ohlcv(write(tmp_path, ""))
    with pytest.raises(UserInputError, match="not found"):
        load_ohlcv(tmp_path / "nope.csv")
    with pytest.raises(UserInputError, match="unsupported data file"):
        load_ohlcv(write(tmp_path, "x", "data.xlsx"))
    with pytest.raises(DataValidationError, match=r"cannot read .* as CSV"):
        load_ohlcv(write(tmp_path, "timestamp,open,high,low,close\n2021-01-01,1,1\n"))


def test_bars_are_read_only(tmp_path: Path) -> None:
    bars = load_ohlcv(write(tmp_path, csv_text("timestamp,open,high,low,close,volume", ISO_TIMES))).bars
    with pytest.raises(ValueError, match="read-only"):
        bars.close[0] = 1.0


def test_bars_from_arrays_copies_and_accepts_datetime64() -> None:
    close = np.array([10.5, 11.0, 11.25])
    ts = np.array(["2021-01-01T00:00", "2021-01-01T01:00", "2021-01-01T02:00"], dtype="datetime64[m]")
    o, h, lo = (np.array([row[i] for row in VALUES]) for i in range(3))
    bars = bars_from_arrays(ts, o, h, lo, close, [1.5, 0.25, 3.0])
    assert_standard(bars)
    close[0] = 99.0
    assert bars.close[0] == 10.5
    assert bars.symbol == "SYNTH"


def test_bars_from_arrays_rejects_float_time() -> None:
    with pytest.raises(DataValidationError, match="epoch nanoseconds"):
        bars_from_arrays(np.array([1.0, 2.0]), [1, 1], [1, 1], [1, 1], [1, 1])


def test_bars_from_arrays_repair() -> None:
    ts = T0 + H * np.array([1, 0, 0, 2])
    result = build_from_arrays(ts, [2, 1, 1, 3], [2, 1, 1, 3], [2, 1, 1, 3], [2, 1, 1, 3], repair=True)
    np.testing.assert_array_equal(result.bars.ts, T0 + H * np.arange(3))
    np.testing.assert_array_equal(result.bars.close, [1, 2, 3])
    assert result.report.repairs == [
        "sorted rows by time (1 index out of order)",
        "dropped 1 index that exactly duplicated an earlier row (index 2)",
    ]


def test_report_describe(tmp_path: Path) -> None:
    times = ["2021-01-01 00:00", "2021-01-01 01:00", "2021-01-01 04:00"]
    path = write(tmp_path, csv_text("timestamp,open,high,low,close,volume", times))
    # 3 rows, two steps (1h, 3h): tie for the most common step -> the smaller one
    report = load_ohlcv(path).report
    assert report.describe() == (
        f"{path}: 3 rows read, 3 used; 1 gap (2 missing 1h bars); "
        "largest: 2 bars (2h) missing after 2021-01-01 01:00 UTC"
    )


def test_loading_never_imports_pandas(tmp_path: Path) -> None:
    csv_path = write(tmp_path, csv_text("timestamp,open,high,low,close,volume", ISO_TIMES))
    code = (
        "import sys\n"
        "import numpy as np\n"
        "from atb.data.loader import bars_from_arrays\n"
        "bars_from_arrays(np.arange(3) * 60_000_000_000, [1.0] * 3, [1.0] * 3, [1.0] * 3, [1.0] * 3)\n"
        "assert 'pyarrow' not in sys.modules, 'pyarrow was imported for in-memory arrays'\n"
        "from atb.data.sample import load_sample\n"
        "from atb.data.resample import resample\n"
        "b = load_sample('BTC_USDT_5m').bars\n"
        "resample(b, 3_600_000_000_000)\n"
        "from atb.data.loader import load_ohlcv\n"
        "load_ohlcv(sys.argv[1])\n"
        "assert 'pyarrow' in sys.modules\n"
        "assert 'pandas' not in sys.modules, 'pandas was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code, str(csv_path)], check=True)


def test_timeframe_without_a_majority_step_is_the_mode() -> None:
    hours = np.cumsum([0, 2, 1, 5, 1, 2, 5, 1])  # steps: 1h x3, 2h x2, 5h x2 -> no majority
    ts = T0 + H * hours
    assert infer_timeframe(ts) == H
    assert infer_timeframe(ts[:1]) == 0


def test_corrupt_parquet_is_a_validation_error(tmp_path: Path) -> None:
    path = tmp_path / "BTC_USDT_1h.parquet"
    path.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(DataValidationError, match=r"cannot read .* as Parquet"):
        load_ohlcv(path)
