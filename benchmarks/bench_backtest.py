"""Backtest speed: `sma_cross` bar by bar (a Python `on_bar` on every bar) and on its signal path.

    python benchmarks/bench_backtest.py [N] [--repeat R]

Prints bars/second for the event-driven bar loop (strategy callback on every
bar, order matching, exact ledger) and for the whole run (plus indicators and
the vectorised results); then the same strategy through `TargetSignals` and
the columnar signal kernel (what `atb backtest` runs by default), including
the result JSON. Not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic import random_walk_bars

from atb.data.bars import Bars
from atb.engine.backtest import Backtest
from atb.strategy.builtin.sma_cross import SmaCross


def _best_of(bars: Bars, engine: str, repeat: int) -> tuple[dict[str, float], int, int]:
    best: dict[str, float] = {}
    trades = orders = 0
    for _ in range(repeat):
        run = Backtest(SmaCross(fast=10, slow=20), bars, fee="0", engine=engine)
        start = time.perf_counter()
        result = run.run()
        timings = dict(run.timings, total_s=time.perf_counter() - start)
        started = time.perf_counter()
        orjson.dumps(result.to_dict(), option=orjson.OPT_SERIALIZE_NUMPY)
        timings["json_s"] = time.perf_counter() - started
        for key, value in timings.items():
            best[key] = min(best.get(key, value), value)
        trades, orders = int(result.stats["trades"]), int(result.stats["orders"])
    return best, trades, orders


def _print(rows: list[tuple[str, float, bool]], n: int) -> None:
    for label, seconds, rate in rows:
        speed = f"{n / seconds:>12,.0f} bars/s" if rate else ""
        print(f"  {label:<46} {seconds:.3f} s  {speed}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("bars", nargs="?", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    bars = random_walk_bars(args.bars)
    n = args.bars

    best, trades, orders = _best_of(bars, "event", args.repeat)
    print(f"sma_cross event-driven, {n:,} bars, {orders:,} orders, {trades:,} trades, best of {args.repeat}")
    _print(
        [
            ("bar loop (on_bar every bar + orders + ledger)", best["loop_s"], True),
            ("indicators (on_start)", best["on_start_s"], False),
            ("results (equity, trades, stats)", best["results_s"], False),
            ("whole run", best["total_s"], True),
            ("result JSON (rows + orjson)", best["json_s"], False),
        ],
        n,
    )

    best, trades, orders = _best_of(bars, "signals", args.repeat)
    print(f"sma_cross signal path (columnar kernel), {orders:,} orders, {trades:,} trades, best of {args.repeat}")
    _print(
        [
            ("signals (SMAs and crosses, vectorised)", best["on_start_s"], False),
            ("kernel (orders, fills, ledger)", best["loop_s"], False),
            ("results (equity, trades, stats)", best["results_s"], False),
            ("whole run", best["total_s"], True),
            ("result JSON (rows + orjson)", best["json_s"], False),
            ("whole run + JSON", best["total_s"] + best["json_s"], True),
        ],
        n,
    )


if __name__ == "__main__":
    main()
