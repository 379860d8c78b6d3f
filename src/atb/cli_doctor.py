"""`atb doctor`: print the readiness checks as a table (or JSON); exit 1 when any check fails.

Registered on the main app by `atb.cli` (`register(app)`), in its own module so the command can
grow without touching the rest of the CLI. Only typer and the standard library are imported at
module level: `atb --help` must stay fast.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer

from atb.errors import UserInputError

if TYPE_CHECKING:
    from atb.monitor.health import HealthReport

__all__ = ["doctor", "register"]

_STYLE = {"ok": "green", "warn": "yellow", "fail": "bold red"}


def doctor(
    db: Annotated[
        str | None,
        typer.Option("--db", help="State database URL. Default: sqlite:///atb.db in the working folder."),
    ] = None,
    store: Annotated[
        Path | None, typer.Option("--store", help="Folder of the Parquet market-data store. Default: market-data.")
    ] = None,
    exchange: Annotated[
        str | None,
        typer.Option("--exchange", help="Also ping this ccxt exchange (its public clock endpoint; no keys needed)."),
    ] = None,
    api_url: Annotated[
        str | None, typer.Option("--api-url", help="Base URL replacing the exchange's API host (a local test venue).")
    ] = None,
    min_free_pct: Annotated[float, typer.Option(help="Disk space below this percentage fails.")] = 5.0,
    min_free_gib: Annotated[float, typer.Option(help="Disk space below this many GiB fails.")] = 1.0,
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON instead of a table.")] = False,
) -> None:
    """Check the database, disk, data, optional extras and (with --exchange) the venue; exit 1 if one fails.

    Offline unless --exchange is given. Warnings (a database or store not created yet, a missing
    optional extra) do not fail.
    """
    from atb.monitor.doctor import run_doctor
    from atb.monitor.health import GIB

    if api_url is not None and exchange is None:
        raise UserInputError("--api-url needs --exchange")
    if min_free_pct < 0 or min_free_gib < 0:
        raise UserInputError("--min-free-pct and --min-free-gib must not be negative")
    venue_ping = None
    if exchange is not None:
        from atb.venues.ccxt_client import make_ccxt_client

        venue_ping = _cheapest_public_call(make_ccxt_client(exchange, api_url=api_url, timeout_ms=5_000))
    report = run_doctor(
        db,
        store,
        exchange,
        venue_ping=venue_ping,
        min_free_pct=min_free_pct,
        min_free_bytes=int(min_free_gib * GIB),
    )
    if json_out:
        import orjson

        sys.stdout.buffer.write(orjson.dumps(report.as_dict(), option=orjson.OPT_INDENT_2) + b"\n")
        sys.stdout.flush()
    else:
        _print_report(report)
    raise typer.Exit(0 if report.ok else 1)


def _cheapest_public_call(client: Any) -> Callable[[], object]:
    """The lightest keyless request the exchange offers: its clock, else its status, else its market list."""
    for capability, method in (("fetchTime", "fetch_time"), ("fetchStatus", "fetch_status")):
        if client.has.get(capability):
            return cast("Callable[[], object]", getattr(client, method))
    return cast("Callable[[], object]", client.load_markets)


def _print_report(report: HealthReport) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title="atb doctor", title_justify="left")
    table.add_column("component")
    table.add_column("status")
    table.add_column("reason", overflow="fold")
    for component in report.components:
        style = _STYLE[component.status]
        # Text, not markup: reasons hold brackets ("pip install 'atb[ml]'") that Rich would eat as tags
        table.add_row(Text(component.name), Text(component.status, style=style), Text(component.reason))
    console = Console()
    console.print(table)
    failed = [c.name for c in report.components if not c.ok]
    if failed:
        console.print(Text("not ready: ", style="bold red") + Text(f"{', '.join(failed)} failed"))
    else:
        console.print(Text("ready", style="green") + Text(f" ({report.status})"))


def register(app: typer.Typer) -> None:
    """Add `atb doctor` to `app`."""
    app.command("doctor")(doctor)
