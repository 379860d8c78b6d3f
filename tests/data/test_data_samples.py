"""The bundled sample data: complete, equal to the CSV originals, gaps as documented."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest

from atb.data.loader import load_ohlcv
from atb.data.sample import list_samples, load_sample, sample_path
from atb.errors import UserInputError

SHARED = Path("/work/shared/data")
H = 3_600_000_000_000
MIN = 60_000_000_000
EXPECTED = [
    "BTC_USDT_1d",
    "BTC_USDT_2h",
    "BTC_USDT_5m",
    "ETH_USDT_5m",
    *(f"multi_1h/{c}_USDT_1h" for c in ("ADA", "BNB", "BTC", "DOGE", "DOT", "ETH", "LINK", "LTC", "SOL", "XRP")),
]


def ns(text: str) -> int:
    return int(np.datetime64(text, "ns").astype(np.int64))


def test_every_sample_is_listed_and_found() -> None:
    assert list_samples() == EXPECTED
    assert sample_path() == sample_path("BTC_USDT_2h")
    assert sample_path().name == "BTC_USDT_2h.parquet"
    assert sample_path("ETH_USDT_1h") == sample_path("multi_1h/ETH_USDT_1h")
    for name in EXPECTED:
        assert sample_path(name).is_file()


def test_unknown_sample_lists_the_names() -> None:
    with pytest.raises(UserInputError, match="no bundled sample named 'BTC_USDT_3h'; available: BTC_USDT_1d"):
        sample_path("BTC_USDT_3h")


def test_package_data_globs_cover_the_samples() -> None:
    """Every bundled file is matched by a package-data glob in pyproject, so wheels ship it."""
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    if not pyproject.is_file():
        pytest.skip("not running from a source checkout")
    globs = tomllib.loads(pyproject.read_text())["tool"]["setuptools"]["package-data"]["atb"]
    package = sample_path().parents[2]  # .../atb
    shipped = {p for pattern in globs for p in package.glob(pattern)}
    bundled = {p for p in (package / "data" / "sample").rglob("*") if p.is_file()}
    assert len(bundled) == len(EXPECTED)
    assert bundled <= shipped


def test_btc_2h_has_the_18_documented_gaps() -> None:
    pd = pytest.importorskip("pandas")
    result = load_sample("BTC_USDT_2h")
    bars, report = result.bars, result.report
    assert len(bars) == 35_123  # README
    assert (bars.symbol, bars.timeframe_ns) == ("BTC/USDT", 2 * H)
    assert bars.ts[0] == ns("2017-08-17T04:00") and bars.ts[-1] == ns("2025-08-26T10:00")

    # independent reference: pandas on the same file
    frame = pd.read_parquet(sample_path("BTC_USDT_2h"))
    steps = frame["timestamp"].diff().dropna()
    big = steps[steps > pd.Timedelta(hours=2)]
    assert len(big) == 18 == report.gaps.count
    assert report.gaps.missing_bars == int((big // pd.Timedelta(hours=2) - 1).sum()) == 53
    assert report.gaps.largest_ns == int(big.max().value)
    assert report.gaps.describe() == (
        "18 gaps (53 missing 2h bars); largest: 16 bars (1d 8h) missing after 2018-02-08 00:00 UTC"
    )
    assert report.warnings == ["2 bars with zero volume (first at 2017-09-06 16:00 UTC)"]  # README: 2


@pytest.mark.parametrize("name", ["BTC_USDT_5m", "ETH_USDT_5m"])
def test_5m_samples_have_the_two_maintenance_gaps(name: str) -> None:
    result = load_sample(name)
    assert len(result.bars) == 25_967
    gaps = result.report.gaps
    assert gaps.count == 2
    # README: gaps at 2021-04-20 02:00 and 2021-04-25 04:00
    for (start, end), when in zip(gaps.gaps, ("2021-04-20T02:00", "2021-04-25T04:00"), strict=True):
        assert start <= ns(when) < end
    assert gaps.gaps[0] == (ns("2021-04-20T01:55"), ns("2021-04-20T04:30"))
    assert gaps.describe() == (
        "2 gaps (86 missing 5m bars); largest: 56 bars (4h 40m) missing after 2021-04-25 04:00 UTC"
    )


def test_multi_asset_samples_share_timestamps() -> None:
    names = [n for n in EXPECTED if n.startswith("multi_1h/")]
    first = load_sample(names[0])
    for name in names:
        result = load_sample(name)
        np.testing.assert_array_equal(result.bars.ts, first.bars.ts)
        assert len(result.bars) == 2_166
        assert result.report.gaps.count == 2
        assert result.bars.symbol == name.split("/")[1].rsplit("_", 1)[0].replace("_", "/")


@pytest.mark.skipif(not SHARED.is_dir(), reason="original CSVs not available")
@pytest.mark.parametrize("name", EXPECTED)
def test_sample_equals_the_csv_original(name: str) -> None:
    pd = pytest.importorskip("pandas")
    csv = pd.read_csv(SHARED / f"{name}.csv")  # pandas' default float parser is round-trip exact
    bars = load_sample(name).bars
    expected_ts = pd.to_datetime(csv["timestamp"], utc=True).dt.as_unit("ns").astype("int64").to_numpy()
    np.testing.assert_array_equal(bars.ts, expected_ts)
    for column in ("open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(getattr(bars, column), csv[column].to_numpy(dtype=np.float64))


@pytest.mark.skipif(not SHARED.is_dir(), reason="original CSVs not available")
def test_csv_and_parquet_give_the_same_report() -> None:
    from_csv = load_ohlcv(SHARED / "BTC_USDT_2h.csv").report
    from_parquet = load_sample("BTC_USDT_2h").report
    assert from_csv.gaps == from_parquet.gaps
    assert from_csv.warnings == from_parquet.warnings
