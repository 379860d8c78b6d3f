"""Market data: the `Bars` table, CSV/Parquet loading with validation, resampling, bundled samples."""

from atb.data.bars import Bars
from atb.data.loader import DataReport, LoadResult, bars_from_arrays, load_ohlcv
from atb.data.resample import parse_timeframe, resample
from atb.data.sample import list_samples, load_sample, sample_path

__all__ = [
    "Bars",
    "DataReport",
    "LoadResult",
    "bars_from_arrays",
    "list_samples",
    "load_ohlcv",
    "load_sample",
    "parse_timeframe",
    "resample",
    "sample_path",
]
