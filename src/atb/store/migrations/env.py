"""Alembic environment, run by `atb.store.db.upgrade` (or by the alembic CLI with our config).

Uses the connection handed over in ``config.attributes["connection"]`` if any
(in-memory SQLite, tests), else opens one with `make_engine` so the SQLite
pragmas (WAL, foreign keys) apply to migrations too.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from atb.store.db import DEFAULT_URL, make_engine
from atb.store.models import Base

config = context.config
target_metadata = Base.metadata


def _migrate(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url") or DEFAULT_URL,
        target_metadata=target_metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _migrate(connection)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url") or DEFAULT_URL)
    try:
        with engine.connect() as conn:
            _migrate(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
