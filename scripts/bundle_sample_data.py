"""Rebuild the bundled sample data (src/atb/data/sample/) from the CSV originals.

Usage: python scripts/bundle_sample_data.py [--src /work/shared/data] [--dst src/atb/data/sample]

Each CSV is parsed and validated by `atb.data.loader.load_ohlcv` (no repair:
the samples are real data, gaps included) and written as Parquet with the
values exactly as parsed. The Parquet layout is chosen for size, since the
files ship inside the wheel: zstd level 19, no dictionary pages (prices are
nearly all distinct) and delta encoding for the evenly spaced timestamps.
Every written file is read back and compared before the script reports success.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from atb.data.loader import load_ohlcv
from atb.data.resample import format_timeframe

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SRC = Path("/work/shared/data")
DEFAULT_DST = REPO / "src" / "atb" / "data" / "sample"
SUBDIRS = ("", "multi_1h")
NS_PER_MS = 1_000_000


def convert(csv_path: Path, out_path: Path) -> str:
    """Write one sample file and check it round-trips; returns a one-line summary."""
    loaded = load_ohlcv(csv_path)
    bars = loaded.bars
    if np.any(bars.ts % NS_PER_MS):
        raise SystemExit(f"{csv_path}: sub-millisecond timestamps; widen the timestamp unit")
    table = pa.table(
        {
            "timestamp": pa.array(bars.ts // NS_PER_MS, type=pa.int64()).cast(pa.timestamp("ms", tz="UTC")),
            "open": pa.array(bars.open, type=pa.float64()),
            "high": pa.array(bars.high, type=pa.float64()),
            "low": pa.array(bars.low, type=pa.float64()),
            "close": pa.array(bars.close, type=pa.float64()),
            "volume": pa.array(bars.volume, type=pa.float64()),
        }
    ).replace_schema_metadata(
        {
            "atb.symbol": bars.symbol,
            "atb.timeframe": format_timeframe(bars.timeframe_ns),
            "atb.source": csv_path.name,
        }
    )
    out_path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(
        table,
        out_path,
        compression="zstd",
        compression_level=19,
        use_dictionary=False,
        column_encoding={"timestamp": "DELTA_BINARY_PACKED"},
    )

    back = load_ohlcv(out_path)
    for name in ("ts", "open", "high", "low", "close", "volume"):
        if not np.array_equal(getattr(back.bars, name), getattr(bars, name)):
            raise SystemExit(f"{out_path}: column {name} differs after the round trip")
    if back.report.gaps != loaded.report.gaps or back.bars.symbol != bars.symbol:
        raise SystemExit(f"{out_path}: gap report or symbol differs after the round trip")
    return (
        f"{out_path.relative_to(out_path.parents[1])}: {len(bars):,} bars, "
        f"{out_path.stat().st_size / 1024:,.0f} KiB ({csv_path.stat().st_size / 1024:,.0f} KiB "
        f"CSV); {loaded.report.gaps.describe()}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=DEFAULT_SRC)
    parser.add_argument("--dst", type=Path, default=DEFAULT_DST)
    args = parser.parse_args(argv)
    count = 0
    for sub in SUBDIRS:
        for csv_path in sorted((args.src / sub).glob("*.csv")):
            print(convert(csv_path, args.dst / sub / (csv_path.stem + ".parquet")))
            count += 1
    if count == 0:
        print(f"no CSV files found under {args.src}", file=sys.stderr)
        return 1
    print(f"{count} files written to {args.dst}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
