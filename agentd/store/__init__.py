"""The database of record: one interface (agentd.store.base), SQLite and PostgreSQL backends."""

from __future__ import annotations

from agentd.kernel.errors import ConfigError
from agentd.kernel.redact import Redactor
from agentd.store.base import Store


def open_store(url: str) -> Store:
    """Open the store a URL names: sqlite:///relative, sqlite:////absolute, or postgresql://… (postgres://…)."""
    if url.startswith("sqlite:///"):
        from agentd.store.sqlite import SQLiteStore  # noqa: PLC0415 - backends load on demand

        return SQLiteStore(url.removeprefix("sqlite:///"))
    if url.startswith(("postgresql://", "postgres://")):
        from agentd.store.postgres import PostgresStore  # noqa: PLC0415 - psycopg loads only for PostgreSQL

        return PostgresStore(url)
    # a mistyped DSN may still hold a password, in URL or key=value form
    shown = Redactor().text(url)
    raise ConfigError(f"store.url = {shown!r}: expected sqlite:///PATH or postgresql://USER@HOST/DATABASE")
