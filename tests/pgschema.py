"""A throw-away PostgreSQL schema per test, for store and node tests that run on both backends."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

PG_ENV = "ATB_TEST_POSTGRES_URL"


@contextmanager
def postgres_schema_url() -> Iterator[str | None]:
    """A URL whose connections use a fresh schema (dropped afterwards); None when PostgreSQL is not configured."""
    base = os.environ.get(PG_ENV)
    if not base:
        yield None
        return
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from atb.store import make_engine

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
