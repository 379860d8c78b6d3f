"""`atb` command line: Typer app, one-line errors (exit 2) for every user mistake.

Heavy modules are imported inside the commands that need them, so `atb --help`
and a short backtest start fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from atb.cli_output import check_writable, err, fmt, out, parse_pairs, show_outcome
from atb.errors import UserInputError

app = typer.Typer(
    name="atb",
    help="ATB: backtest, optimise, paper-trade and live-trade one strategy.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Inspect and validate market data.", no_args_is_help=True)
app.add_typer(data_app, name="data")

# Options several commands share, declared once (`Annotated` aliases, as FastAPI's `SessionDep`).
SymbolOption = Annotated[
    str | None, typer.Option("--symbol", "-s", help="Symbol of a single data file, e.g. BTC/USDT.")
]
StrategyOption = Annotated[str, typer.Option("--strategy", "-S", help="Built-in name or path/to/file.py[:Class].")]
ParamOption = Annotated[list[str] | None, typer.Option("--param", "-p", help="Strategy parameter key=value (repeat).")]
CashOption = Annotated[str, typer.Option(help="Starting cash in the quote currency.")]
CommissionOption = Annotated[str | None, typer.Option(help="Fee rate for maker and taker, e.g. 0.001 = 0.1 %.")]
FillOption = Annotated[str, typer.Option(help="Market orders fill at next_open (default) or close.")]
RepairOption = Annotated[bool, typer.Option(help="Sort rows and drop exact duplicates instead of refusing.")]
JsonOption = Annotated[str | None, typer.Option("--json", help="Write the result JSON here ('-' = stdout).")]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No table; warnings only.")]
StoreOption = Annotated[Path, typer.Option(help="Folder of the Parquet store.")]


@app.command()
def backtest(
    data: Annotated[
        list[Path] | None,
        typer.Option(
            "--data",
            "-d",
            help="CSV/Parquet OHLCV file or folder (repeat for several symbols). "
            "Default: bundled BTC/USDT 2h (multi-asset strategies: the bundled 10-coin 1h set).",
        ),
    ] = None,
    symbol: SymbolOption = None,
    strategy: StrategyOption = "sma_cross",
    param: ParamOption = None,
    cash: CashOption = "10000",
    commission: CommissionOption = None,
    fill: FillOption = "next_open",
    slippage: Annotated[str | None, typer.Option(help="none, N (bps), or sqrt[:coef[:participation]].")] = None,
    latency: Annotated[int, typer.Option(help="Bars between decision and eligibility.")] = 0,
    account: Annotated[str, typer.Option(help="margin (shorts allowed, leverage cap) or spot.")] = "margin",
    leverage: Annotated[str, typer.Option(help="Max gross exposure / equity (margin).")] = "1",
    tick: Annotated[str | None, typer.Option(help="Tick size override (default: known pair or inferred).")] = None,
    lot: Annotated[str | None, typer.Option(help="Lot step override (default: known pair or 1e-8).")] = None,
    repair: RepairOption = False,
    json_out: JsonOption = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write a self-contained HTML report (opens offline).")
    ] = None,
    equity_points: Annotated[int, typer.Option(help="Max equity points in the JSON (0 = every bar).")] = 10_000,
    engine: Annotated[
        str,
        typer.Option(
            help="auto: skip the bars between signals when the strategy offers target signals and the run "
            "allows it (same result, tested); event: call on_bar on every bar; signals: require the fast path."
        ),
    ] = "auto",
    quiet: QuietOption = False,
) -> None:
    """Run a backtest and print its statistics."""
    options = dict(locals())  # the first statement: exactly this command's options, by name
    from atb.cli_backtest import run_backtest_command

    run_backtest_command(**options)


@app.command()
def paper(
    replay: Annotated[
        Path | None,
        typer.Option(
            "--replay",
            help="Recorded CSV/Parquet OHLCV bars to play through the paper node as fast as it can.",
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", "-c", help="Node config (TOML): paper-trade on the exchange's live market data instead."
        ),
    ] = None,
    symbol: SymbolOption = None,
    strategy: StrategyOption = "sma_cross",
    param: ParamOption = None,
    cash: CashOption = "10000",
    commission: CommissionOption = None,
    fill: FillOption = "next_open",
    json_out: JsonOption = None,
    quiet: QuietOption = False,
) -> None:
    """Paper-trade a strategy in the asyncio node over the simulated venue (Ctrl-C stops gracefully).

    With --replay: recorded bars as fast as possible, writing the same result JSON as
    `atb backtest` (meta.mode = "paper"). With --config: live bars from the configured
    exchange, orders through the node's risk engine and database, fills simulated.
    """
    if (replay is None) == (config is None):
        raise UserInputError("give exactly one of --replay FILE (recorded bars) or --config FILE (live data)")
    if config is not None:
        from atb.cli_live import run_node_command

        run_node_command(config, "paper", verbose=not quiet)
        return
    assert replay is not None
    check_writable(json_out)
    from atb.services.paper import PaperRequest, run_paper_request

    request = PaperRequest(
        replay=replay,
        symbol=symbol,
        strategy=strategy,
        params=parse_pairs(param or []),
        cash=cash,
        commission=commission,
        fill=fill,
    )
    show_outcome(run_paper_request(request), json_out=json_out, report=None, quiet=quiet)


@app.command()
def risk(
    data: Annotated[
        list[Path] | None,
        typer.Option(
            "--data", "-d", help="OHLCV file(s); several give a portfolio view. Default: bundled BTC/USDT 2h."
        ),
    ] = None,
    symbol: SymbolOption = None,
    levels: Annotated[str, typer.Option(help="Confidence levels, comma-separated.")] = "0.95,0.99",
    window: Annotated[int, typer.Option(help="Rolling window (bars) of the VaR backtest.")] = 250,
    weights: Annotated[str | None, typer.Option(help="Portfolio weights, comma-separated (default equal).")] = None,
    repair: RepairOption = False,
    json_out: Annotated[str | None, typer.Option("--json", help="Write the figures as JSON ('-' = stdout).")] = None,
) -> None:
    """VaR/CVaR by four methods, their backtest (Kupiec), portfolio decomposition and liquidity/slippage estimates."""
    import orjson

    from atb.services.risk import RiskRequest, parse_levels, run_risk_request

    check_writable(json_out)
    try:
        parsed_weights = None if weights is None else [float(w) for w in weights.split(",")]
    except ValueError:
        raise UserInputError(f"--weights must be numbers, got {weights!r}") from None
    request = RiskRequest(
        data=list(data or []),
        symbol=symbol,
        levels=parse_levels(levels),
        window=window,
        weights=parsed_weights,
        repair=repair,
    )
    payload, reports = run_risk_request(request)
    for report in reports:
        err.print(f"[yellow]data:[/] {report.describe()}", highlight=False)
    if json_out == "-":
        sys.stdout.buffer.write(orjson.dumps(payload) + b"\n")
        return
    _print_risk(payload)
    if json_out:
        Path(json_out).write_bytes(orjson.dumps(payload))
        out.print(f"risk JSON written to {json_out}")


def _print_risk(payload: dict[str, Any]) -> None:
    from rich.table import Table

    for entry in payload["symbols"]:
        table = Table(title=f"{entry['symbol']}: one-bar VaR / CVaR (% of value)", title_justify="left")
        for column in ("method", "level", "VaR %", "CVaR %"):
            table.add_column(column, justify="right" if column != "method" else "left")
        for row in entry["var"]:
            table.add_row(row["method"], f"{row['level']:.0%}", fmt(row["var_pct"]), fmt(row["cvar_pct"]))
        out.print(table)
        back = Table(title="VaR backtest (rolling, Kupiec proportion of failures)", title_justify="left")
        for column in ("method", "level", "bars", "breaches", "expected", "Kupiec p"):
            back.add_column(column, justify="right" if column != "method" else "left")
        for row in entry["var_backtest"]:
            back.add_row(
                row["method"],
                f"{row['level']:.0%}",
                fmt(row["observations"]),
                fmt(row["breaches"]),
                fmt(row["expected_breaches"]),
                fmt(row["kupiec_p_value"]),
            )
        out.print(back)
        liquidity = Table(title="Liquidity and expected trading cost", title_justify="left", show_header=False)
        liquidity.add_column("measure")
        liquidity.add_column("value", justify="right")
        for key, value in entry["liquidity"].items():
            if not isinstance(value, (list, dict)):
                liquidity.add_row(key, fmt(value))
        out.print(liquidity)
        costs = entry["liquidity"].get("estimates") or []
        if costs:
            cost_table = Table(title="Order cost estimates (square-root impact + half spread)", title_justify="left")
            columns = {
                "participation_pct": "% of ADV",
                "quantity": "quantity",
                "notional": "notional",
                "impact_bps": "impact bps",
                "half_spread_bps": "½ spread bps",
                "total_bps": "total bps",
                "total_cost": "total cost",
            }
            for label in columns.values():
                cost_table.add_column(label, justify="right")
            for row in costs:
                cost_table.add_row(*(fmt(row.get(key)) for key in columns))
            out.print(cost_table)
    portfolio = payload.get("portfolio")
    if portfolio:
        table = Table(
            title="Portfolio (weights " + ", ".join(f"{w:.3g}" for w in portfolio["weights"]) + ")",
            title_justify="left",
        )
        table.add_column("method")
        table.add_column("level", justify="right")
        table.add_column("VaR %", justify="right")
        table.add_column("CVaR %", justify="right")
        table.add_column("component VaR % by symbol")
        for row in portfolio["estimates"]:
            parts = ", ".join(f"{s} {v:.3f}" for s, v in row["component_var_pct"].items())
            table.add_row(row["method"], f"{row['level']:.0%}", fmt(row["var_pct"]), fmt(row["cvar_pct"]), parts)
        out.print(table)
        correlation = Table(title="Correlation of bar returns", title_justify="left")
        correlation.add_column("")
        for symbol in portfolio["symbols"]:
            correlation.add_column(symbol, justify="right")
        for symbol, row in zip(portfolio["symbols"], portfolio["correlation"], strict=True):
            correlation.add_row(symbol, *(f"{value:.3f}" for value in row))
        out.print(correlation)


@app.command("report")
def report_command(
    result: Annotated[Path, typer.Argument(help="A result JSON written by `atb backtest --json`.")],
    output: Annotated[Path | None, typer.Option("--out", "-o", help="HTML file (default: RESULT with .html).")] = None,
) -> None:
    """Rebuild the HTML report from a saved result JSON."""
    from atb.analytics.report import load_result, write_report

    target = output or result.with_suffix(".html")
    check_writable(target)
    written = write_report(load_result(result), target)
    out.print(f"report written to {written}")


@app.command()
def strategies() -> None:
    """List built-in strategies and their parameters."""
    from rich.table import Table

    from atb.strategy.registry import builtin_names, load_builtin

    out.print("Built-in strategies: atb backtest --strategy NAME -p key=value\n")
    for name in builtin_names():
        cls = load_builtin(name)
        summary = cls.description or (cls.__doc__ or "").strip().splitlines()[0]
        table = Table(title=f"[bold]{name}[/] — {summary}", title_justify="left", show_edge=False, pad_edge=False)
        table.add_column("parameter")
        table.add_column("type")
        table.add_column("default", justify="right")
        table.add_column("range")
        table.add_column("meaning")
        for spec in cls.param_specs():
            bounds = (
                ""
                if spec.ge is None and spec.le is None
                else f"{spec.ge if spec.ge is not None else ''}..{spec.le if spec.le is not None else ''}"
            )
            table.add_row(spec.name, spec.type.__name__, str(spec.default), bounds, spec.doc)
        out.print(table)
        out.print()


@data_app.command("check")
def data_check(
    path: Annotated[Path, typer.Argument(help="CSV/Parquet OHLCV file.")],
    repair: RepairOption = False,
) -> None:
    """Validate a data file and report rows, gaps and repairs."""
    from atb.data.loader import load_ohlcv

    result = load_ohlcv(path, repair=repair)
    out.print(result.report.describe(), highlight=False)


@data_app.command("download")
def data_download(
    symbols: Annotated[str, typer.Option(help="Comma-separated unified symbols, e.g. BTC/USDT,ETH/USDT.")],
    since: Annotated[str, typer.Option(help="First bar (UTC): 2024-01-01 or 2024-01-01T12:00.")],
    exchange: Annotated[str, typer.Option(help="ccxt exchange id.")] = "binance",
    timeframe: Annotated[str, typer.Option(help="Bar length, e.g. 1m, 5m, 1h, 1d.")] = "1h",
    until: Annotated[str | None, typer.Option(help="Stop before this time (UTC); default: now.")] = None,
    store: StoreOption = Path("market-data"),
    api_url: Annotated[
        str | None, typer.Option(help="Base URL replacing the exchange's API host (a local test venue).")
    ] = None,
) -> None:
    """Download OHLCV bars through ccxt into the Parquet store; re-running resumes where it ended."""
    from rich.progress import BarColumn, Progress, TextColumn

    from atb.data.download import download
    from atb.data.store import OhlcvStore
    from atb.venues.ccxt_client import make_ccxt_client
    from atb.venues.retry import retry_idempotent

    since_ms, until_ms = _parse_time(since, "--since"), None if until is None else _parse_time(until, "--until")
    names = [s.strip() for s in symbols.split(",") if s.strip()]
    if not names:
        raise UserInputError("--symbols names no symbol")
    client = _RetryingReads(make_ccxt_client(exchange, api_url=api_url), retry_idempotent)
    with Progress(TextColumn("{task.description}"), BarColumn(), console=err, transient=True) as progress:
        tasks: dict[str, Any] = {}

        def update(symbol: str, done: int, total: int) -> None:
            if symbol not in tasks:
                tasks[symbol] = progress.add_task(symbol, total=max(total, 1))
            progress.update(tasks[symbol], completed=done, total=max(total, 1))

        results = download(client, OhlcvStore(store), exchange, names, timeframe, since_ms, until_ms, progress=update)
    for result in results:
        gaps = f"; {result.gaps.describe()}" if result.gaps.count else ""
        out.print(
            f"{result.symbol}: {result.rows_added:,} new bars in {result.requests} requests{gaps}", highlight=False
        )


@data_app.command("list")
def data_list(store: StoreOption = Path("market-data")) -> None:
    """Show what the Parquet store holds."""
    from rich.table import Table

    from atb.data.store import OhlcvStore
    from atb.data.validation import format_ts

    table = Table(title=f"OHLCV store {store}", title_justify="left")
    for column in ("exchange", "symbol", "timeframe", "rows", "first", "last", "gaps"):
        table.add_column(column, justify="right" if column in ("rows", "gaps") else "left")
    for info in OhlcvStore(store).list():
        table.add_row(
            info.exchange, info.symbol, info.timeframe, f"{info.rows:,}", format_ts(info.first), format_ts(info.last),
            str(info.gaps.count),
        )  # fmt: skip
    out.print(table)


class _RetryingReads:
    """Passes calls to a ccxt client, retrying its idempotent reads (fetch_*, load_*) on transient errors."""

    def __init__(self, client: Any, retry: Any) -> None:
        self._client = client
        self._retry = retry

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if callable(attr) and (name.startswith("fetch_") or name.startswith("load_")):
            return lambda *args, **kwargs: self._retry(attr, *args, **kwargs)
        return attr


def _parse_time(text: str, option: str) -> int:
    import datetime as dt

    try:
        moment = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UserInputError(f"{option} must be a date like 2024-01-01 or 2024-01-01T12:00, got {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp() * 1000)


@data_app.command("samples")
def data_samples() -> None:
    """List the bundled sample data sets."""
    from atb.data.sample import list_samples, sample_path

    for name in list_samples():
        out.print(f"{name}\t{sample_path(name)}", highlight=False)


from atb.cli_doctor import register as _register_doctor  # noqa: E402  (after `app` exists)

_register_doctor(app)

from atb.cli_live import register as _register_live  # noqa: E402  (after `app` exists)

_register_live(app)

from atb.cli_serve import register as _register_serve  # noqa: E402  (after `app` exists)

_register_serve(app)


def main() -> None:
    """The console entry point (`atb.main.main`), for `python -m atb.cli` and older scripts."""
    from atb.main import main as entry_point

    entry_point()


if __name__ == "__main__":
    main()
