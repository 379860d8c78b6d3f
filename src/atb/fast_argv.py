"""A shortcut past Typer for the plain shape of a command line (`atb backtest --data f.csv ...`).

Importing Typer (with Click) costs about 0.05 s and its parsing another 0.1 s
(Typer 0.29 coerces every option through a pydantic `TypeAdapter`): a sixth
of a million-bar backtest. For a command line made only of the command's own
options in their plain spellings (`--name value`, `-x value`, the declared
flags), `bind` reads the values from a table generated from the command's
Typer declarations (`atb.fast_argv_table`, written by
`python -m atb.fast_argv_build`; a test fails when it is out of date) and the
command's body is called directly, without importing Typer. Anything else
(help, `--opt=value`, an unknown or repeated option, a value that is not
plainly of its type) returns None, and Typer parses the line as before: every
message and corner of Typer's behaviour stays Typer's. The tests compare the
arguments both ways reach the command with.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from atb import batch_process

_INT = re.compile(r"-?[0-9]+\Z")


def bind(table: dict[str, Any], args: list[str]) -> dict[str, Any] | None:
    """Keyword arguments (every option, defaults included) from `args`, or None when Typer should parse them."""
    values: dict[str, tuple[str, str, bool]] = table["values"]
    flags: dict[str, tuple[str, bool]] = table["flags"]
    seen: set[str] = set()
    kwargs: dict[str, Any] = {}
    lists: dict[str, list[Any]] = {}
    k = 0
    while k < len(args):
        token = args[k]
        if token in flags:
            name, on = flags[token]
            if name in seen:
                return None
            seen.add(name)
            kwargs[name] = on
            k += 1
            continue
        spec = values.get(token)
        if spec is None or k + 1 >= len(args):
            return None
        name, kind, many = spec
        raw = args[k + 1]
        if raw.startswith("-") and raw != "-":
            return None  # leave `--cash -5` and the like to Typer's own reading
        if kind == "int":
            if not _INT.match(raw):
                return None
            value: Any = int(raw)
        else:
            value = Path(raw) if kind == "path" else raw
        if many:
            lists.setdefault(name, []).append(value)
        else:
            if name in seen:
                return None
            seen.add(name)
            kwargs[name] = value
        k += 2
    return {**table["defaults"], **kwargs, **lists}


def shortcut(argv: list[str]) -> Callable[[], None] | None:
    """The command `argv` (without the program name) asks for, ready to run; None when Typer must parse it.

    For the console entry point only, a process that exits after the
    command: running it applies the batch settings of `atb.batch_process`,
    and the caller ends the process with `batch_process.exit_now`.
    """
    from atb.fast_argv_table import COMMANDS

    table = COMMANDS.get(argv[0]) if argv else None
    if table is None:
        return None
    kwargs = bind(table, argv[1:])
    if kwargs is None:
        return None

    def run() -> None:
        batch_process.prepare()
        module, _, function = table["target"].partition(":")
        getattr(importlib.import_module(module), function)(**kwargs)

    return run
