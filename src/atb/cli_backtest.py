"""`atb backtest`: the command's body, called by Typer (`atb.cli`) and by the plain-line shortcut.

`atb.fast_argv` binds a plain `atb backtest ...` line from a table generated
from the Typer declarations and calls `run_backtest_command` directly, so
this module must not import Typer (0.05 s of a one-second run).
"""

from __future__ import annotations

from pathlib import Path

from atb.cli_output import check_writable, err, parse_pairs, progress_bar, show_outcome


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
    show_progress = not quiet and err.is_terminal
    outcome = run_backtest_request(request, progress=progress_bar() if show_progress else None)
    show_outcome(outcome, json_out=json_out, report=report, quiet=quiet)
