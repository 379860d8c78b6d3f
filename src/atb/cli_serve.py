"""`atb serve` (REST API, websocket, dashboard, metrics, alerts — and a trading node with --config) and `atb token`.

Registered on the main app by `atb.cli` (`register(app)`). Only typer and the standard library are
imported at module level: `atb --help` must stay fast; FastAPI, uvicorn and the node load when a
command runs.

One process, one asyncio loop: uvicorn's server, the node, the monitor and background backtests
all run on it (see `atb.api.state`). The process owns SIGINT/SIGTERM: the first stops the node
gracefully and then the server, a second one forces the server down.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from atb.errors import AtbError, UserInputError

if TYPE_CHECKING:
    import asyncio

    from sqlalchemy.orm import Session, sessionmaker

    from atb.api.config import ServeConfig
    from atb.api.state import ApiState
    from atb.services.live import BuiltNode

__all__ = ["register", "serve"]

log = logging.getLogger("atb.serve")

DbOption = Annotated[
    str | None, typer.Option("--db", help="State database URL. Default: sqlite:///atb.db in the working folder.")
]


def _logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)  # a dozen set-up lines per start otherwise


def _listen(host: str, port: int) -> socket.socket:
    """Bind before anything starts, so a port in use is one clear error, not a half-started node."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UserInputError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(128)
    sock.setblocking(False)
    return sock


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on; 0.0.0.0 exposes the API to the network.")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port (0: any free one, printed at start).")] = 8000,
    db: DbOption = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", "-c", help="TOML: node (+ venue, risk, paper) sections to trade, alerts and monitor sections."
        ),
    ] = None,
    mode: Annotated[
        str, typer.Option(help="With a node in --config: paper (simulated fills) or live (real orders).")
    ] = ("paper"),
    results_dir: Annotated[Path, typer.Option(help="Where API backtests write their result JSON.")] = Path("results"),
    max_backtests: Annotated[int, typer.Option(min=1, max=8, help="Backtests running at once.")] = 1,
    access_log: Annotated[bool, typer.Option(help="Log every HTTP request.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Log warnings and errors only.")] = False,
) -> None:
    """Serve the REST API, the websocket and the web dashboard; with --config, also run the trading node.

    Open http://HOST:PORT/ and log in with a token from `atb token create --scope read|trade`.
    Ctrl-C/SIGTERM stops the node gracefully, then the server.
    """
    from atb.api.config import ServeConfig, load_serve_config
    from atb.store import DEFAULT_URL

    if mode not in ("paper", "live"):
        raise UserInputError(f"--mode must be paper or live, got {mode!r}")
    settings = load_serve_config(config) if config is not None else ServeConfig()
    if settings.node is None and mode == "live":
        raise UserInputError("--mode live needs a --config with a node section")
    db_url = db or DEFAULT_URL
    if settings.node is not None:
        node_db = settings.node.node.database
        if db is not None and db != node_db:
            raise UserInputError(f"--db {db} differs from the config's node.database {node_db}; give one of them")
        db_url = node_db
    _require_websocket_library()
    _logging(not quiet)
    sock = _listen(host, port)
    try:
        import asyncio  # not at module import: every `atb` start would pay for it

        asyncio.run(_serve(settings, db_url, sock, mode, results_dir, max_backtests, access_log))
    finally:
        sock.close()


class _Signals:
    """First SIGINT/SIGTERM: stop the node and the server gracefully; second: force the server down."""

    def __init__(self, server: Any, state: ApiState) -> None:
        self.server = server
        self.state = state
        self.installed: list[signal.Signals] = []

    def handle(self) -> None:
        if self.server.should_exit:
            log.warning("second stop signal: closing connections without waiting")
            self.server.force_exit = True
            return
        log.warning("stopping: the node first (open orders per node.on_stop), then the server")
        self.state.request_stop()
        self.server.should_exit = True

    @contextlib.contextmanager
    def installed_on(self, loop: asyncio.AbstractEventLoop) -> Iterator[None]:
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, self.handle)
            except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or Windows
                continue
            self.installed.append(sig)
        try:
            yield
        finally:
            for sig in self.installed:
                loop.remove_signal_handler(sig)


async def _serve(
    settings: ServeConfig,
    db_url: str,
    sock: socket.socket,
    mode: str,
    results_dir: Path,
    max_backtests: int,
    access_log: bool,
) -> None:
    import uvicorn

    from atb.api.app import create_app
    from atb.api.state import ApiState
    from atb.store import make_engine, upgrade

    engine = make_engine(db_url)
    notifier = None
    try:
        upgrade(engine)
        notifier = _notifier(settings)
        built = None if settings.node is None else await _build_node(settings, mode)
        state = ApiState(
            engine,
            node=None if built is None else built.node,
            node_main=None if built is None else built.run,
            mode=mode,
            alerts=settings.alerts,
            notifier=notifier,
            results_dir=results_dir,
            monitor_interval=settings.monitor.interval_seconds,
            monitor_fast_interval=settings.monitor.fast,
            max_backtests=max_backtests,
        )
        notifier = None  # the state closes it from now on
        app = create_app(state)
        server = _make_server(uvicorn.Config(app, log_config=None, access_log=access_log, lifespan="on", ws="auto"))
        host, port = sock.getsockname()[:2]
        shown = f"[{host}]" if ":" in str(host) else str(host)
        print(
            f"atb: serving the dashboard on http://{shown}:{port}/ and the API under /api "
            "(a token: atb token create --scope read)",
            file=sys.stderr,
            flush=True,
        )
        import asyncio

        with _Signals(server, state).installed_on(asyncio.get_running_loop()):
            await server.serve(sockets=[sock])
        if state.node_error is not None:
            raise AtbError(f"the trading node stopped with an error: {state.node_error}")
    finally:
        if notifier is not None:
            notifier.close(5.0)
        engine.dispose()


async def _build_node(settings: ServeConfig, mode: str) -> BuiltNode:
    """The node, or one line saying why it cannot start (a venue that cannot be reached, say)."""
    from atb.api.node_wiring import build_served_node

    assert settings.node is not None
    try:
        return await build_served_node(settings.node, "live" if mode == "live" else "paper")
    except AtbError:
        raise
    except Exception as exc:
        log.debug("node start-up failed", exc_info=exc)
        first = next((line for line in str(exc).splitlines() if line.strip()), "")
        raise AtbError(f"cannot start the trading node: {type(exc).__name__}: {first}".rstrip(": ")) from exc


def _notifier(settings: ServeConfig) -> Any:
    """A notifier when [alerts] routes any severity somewhere; without routes alerts are only recorded."""
    from atb.monitor.alerts import Severity
    from atb.monitor.notify import Notifier

    if not any(settings.alerts.urls_for(s) for s in Severity):
        return None
    return Notifier.from_config(settings.alerts)


def _make_server(config: Any) -> Any:
    """uvicorn's server without its own signal capture: `_Signals` owns the process's signals."""
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return Server(config)


def _require_websocket_library() -> None:
    """uvicorn serves websockets only with `websockets` or `wsproto` installed; without, say so at start."""
    import importlib.util

    from atb.errors import MissingExtraError

    if importlib.util.find_spec("websockets") is None and importlib.util.find_spec("wsproto") is None:
        raise MissingExtraError("the live updates of the dashboard (websocket)", "api", "websockets")


# ------------------------------------------------------------------------------------------- tokens


def _sessions(db: str | None) -> tuple[sessionmaker[Session], Any]:
    from sqlalchemy.orm import sessionmaker

    from atb.store import DEFAULT_URL, make_engine, upgrade

    engine = make_engine(db or DEFAULT_URL)
    upgrade(engine)
    return sessionmaker(engine, expire_on_commit=False), engine


def token_create(
    scope: Annotated[str, typer.Option("--scope", help="read (dashboards, Prometheus) or trade (also orders).")] = (
        "read"
    ),
    name: Annotated[
        str | None, typer.Option("--name", help="A name to list and revoke it by (default scope-N).")
    ] = None,
    db: DbOption = None,
) -> None:
    """Create an API token; the token itself is printed once, on the last line, and never stored."""
    from atb.api.tokens import create_token

    sessions, engine = _sessions(db)
    try:
        token, info = create_token(sessions, scope, name)
    finally:
        engine.dispose()
    typer.echo(f"created {info.scope} token {info.name!r}; it is shown only now (the database keeps a hash):")
    typer.echo(token)


def token_list(db: DbOption = None) -> None:
    """List API tokens (names, scopes, use); the tokens themselves are not stored and cannot be shown."""
    from atb.api.live_view import iso_ns
    from atb.api.tokens import list_tokens

    sessions, engine = _sessions(db)
    try:
        tokens = list_tokens(sessions)
    finally:
        engine.dispose()
    if not tokens:
        typer.echo("no tokens (atb token create --scope read)")
        return
    typer.echo(f"{'name':<24} {'scope':<6} {'created':<21} {'last used':<21} state")
    for t in tokens:
        used = iso_ns(t.last_used_ns) or "never"
        typer.echo(
            f"{t.name:<24} {t.scope:<6} {iso_ns(t.created_ns):<21} {used:<21} {'revoked' if t.revoked else 'active'}"
        )


def token_revoke(
    name: Annotated[str, typer.Argument(help="The token's name (atb token list).")], db: DbOption = None
) -> None:
    """Revoke a token: requests carrying it are refused (401) from now on."""
    from atb.api.tokens import revoke_token

    sessions, engine = _sessions(db)
    try:
        count = revoke_token(sessions, name)
    finally:
        engine.dispose()
    typer.echo(f"revoked {count} token(s) named {name!r}")


def register(app: typer.Typer) -> None:
    """Add `atb serve` and `atb token create|list|revoke` to `app`."""
    app.command("serve")(serve)
    tokens = typer.Typer(help="REST API tokens: create (printed once), list, revoke.", no_args_is_help=True)
    tokens.command("create")(token_create)
    tokens.command("list")(token_list)
    tokens.command("revoke")(token_revoke)
    app.add_typer(tokens, name="token")
