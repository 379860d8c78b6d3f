"""The `atb` console entry point: one line on stderr and an exit code for every user mistake.

A plain `atb backtest ...` line runs through `atb.fast_argv` without
importing Typer; every other line goes to the Typer app in `atb.cli`. Both
end here, so their errors read the same: exit 2 for a user mistake, 1 for
any other ATB or system error, 130 for Ctrl-C.
"""

from __future__ import annotations

import os
import sys

from atb.errors import AtbError, UserInputError


def main() -> None:
    try:
        _run(sys.argv[1:])
    except UserInputError as exc:
        _error(str(exc))
        raise SystemExit(2) from None
    except AtbError as exc:
        _error(str(exc))
        raise SystemExit(1) from None
    except BrokenPipeError:
        os._exit(0)  # the reader of our output went away: nothing left to tell it
    except OSError as exc:
        _error(f"{exc.strerror or exc}: {exc.filename or ''}")
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        _error("interrupted", prefix="")
        raise SystemExit(130) from None


def _run(argv: list[str]) -> None:
    from atb.fast_argv import call_directly

    if call_directly(argv):
        from atb import batch_process

        batch_process.exit_now()
        return
    from atb.cli import app

    app(args=argv)


def _error(message: str, prefix: str = "[red]error:[/] ") -> None:
    from atb.cli_output import err

    err.print(f"{prefix}{message}", highlight=False)


if __name__ == "__main__":
    main()
