"""A shortcut past Typer's parsing for the plain shape of a command line (`atb backtest --data f.csv ...`).

Typer 0.29 coerces every option through a pydantic `TypeAdapter`: importing
pydantic and building one adapter per option costs about 0.1 s per
invocation, a tenth of a million-bar backtest. For a command line made only
of the command's own options in their plain spellings (`--name value`,
`-x value`, the declared flags), `bind` reads the values itself, from the same
`typer.Option` declarations, and the command function is called directly.
Anything else (help, `--opt=value`, an unknown or repeated option, a value
that is not plainly of its type, an option with a callback or an
environment variable) returns None, and Typer parses the line as before: every
message and corner of Typer's behaviour stays Typer's. The tests compare the
arguments both ways reach the command with.
"""

from __future__ import annotations

import errno
import re
import sys
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

from atb import batch_process

_INT = re.compile(r"-?[0-9]+\Z")
_PLAIN_OPTION_INFO = {
    "callback": None,
    "envvar": None,
    "parser": None,
    "click_type": None,
    "prompt": False,
    "count": False,
    "is_eager": False,
    "exists": False,
    "resolve_path": False,
    "is_flag": None,
    "flag_value": None,
}
"""Option settings the shortcut leaves to Typer when they differ from these."""


class _Spec:
    __slots__ = ("default", "kind", "many", "name")

    def __init__(self, name: str, kind: type, many: bool, default: Any) -> None:
        self.name = name
        self.kind = kind
        self.many = many
        self.default = default


def _option_table(func: Callable[..., Any]) -> tuple[dict[str, _Spec], dict[str, tuple[_Spec, bool]]] | None:
    """(value options by spelling, flags by spelling → (spec, value)), or None if a parameter is not plain.

    The declarations are read with Typer's own `get_params_from_function`, so an
    option is spelled here exactly as Typer spells it.
    """
    from typer.models import OptionInfo
    from typer.utils import get_params_from_function

    values: dict[str, _Spec] = {}
    flags: dict[str, tuple[_Spec, bool]] = {}
    for name, meta in get_params_from_function(func).items():
        info = meta.default
        if not isinstance(info, OptionInfo) or info.default is ... or info.default_factory is not None:
            return None
        if any(getattr(info, key, value) != value for key, value in _PLAIN_OPTION_INFO.items()):
            return None
        kind, many = _base_type(meta.annotation)
        if kind is None:
            return None
        spec = _Spec(name, kind, many, info.default)
        declared = list(info.param_decls or ())
        if any("/" in d or not d.startswith("-") for d in declared):
            return None
        dashed = f"--{name.replace('_', '-')}"
        if kind is bool:
            if many:
                return None
            for spelling in declared or [dashed]:
                flags[spelling] = (spec, True)
            if not declared:
                flags[f"--no-{name.replace('_', '-')}"] = (spec, False)
            continue
        for spelling in declared or [dashed]:
            values[spelling] = spec
    return values, flags


def _base_type(annotation: Any) -> tuple[Any, bool]:
    """(str | int | bool | Path, repeatable) for the annotations the shortcut handles, else (None, False)."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)] if _is_union(annotation) else [annotation]
    if len(args) != 1:
        return None, False
    (only,) = args
    if typing.get_origin(only) is list:
        (item,) = typing.get_args(only)
        return (item, True) if item in (str, Path) else (None, False)
    return (only, False) if only in (str, int, bool, Path) else (None, False)


def _is_union(annotation: Any) -> bool:
    import types

    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


def bind(func: Callable[..., Any], args: list[str]) -> dict[str, Any] | None:
    """Keyword arguments for `func` from `args`, or None when Typer should parse them."""
    table = _option_table(func)
    if table is None:
        return None
    values, flags = table
    seen: set[str] = set()
    kwargs: dict[str, Any] = {}
    lists: dict[str, list[Any]] = {}
    k = 0
    while k < len(args):
        token = args[k]
        if token in flags:
            spec, on = flags[token]
            if spec.name in seen:
                return None
            seen.add(spec.name)
            kwargs[spec.name] = on
            k += 1
            continue
        spec_or_none = values.get(token)
        if spec_or_none is None or k + 1 >= len(args):
            return None
        spec = spec_or_none
        raw = args[k + 1]
        if raw.startswith("-") and raw != "-":
            return None  # leave `--cash -5` and the like to Typer's own reading
        if spec.kind is int:
            if not _INT.match(raw):
                return None
            value: Any = int(raw)
        else:
            value = Path(raw) if spec.kind is Path else raw
        if spec.many:
            lists.setdefault(spec.name, []).append(value)
        else:
            if spec.name in seen:
                return None
            seen.add(spec.name)
            kwargs[spec.name] = value
        k += 2
    kwargs.update(lists)
    return kwargs


def call_directly(commands: dict[str, Callable[..., Any]], argv: list[str]) -> bool:
    """Run `argv` (without the program name) through the shortcut; False when Typer must do it.

    For the console entry point only, a process that exits after the
    command: the allocator gets the batch settings of `atb.batch_process`,
    and the caller ends the process with `batch_process.exit_now`.
    """
    if not argv or argv[0] not in commands:
        return False
    func = commands[argv[0]]
    kwargs = bind(func, argv[1:])
    if kwargs is None:
        return False
    batch_process.prepare()
    try:
        func(**kwargs)
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            raise
        # what Typer's (click's) main does when the reader of stdout went away: quiet exit 1
        from typer._click.utils import PacifyFlushWrapper

        sys.stdout = PacifyFlushWrapper(sys.stdout)
        sys.stderr = PacifyFlushWrapper(sys.stderr)
        sys.exit(1)
    return True
