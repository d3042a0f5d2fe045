"""PostgreSQL connections for the store: opening them without leaking the DSN, and pooling them.

Every message that may quote a DSN goes through `Redactor.for_dsn`; `dsn_target` names a database for
people (user@host:port/dbname) without its password.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import DictRow, dict_row

from agentd.kernel.errors import StoreError
from agentd.kernel.redact import Redactor

_IDLE_CONNECTIONS = 4
_PING_AFTER_S = 30.0  # an idle connection older than this is checked before use

Connection = psycopg.Connection[DictRow]
Cursor = psycopg.Cursor[DictRow]


def dsn_target(dsn: str) -> str:
    """user@host:port/dbname for messages: everything a reader needs, no password."""
    try:
        info = conninfo_to_dict(dsn)
    except psycopg.Error:
        return "an unparsable DSN"
    return f"{info.get('user', '')}@{info.get('host', '')}:{info.get('port', '')}/{info.get('dbname', '')}"


def connect(dsn: str) -> Connection:
    """A new autocommit connection with dict rows; a StoreError that names no password if it fails."""
    try:
        return psycopg.connect(dsn, autocommit=True, row_factory=dict_row, application_name="agentd")
    except psycopg.Error as exc:
        # `from None`: the original exception is not ours to vet, so it is not chained.
        message = Redactor.for_dsn(dsn).text(str(exc))
        raise StoreError(f"cannot connect to the PostgreSQL store {dsn_target(dsn)}: {message}") from None


class ConnectionPool:
    """A few idle connections per process; each caller holds one connection for one operation.

    Threads come and go (parallel debate strategies), so connections belong to the pool, not to
    threads. A connection in an unknown state (broken, mid-transaction) is closed, not reused; one
    idle for a while is pinged first, so a server restart costs no failed call.
    """

    def __init__(self, connect: Callable[[], Connection], keep: int = _IDLE_CONNECTIONS) -> None:
        self._connect = connect
        self._keep = keep
        self._idle: list[tuple[Connection, float]] = []  # with the monotonic time it came back
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._inherited: list[tuple[Connection, float]] = []
        self._closed = False

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """Lend a connection for the duration of the block."""
        conn = self._take()
        try:
            yield conn
        finally:
            self._give_back(conn)

    def _take(self) -> Connection:
        while True:
            with self._lock:
                if self._closed:
                    raise StoreError("the store is closed")
                if os.getpid() != self._pid:
                    # A forked child must not touch the parent's sockets, not even to close them.
                    self._inherited.extend(self._idle)
                    self._idle, self._pid = [], os.getpid()
                if not self._idle:
                    break
                conn, since = self._idle.pop()
            if time.monotonic() - since < _PING_AFTER_S or _alive(conn):
                return conn
            conn.close()
        return self._connect()

    def _give_back(self, conn: Connection) -> None:
        reusable = not conn.closed and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        with self._lock:
            if reusable and not self._closed and len(self._idle) < self._keep and os.getpid() == self._pid:
                self._idle.append((conn, time.monotonic()))
                return
        conn.close()

    def close(self) -> None:
        """Close the idle connections; lent ones close when they come back."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn, _ in idle:
            conn.close()


def _alive(conn: Connection) -> bool:
    try:
        conn.execute("SELECT 1")
    except psycopg.Error:
        return False
    return True
