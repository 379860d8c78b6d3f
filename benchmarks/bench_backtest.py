"""Event-driven backtest speed: `sma_cross` with a Python `on_bar` on every bar.

    python benchmarks/bench_backtest.py [N] [--repeat R]

Prints bars/second for the bar loop (strategy callback on every bar, order
matching, exact ledger) and for the whole run (plus indicators and the
vectorised results). Not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic import random_walk_bars

from atb.engine.backtest import Backtest
from atb.strategy.builtin.sma_cross import SmaCross


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("bars", nargs="?", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    bars = random_walk_bars(args.bars)
    best: dict[str, float] = {}
    trades = orders = 0
    for _ in range(args.repeat):
        engine = Backtest(SmaCross(fast=10, slow=20), bars, fee="0", engine="event")
        start = time.perf_counter()
        result = engine.run()
        timings = dict(engine.timings, total_s=time.perf_counter() - start)
        for key, value in timings.items():
            best[key] = min(best.get(key, value), value)
        trades, orders = int(result.stats["trades"]), int(result.stats["orders"])
    n = args.bars
    print(f"sma_cross event-driven, {n:,} bars, {orders:,} orders, {trades:,} trades, best of {args.repeat}")
    rows = [
        ("bar loop (on_bar every bar + orders + ledger)", best["loop_s"], True),
        ("indicators (on_start)", best["on_start_s"], False),
        ("results (equity, trades, stats)", best["results_s"], False),
        ("whole run", best["total_s"], True),
    ]
    for label, seconds, rate in rows:
        speed = f"{n / seconds:>12,.0f} bars/s" if rate else ""
        print(f"  {label:<46} {seconds:.3f} s  {speed}")


if __name__ == "__main__":
    main()
