"""What the `atb` commands print and write, and the checks they share: Rich only, no Typer.

Kept apart from the Typer declarations in `atb.cli` so that the plain
`atb backtest ...` line (`atb.fast_argv`) runs without importing Typer at
all; both paths print through these same functions.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from atb.errors import UserInputError

if TYPE_CHECKING:
    from atb.services.backtest import BacktestOutcome

out = Console(emoji=False)  # no ":name:" codes in our text; and rich then skips loading its emoji table
err = Console(stderr=True, soft_wrap=True, emoji=False)


def check_writable(path: Path | str | None) -> None:
    """Fail before a long run, not after it, when an output file cannot be written."""
    if path is None or str(path) == "-":
        return
    target = Path(path)
    parent = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise UserInputError(f"{target} is a folder; give a file name")
    if not parent.is_dir():
        raise UserInputError(f"cannot write {target}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise UserInputError(f"cannot write {target}: folder {parent} is not writable")


def parse_pairs(pairs: list[str]) -> dict[str, str]:
    parsed: dict[str, str] = {}
    for item in pairs:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserInputError(f"parameter {item!r} must look like key=value")
        parsed[key.strip()] = value
    return parsed


def write_json(payload: bytes, json_out: str, console: Console, *, quiet: bool) -> None:
    """The result JSON to a file, or to stdout for `--json -` (the tables then went to stderr)."""
    if json_out == "-":
        sys.stdout.buffer.write(payload + b"\n")
        sys.stdout.flush()
        return
    Path(json_out).write_bytes(payload)
    if not quiet:
        console.print(f"result JSON written to {json_out}")


def progress_bar() -> Any:
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    progress = Progress(
        TextColumn("backtest"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,} bars"),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    )
    state: dict[str, Any] = {}

    def update(done: int, total: int) -> None:
        if "task" not in state:
            if total < 200_000:
                state["task"] = None
                return
            progress.start()
            state["task"] = progress.add_task("run", total=total)
        if state["task"] is not None:
            progress.update(state["task"], completed=done)
            if done >= total:
                progress.stop()

    return update


_STAT_LABELS: dict[str, str] = {
    "start": "Start",
    "end": "End",
    "duration_days": "Duration [days]",
    "bars": "Bars",
    "warmup_bars": "Warm-up bars",
    "exposure_pct": "Exposure time [%]",
    "initial_equity": "Initial equity",
    "final_equity": "Final equity",
    "peak_equity": "Peak equity",
    "return_pct": "Return [%]",
    "buy_hold_return_pct": "Buy & hold return [%]",
    "cagr_pct": "CAGR [%]",
    "volatility_ann_pct": "Volatility (ann.) [%]",
    "sharpe": "Sharpe ratio",
    "sortino": "Sortino ratio",
    "calmar": "Calmar ratio",
    "max_drawdown_pct": "Max drawdown [%]",
    "max_drawdown_duration_days": "Max drawdown duration [days]",
    "avg_drawdown_pct": "Avg drawdown [%]",
    "var_95_pct": "VaR 95% (1 bar) [%]",
    "cvar_95_pct": "CVaR 95% (1 bar) [%]",
    "trades": "# Trades",
    "orders": "# Orders",
    "win_rate_pct": "Win rate [%]",
    "best_trade_pct": "Best trade [%]",
    "worst_trade_pct": "Worst trade [%]",
    "avg_trade_pct": "Avg trade [%]",
    "max_trade_duration_days": "Max trade duration [days]",
    "avg_trade_duration_days": "Avg trade duration [days]",
    "profit_factor": "Profit factor",
    "expectancy_pct": "Expectancy [%]",
    "sqn": "SQN",
    "fees": "Fees",
}


def fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.4f}" if abs(value) < 1e6 else f"{value:,.2f}"
    return str(value)


def print_stats(console: Console, stats: dict[str, Any], title: str) -> None:
    from rich.table import Table

    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("stat", style="bold")
    table.add_column("value", justify="right")
    for key, label in _STAT_LABELS.items():
        if key in stats:
            table.add_row(label, fmt(stats[key]))
    console.print(table)


def print_positions(console: Console, payload: dict[str, Any]) -> None:
    positions = payload.get("positions") or []
    if not positions:
        return
    from rich.table import Table

    table = Table(title="Open positions at the end (marked at the last close)", title_justify="left")
    columns = {
        "symbol": "symbol",
        "side": "side",
        "quantity": "quantity",
        "avg_entry_price": "avg entry",
        "mark_price": "mark",
        "unrealised_pnl": "unrealised",
        "var_95_pct": "VaR 95 %",
        "exit_cost_estimate": "exit cost",
    }
    for label in columns.values():
        table.add_column(label, justify="left" if label in ("symbol", "side") else "right")
    for row in positions:
        table.add_row(*(fmt(row.get(key)) for key in columns))
    console.print(table)


def show_outcome(outcome: BacktestOutcome, *, json_out: str | None, report: Path | None, quiet: bool) -> None:
    """What `atb backtest` and `atb paper --replay` print and write after a run: data notes, the
    statistics and open positions (to stderr when the JSON goes to stdout), the report, the JSON."""
    console = err if json_out == "-" else out
    if json_out and report is None:
        outcome.start_order_rows()  # a process of its own: the second core makes the order rows meanwhile
    for line in outcome.data_notes:
        err.print(f"[yellow]data:[/] {line}", highlight=False)
    if outcome.result.meta.get("stopped_early"):
        err.print(f"[yellow]stopped early:[/] after {len(outcome.result.ts):,} bars; open orders cancelled")
    if not quiet:
        print_stats(console, outcome.result.stats, outcome.title)
        print_positions(console, outcome.position_snapshot())
    if report is not None:
        from atb.analytics.report import write_report

        written = write_report(outcome.result_dict(), report, bars=outcome.bars[0])
        if not quiet:
            console.print(f"report written to {written}")
    if json_out:
        write_json(outcome.json_bytes(), json_out, console, quiet=quiet)
