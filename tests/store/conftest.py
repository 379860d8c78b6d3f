"""Store tests run on SQLite (a temp file) always and on PostgreSQL when ATB_TEST_POSTGRES_URL is set.

Each PostgreSQL test gets its own schema (dropped afterwards), so parallel workers never collide.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("sqlalchemy", reason="the store needs the 'live' extra")
pytest.importorskip("alembic", reason="the store needs the 'live' extra")

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from atb.store import make_engine, upgrade

PG_ENV = "ATB_TEST_POSTGRES_URL"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state.db'}"
        return
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"PostgreSQL backend not tested: set {PG_ENV}=postgresql+psycopg://user:pw@host/db")
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = make_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield (
            make_url(base)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A database migrated to head."""
    upgrade(db_url)
    eng = make_engine(db_url)
    try:
        yield eng
    finally:
        eng.dispose()
