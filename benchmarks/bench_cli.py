"""Whole-process speed of `atb backtest` on a CSV: start-up, imports, parsing, validation, run, result JSON.

    python benchmarks/bench_cli.py [N] [--repeat R] [--csv FILE] [--commission RATE]

Writes N synthetic 1-minute bars (default 1,000,000; the `synthetic` recipe,
4-decimal prices) to a CSV once, or uses `--csv`, then times R fresh
`atb backtest --data FILE --symbol SYN/USDT --strategy sma_cross -p fast=10
-p slow=20 --json OUT` processes after one warm-up, as peerbench does, and
prints the min and median wall time and bars/second. This is the number the
speed goal is about (peerbench compares it with backtesting.py in the same
run; `--commission 0` gives backtesting.py's costs, and then about 2.3 times
as many trades, since a run that pays 0.1 % per fill soon has no equity left
to trade). Not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _write_csv(n: int) -> Path:
    import pyarrow as pa
    import pyarrow.csv as pacsv
    from synthetic import random_walk_bars

    path = Path(tempfile.gettempdir()) / f"atb-bench-{n}.csv"
    if not path.exists():
        bars = random_walk_bars(n)
        table = pa.table(
            {
                "timestamp": pa.array(bars.ts // 1_000_000_000).cast(pa.timestamp("s")),
                "open": bars.open,
                "high": bars.high,
                "low": bars.low,
                "close": bars.close,
                "volume": bars.volume,
            }
        )
        pacsv.write_csv(table, path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("bars", nargs="?", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--csv", type=Path, help="time this file instead of a synthetic one")
    parser.add_argument("--commission", help="fee rate passed to atb (default: ATB's own, 0.1 %%)")
    args = parser.parse_args()
    csv = args.csv or _write_csv(args.bars)
    rows = sum(1 for _ in csv.open()) - 1
    atb = Path(sys.executable).with_name("atb")
    command = [str(atb)] if atb.exists() else [sys.executable, "-m", "atb.cli"]
    walls = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        cmd = [*command, "backtest", "--data", str(csv), "--symbol", "SYN/USDT", "--strategy", "sma_cross"]
        cmd += ["-p", "fast=10", "-p", "slow=20", "--json", str(out)]
        cmd += ["--commission", args.commission] if args.commission is not None else []
        for k in range(args.repeat + 1):
            started = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            if k:  # the first run is a warm-up (page cache), as in peerbench
                walls.append(time.perf_counter() - started)
        size = out.stat().st_size
    best, median = min(walls), statistics.median(walls)
    fee = f", commission {args.commission}" if args.commission is not None else ""
    print(
        f"atb backtest, whole process, {rows:,} bars ({csv}){fee}, result JSON {size / 1e6:.1f} MB, {args.repeat} runs"
    )
    print(f"  min    {best:.3f} s  {rows / best:>12,.0f} bars/s")
    print(f"  median {median:.3f} s  {rows / median:>12,.0f} bars/s")


if __name__ == "__main__":
    main()
