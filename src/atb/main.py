"""The `atb` console entry point: one line on stderr and an exit code for every user mistake.

A plain `atb backtest ...` line runs through `atb.fast_argv` without
importing Typer; every other line goes to the Typer app in `atb.cli`. Both
end here, so their errors read the same: exit 2 for a user mistake, 1 for
any other ATB or system error, 130 for Ctrl-C.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

from atb.errors import AtbError, UserInputError


def main() -> None:
    argv = sys.argv[1:]
    from atb.fast_argv import shortcut

    command = shortcut(argv)
    if command is not None:
        # the shortcut's process ends without the interpreter's teardown, errors included
        from atb import batch_process

        batch_process.exit_now(_exit_code(command))
    code = _exit_code(lambda: _typer_app()(args=argv))
    if code:
        raise SystemExit(code)


def _typer_app() -> Callable[..., Any]:
    from atb.cli import app

    return app


def _exit_code(command: Callable[[], None]) -> int:
    """Run `command`; 0, or the exit code of the error it raised, printed as one line."""
    try:
        command()
    except UserInputError as exc:
        _error(str(exc))
        return 2
    except AtbError as exc:
        _error(str(exc))
        return 1
    except BrokenPipeError:
        os._exit(1)  # the reader of our output went away: a quiet exit 1, as Click's own main does
    except OSError as exc:
        _error(f"{exc.strerror or exc}: {exc.filename or ''}")
        return 1
    except KeyboardInterrupt:
        _error("interrupted", prefix="")
        return 130
    return 0


def _error(message: str, prefix: str = "[red]error:[/] ") -> None:
    from atb.cli_output import err

    err.print(f"{prefix}{message}", highlight=False)


if __name__ == "__main__":
    main()
