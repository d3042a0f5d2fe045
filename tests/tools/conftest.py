"""Fixtures for the tool tests: one throwaway PostgreSQL cluster shared by the whole session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.postgres import throwaway_cluster


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """A DSN for a fresh PostgreSQL database (non-superuser owner, password auth), destroyed after the session."""
    with throwaway_cluster() as dsn:
        yield dsn
