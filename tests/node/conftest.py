"""Node tests that touch the database run on SQLite and, when ATB_TEST_POSTGRES_URL is set, PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pgschema import PG_ENV, postgres_schema_url


@pytest.fixture(params=["sqlite", "postgresql"])
def node_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL for the node (a fresh SQLite file, or a fresh PostgreSQL schema)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'node.db'}"
        return
    with postgres_schema_url() as url:
        if url is None:
            pytest.skip(f"PostgreSQL backend not tested: set {PG_ENV}")
        yield url
