"""What the SQLite and PostgreSQL backends do differently, behind the small interface the shared store code uses.

A `Dialect` is data: how a backend writes parameters, row locks and the schema's row ids. A
`Database` is a backend's connection: its transactions and its schema creation. `Tx` runs the
shared statements of agentd.store.queries on one of them.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from agentd.store.rows import Row

_NAMED = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


@dataclass(frozen=True)
class Dialect:
    """How a backend writes the shared statements."""

    pyformat: bool = False  # parameters as %(name)s (psycopg) rather than :name (sqlite3)
    skip_locked: str = ""  # ends the claim's SELECT: other workers pass over a row being claimed
    lock_jobs: str = ""  # ends supersede's SELECT: a job being claimed is not cancelled under its worker
    claim_lock: str = ""  # run before counting live leases, so that capped claims take turns
    row_id: str = "INTEGER PRIMARY KEY"  # what the schema's `INTEGER PRIMARY KEY` ids become

    def render(self, query: str) -> str:
        """The statement as this backend's driver takes it."""
        return _render(self, query)

    def schema(self, script: str) -> str:
        """The schema script (written with SQLite's row ids) in this dialect."""
        return script.replace("INTEGER PRIMARY KEY", self.row_id)


@functools.cache
def _render(dialect: Dialect, query: str) -> str:
    text = query.format(skip_locked=dialect.skip_locked, lock_jobs=dialect.lock_jobs).rstrip()
    return _NAMED.sub(r"%(\1)s", text.replace("%", "%%")) if dialect.pyformat else text


class Cursor(Protocol):
    """The part of a DB-API cursor (sqlite3's, psycopg's) the store uses; rows come back as dicts."""

    @property
    def rowcount(self) -> int:
        """Rows the last statement changed."""
        ...

    def execute(self, query: str, params: Mapping[str, Any], /) -> object:
        """Run one statement."""
        ...

    def fetchone(self) -> Any:
        """The next row, or None."""
        ...

    def fetchall(self) -> Any:
        """The remaining rows."""
        ...


class Tx:
    """One unit of work on a backend's connection: shared statements in, rows out."""

    def __init__(self, cursor: Cursor, dialect: Dialect) -> None:
        self._cursor = cursor
        self._dialect = dialect

    def run(self, query: str, **params: Any) -> int:
        """Run a statement; how many rows it changed."""
        self._cursor.execute(self._dialect.render(query), params)
        return self._cursor.rowcount

    def one(self, query: str, **params: Any) -> Row | None:
        """The first row a statement returns, or None."""
        self._cursor.execute(self._dialect.render(query), params)
        row: Row | None = self._cursor.fetchone()
        return row

    def all(self, query: str, **params: Any) -> list[Row]:
        """Every row a statement returns."""
        self._cursor.execute(self._dialect.render(query), params)
        return list(self._cursor.fetchall())


class Database(Protocol):
    """A backend's connection to the database of record."""

    dialect: Dialect

    def transaction(self) -> AbstractContextManager[Tx]:
        """Writes that belong together: committed when the block ends, rolled back when it raises."""
        ...

    def reading(self) -> AbstractContextManager[Tx]:
        """Reads, each statement on its own."""
        ...

    def create_schema(self, script: str) -> None:
        """Create what the schema script names and the store lacks (safe to run concurrently)."""
        ...

    def close(self) -> None:
        """Close the connections."""
        ...
