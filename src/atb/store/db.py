"""Engine, sessions and migrations for the state database.

The URL picks the backend: ``sqlite:///atb.db`` (the default, a file next to
where the node runs; ``sqlite://`` for memory) or
``postgresql+psycopg://user:password@host/db`` in production.

SQLite is opened in WAL mode (readers never block the writer: the API can
read while the node writes) with foreign keys enforced, and with transactions
begun explicitly so that the `sqlite3` module's implicit commits never split
one of ours (it would otherwise commit before DDL and skip BEGIN for reads,
and SAVEPOINTs would not nest).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

DEFAULT_URL = "sqlite:///atb.db"
MIGRATIONS = Path(__file__).with_name("migrations")


def _json_default(value: object) -> str:
    if isinstance(value, Decimal):
        return str(value)  # exact; JSON numbers are floats to most readers
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _dumps(value: Any) -> str:
    return json.dumps(value, default=_json_default, separators=(",", ":"))


def make_engine(url: str = DEFAULT_URL, *, echo: bool = False) -> Engine:
    """An engine for `url`, configured for our needs on each backend."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        kwargs: dict[str, Any] = {}
        if parsed.database in (None, "", ":memory:"):
            # one connection shared by every session, else each would see its own empty database
            kwargs = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
        engine = create_engine(parsed, echo=echo, json_serializer=_dumps, **kwargs)
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    return create_engine(parsed, echo=echo, json_serializer=_dumps, pool_pre_ping=True)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (see _sqlite_on_begin)
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")  # safe with WAL: a crash loses no committed transaction
        cursor.execute("PRAGMA busy_timeout=5000")
    finally:
        cursor.close()


def _sqlite_on_begin(connection: Connection) -> None:
    # IMMEDIATE takes the write lock up front. With a plain (deferred) BEGIN, a transaction that read
    # and then writes fails at once with "database is locked" when another connection committed in
    # between — the busy timeout does not apply to that upgrade. Here a second writer (`atb kill`,
    # `atb token create`, the API) waits up to busy_timeout instead of breaking the node's write.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded values after commit (rows are mapped to domain values right away)."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(bind: Engine | sessionmaker[Session]) -> Iterator[Session]:
    """One transaction: commit if the block ends normally, roll back everything if it raises."""
    factory = make_session_factory(bind) if isinstance(bind, Engine) else bind
    session = factory()
    try:
        with session.begin():
            yield session
    finally:
        session.close()


def alembic_config(bind: str | Engine | Connection = DEFAULT_URL) -> Any:
    """An Alembic `Config` built in code: scripts ship inside the package, no alembic.ini needed."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if isinstance(bind, str):
        cfg.set_main_option("sqlalchemy.url", bind.replace("%", "%%"))
    else:
        cfg.attributes["connection"] = bind
    return cfg


def _run(bind: str | Engine | Connection, action: str, revision: str) -> None:
    from alembic import command

    if isinstance(bind, Engine):
        with bind.begin() as connection:
            getattr(command, action)(alembic_config(connection), revision)
    else:
        getattr(command, action)(alembic_config(bind), revision)


def upgrade(bind: str | Engine | Connection = DEFAULT_URL, revision: str = "head") -> None:
    """Migrate the database to `revision` (pass the engine itself for an in-memory SQLite database)."""
    _run(bind, "upgrade", revision)


def downgrade(bind: str | Engine | Connection, revision: str = "base") -> None:
    """Migrate down to `revision` (``base`` drops every table)."""
    _run(bind, "downgrade", revision)


def current_revision(bind: Engine) -> str | None:
    from alembic.migration import MigrationContext

    with bind.connect() as connection:
        rev = MigrationContext.configure(connection).get_current_revision()
    return rev
