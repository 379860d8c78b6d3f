"""The shortcut past Typer's parsing must hand the command exactly what Typer would, or step aside."""

from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from atb import cli
from atb.cli_backtest import run_backtest_command
from atb.fast_argv import bind
from atb.fast_argv_build import build, option_table
from atb.fast_argv_table import COMMANDS

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "src" / "atb" / "data" / "sample" / "BTC_USDT_2h.parquet"


def typer_kwargs(args: list[str]) -> dict[str, Any]:
    """The keyword arguments Typer calls `backtest` with for `atb backtest ARGS` (the command is stubbed)."""
    seen: dict[str, Any] = {}

    @functools.wraps(cli.backtest)
    def capture(**kwargs: Any) -> None:
        seen.update(kwargs)

    (command,) = [c for c in cli.app.registered_commands if c.callback is cli.backtest]
    command.callback = capture
    try:
        cli.app(["backtest", *args], standalone_mode=False)
    finally:
        command.callback = cli.backtest
    return seen


@pytest.mark.parametrize(
    "line",
    [
        "",
        "--data a.csv --symbol SYN/USDT --strategy sma_cross -p fast=10 -p slow=20 --json out.json",
        "-d a.csv -d b.csv -s X/Y -S rsi_reversion --param period=10 --cash 500 --commission 0",
        "--fill close --slippage 5 --latency 2 --account spot --leverage 3 --tick 0.01 --lot 0.001",
        "--repair --json - -q --equity-points 0 --engine event --report r.html",
        "--no-repair --quiet --strategy examples/breakout.py:Breakout",
        "--symbol '' --cash 1e5",
    ],
)
def test_the_shortcut_binds_what_typer_binds(line: str) -> None:
    import shlex

    args = shlex.split(line)
    ours = bind(COMMANDS["backtest"], args)
    assert ours is not None
    assert ours == typer_kwargs(args)  # every option, defaults included, as Typer passes them


@pytest.mark.parametrize(
    "line",
    [
        "--help",
        "--json=out.json",
        "--latency -1",
        "--latency 1.5",
        "--latency",
        "--cash 5 --cash 6",
        "--repair --no-repair",
        "--unknown 1",
        "positional",
        "-qd a.csv",
        "--",
    ],
)
def test_anything_unusual_is_left_to_typer(line: str) -> None:
    assert bind(COMMANDS["backtest"], line.split()) is None


def test_the_stored_table_is_what_the_typer_declarations_give() -> None:
    assert build() == COMMANDS, "options changed: run `python -m atb.fast_argv_build` and commit the table"
    assert set(COMMANDS) == {"backtest"}


def test_the_body_takes_exactly_the_commands_options() -> None:
    import inspect

    typer_params = list(inspect.signature(cli.backtest).parameters)
    body_params = inspect.signature(run_backtest_command).parameters
    assert list(body_params) == typer_params
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in body_params.values())


def test_a_command_with_an_option_the_shortcut_does_not_read_gets_no_table() -> None:
    import typer

    def with_callback(x: str = typer.Option("a", callback=lambda v: v)) -> None:
        raise AssertionError("never called")

    def with_float(x: float = typer.Option(1.0)) -> None:
        raise AssertionError("never called")

    def plain(name: str = typer.Option("a", "--name", "-n"), on: bool = typer.Option(False)) -> None:
        raise AssertionError("never called")

    assert option_table(with_callback) is None
    assert option_table(with_float) is None
    assert option_table(plain) == {
        "values": {"--name": ("name", "str", False), "-n": ("name", "str", False)},
        "flags": {"--on": ("on", True), "--no-on": ("on", False)},
        "defaults": {"name": "a", "on": False},
    }


def test_a_plain_backtest_line_does_not_import_typer(tmp_path: Path) -> None:
    code = (
        "import sys; from atb.fast_argv import shortcut; "
        f"shortcut(['backtest', '--data', {str(SAMPLE)!r}, '-q', '--json', {str(tmp_path / 'r.json')!r}])(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('typer', 'click', 'pydantic')))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
    assert (tmp_path / "r.json").stat().st_size > 1000


def test_a_command_line_gives_the_same_result_through_the_shortcut_and_through_typer(tmp_path: Path) -> None:
    """`--json=FILE` makes the shortcut step aside: both paths then run the same backtest."""
    common = ["backtest", "--data", str(SAMPLE), "-p", "fast=5", "-p", "slow=30", "--engine", "signals"]
    env = {"COLUMNS": "200", "PATH": "/usr/bin:/bin"}
    runs = []
    for name, spelling in (
        ("fast", ["--json", str(tmp_path / "fast.json")]),
        ("typer", [f"--json={tmp_path}/typer.json"]),
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "atb.cli", *common, *spelling], capture_output=True, text=True, env=env, timeout=120
        )
        assert proc.returncode == 0, proc.stderr
        runs.append((proc.stdout.replace(f"{tmp_path}/{name}.json", "OUT"), proc.stderr))
    assert runs[0] == runs[1]
    assert (tmp_path / "fast.json").read_bytes() == (tmp_path / "typer.json").read_bytes()


def test_user_mistakes_read_the_same_both_ways() -> None:
    env = {"COLUMNS": "200", "PATH": "/usr/bin:/bin"}
    outs = []
    for spelling in (["--strategy", "nope"], ["--strategy=nope"]):
        proc = subprocess.run(
            [sys.executable, "-m", "atb.cli", "backtest", *spelling],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        outs.append((proc.returncode, proc.stderr))
    assert outs[0] == outs[1]
    assert outs[0][0] == 2 and outs[0][1].startswith("error:")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc settings")
@pytest.mark.parametrize(("preset", "huge_pages"), [(None, "False"), ("1", "True")])
def test_the_batch_settings_apply_before_numpy_and_respect_the_user(preset: str | None, huge_pages: str) -> None:
    code = (
        "from atb import batch_process; batch_process.prepare(); import numpy; "
        "import gc, os; print(numpy._core.multiarray._get_madvise_hugepage(), batch_process.tune_allocator(), "
        "gc.get_threshold()[0], os.environ['OPENBLAS_NUM_THREADS'], "
        "(open('/proc/self/status').read().split('THP_enabled:')[1:] or ['n/a'])[0].split()[0])"
    )
    env = {"PATH": "/usr/bin:/bin"} | ({} if preset is None else {"NUMPY_MADVISE_HUGEPAGE": preset})
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    *settings, thp = proc.stdout.split()
    assert settings == [huge_pages, "True", "100000", "1"]
    assert thp in ("0", "n/a")  # THP_enabled 0: huge pages off for the process (n/a: a kernel without THP)
