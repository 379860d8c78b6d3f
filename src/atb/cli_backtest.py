"""`atb backtest`: the command's body, called by Typer (`atb.cli`) and by the plain-line shortcut.

`atb.fast_argv` binds a plain `atb backtest ...` line from a table generated
from the Typer declarations and calls `run_backtest_command` directly, so
this module must not import Typer (0.05 s of a one-second run).
"""

from __future__ import annotations

from pathlib import Path

from atb.cli_output import (
    check_writable,
    err,
    out,
    parse_pairs,
    print_positions,
    print_stats,
    progress_bar,
    write_json,
)


def run_backtest_command(
    *,
    data: list[Path] | None,
    symbol: str | None,
    strategy: str,
    param: list[str] | None,
    cash: str,
    commission: str | None,
    fill: str,
    slippage: str | None,
    latency: int,
    account: str,
    leverage: str,
    tick: str | None,
    lot: str | None,
    repair: bool,
    json_out: str | None,
    report: Path | None,
    equity_points: int,
    engine: str,
    quiet: bool,
) -> None:
    """Run a backtest and print its statistics (the options as `atb backtest --help` describes them)."""
    check_writable(json_out)
    check_writable(report)
    from atb.services.backtest import BacktestRequest, run_backtest_request

    request = BacktestRequest(
        data=list(data or []),
        symbol=symbol,
        strategy=strategy,
        params=parse_pairs(param or []),
        cash=cash,
        commission=commission,
        fill=fill,
        slippage=slippage,
        latency=latency,
        account=account,
        leverage=leverage,
        tick=tick,
        lot=lot,
        repair=repair,
        equity_points=equity_points,
        engine=engine,
    )
    to_stdout = json_out == "-"
    console = err if to_stdout else out
    show_progress = not quiet and err.is_terminal
    outcome = run_backtest_request(request, progress=progress_bar() if show_progress else None)
    if json_out and report is None:
        outcome.start_order_rows()  # a process of its own: the second core makes the order rows meanwhile
    for line in outcome.data_notes:
        err.print(f"[yellow]data:[/] {line}", highlight=False)
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
