"""The store fixture of the store tests: each test runs on both backends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agentd.store.base import Store
from agentd.store.postgres import PostgresStore
from agentd.store.sqlite import SQLiteStore


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A fresh store of each backend: a temporary SQLite file, or an empty PostgreSQL schema."""
    if request.param == "sqlite":
        opened: Store = SQLiteStore(str(tmp_path / "agentd.db"))
    else:
        opened = PostgresStore(request.getfixturevalue("postgres_schema_dsn"))
    yield opened
    opened.close()
