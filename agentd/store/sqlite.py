"""SQLite backend of the store: one file, WAL mode, one connection guarded by a lock.

SQLite serialises writers with one file lock, so it needs no row locks: every transaction is
`BEGIN IMMEDIATE`, which also makes a capped claim's count exact. The statements are the shared
ones of agentd.store.queries, run by agentd.store.sqlstore.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from agentd.store.dialect import Dialect, Tx
from agentd.store.sqlstore import SQLStore

SQLITE = Dialect()


def _dict_row(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> dict[str, Any]:
    return {column[0]: value for column, value in zip(cursor.description, row, strict=True)}


class SQLiteDatabase:
    """A SQLite file shared by the threads of one process."""

    dialect = SQLITE

    def __init__(self, path: str) -> None:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.row_factory = _dict_row
        self._lock = threading.RLock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")

    def __repr__(self) -> str:
        return repr(self._path)

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """Writes that belong together: committed when the block ends, rolled back when it raises."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield Tx(self._db.cursor(), SQLITE)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @contextmanager
    def reading(self) -> Iterator[Tx]:
        """Reads; other threads wait for the block, so its statements see one state."""
        with self._lock:
            yield Tx(self._db.cursor(), SQLITE)

    def create_schema(self, script: str) -> None:
        """Create what the schema lacks."""
        with self._lock:
            self._db.executescript(script)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()


class SQLiteStore(SQLStore):
    """The default store: a SQLite file under the state directory."""

    def __init__(self, path: str) -> None:
        super().__init__(SQLiteDatabase(path))
