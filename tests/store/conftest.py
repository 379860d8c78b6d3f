"""Store tests run on SQLite (a temp file) always and on PostgreSQL when ATB_TEST_POSTGRES_URL is set.

Each PostgreSQL test gets its own schema (dropped afterwards), so parallel workers never collide.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("sqlalchemy", reason="the store needs the 'live' extra")
pytest.importorskip("alembic", reason="the store needs the 'live' extra")

from sqlalchemy import Engine

from atb.store import make_engine, upgrade
from pgschema import PG_ENV, postgres_schema_url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state.db'}"
        return
    with postgres_schema_url() as url:
        if url is None:
            pytest.skip(f"PostgreSQL backend not tested: set {PG_ENV}=postgresql+psycopg://user:pw@host/db")
        yield url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A database migrated to head."""
    upgrade(db_url)
    eng = make_engine(db_url)
    try:
        yield eng
    finally:
        eng.dispose()
