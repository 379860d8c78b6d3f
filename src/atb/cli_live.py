"""`atb live`, `atb kill` and the live-data half of `atb paper`: the trading node from the shell."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from atb.errors import UserInputError

out = Console(soft_wrap=True)  # one line per message: summaries end up in logs and get grepped
err = Console(stderr=True)

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="Node config file (TOML); see README 'Live trading'.")
]


def _logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def run_node_command(config_path: Path, mode: str, *, verbose: bool = True) -> None:
    """Load the config, run the node until stopped, print what it did."""
    from atb.node.config import load_config
    from atb.services.live import run_node

    config = load_config(config_path)
    _logging(verbose)
    import asyncio  # not at module import: every `atb` start would pay for it

    summary = asyncio.run(run_node(config, "live" if mode == "live" else "paper"))
    if summary.reconcile is not None:
        out.print(summary.reconcile.summary(), highlight=False)
    out.print(
        f"run {summary.run_id} {summary.status.value}: {summary.bars} bar(s), {summary.orders} order(s), "
        f"{summary.fills} fill(s), equity {summary.equity}",
        highlight=False,
    )
    if summary.kill is not None:
        out.print(summary.kill.summary(), highlight=False)


def register(app: typer.Typer) -> None:
    @app.command()
    def live(
        config: ConfigOption,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Log warnings and errors only.")] = False,
    ) -> None:
        """Trade a strategy on a real exchange through ccxt (keys from the environment; see README).

        Reconciles with the venue at start, persists every order and fill before acting, and stops
        gracefully on Ctrl-C/SIGTERM (open orders cancelled or left, per `node.on_stop`).
        """
        run_node_command(config, "live", verbose=not quiet)

    @app.command()
    def kill(
        config: ConfigOption,
        yes: Annotated[bool, typer.Option("--yes", help="Confirm without the interactive prompt.")] = False,
        reason: Annotated[str, typer.Option("--reason", help="Recorded in the audit log.")] = "manual kill switch",
        no_flatten: Annotated[
            bool, typer.Option("--no-flatten", help="Cancel and halt, but leave positions open.")
        ] = False,
        reset: Annotated[
            bool, typer.Option("--reset", help="Clear a halt so the run may trade again (needs confirmation too).")
        ] = False,
    ) -> None:
        """Kill switch: halt the run, cancel all its open orders, flatten its positions.

        A running node sees the halt at its next bar and stops; this command does the cancelling
        and flattening itself, so it works whether or not the node is up.
        """
        from atb.node.config import load_config
        from atb.services.live import kill_run, reset_halt

        cfg = load_config(config)
        action = "clear the halt of" if reset else "HALT, cancel all orders of" + ("" if no_flatten else " and FLATTEN")
        if not yes:
            if not sys.stdin.isatty():
                raise UserInputError("the kill switch needs confirmation: pass --yes (no terminal to ask on)")
            answer = typer.prompt(f"{action} run {cfg.node.name!r}? type the run name to confirm")
            if answer.strip() != cfg.node.name:
                raise UserInputError("not confirmed; nothing done")
        _logging(True)
        if reset:
            reset_halt(cfg)
            out.print(f"run {cfg.node.name} may trade again: the halt is cleared", highlight=False)
            return
        import asyncio

        report = asyncio.run(kill_run(cfg, reason, flatten=not no_flatten))
        out.print(report.summary(), highlight=False)
        if report.still_open or (report.positions_left and not no_flatten):
            err.print("[yellow]warning:[/] not everything is closed; check the venue", highlight=False)
            raise typer.Exit(1)
