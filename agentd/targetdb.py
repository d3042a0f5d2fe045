"""The target project's PostgreSQL, read-only: one statement per READ ONLY transaction, always rolled back.

Used by the query_database tool and by agentd's own SQL evidence (EXPLAIN, pg_stat_statements,
index checks). This layer does not judge the SQL (agentd.kernel.sqlguard does, first); whatever
reaches it is still stopped from writing by the transaction and bounded by its timeouts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from agentd.kernel.sqlguard import is_select

# A small connect timeout, and TCP keepalives so a server that vanishes mid-query is noticed in
# seconds instead of blocking the job (statement_timeout only helps while the server is alive).
CONNECT_OPTIONS: dict[str, Any] = {
    "connect_timeout": 5,
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
    "application_name": "agentd query_database",
}
IDLE_GRACE_MS = 10_000  # the server ends our session if agentd stalls this long past the statement deadline
CURSOR_NAME = "agentd_query"


@dataclass(frozen=True)
class QueryOutcome:
    """What one executed statement returned: column names and at most max_rows rows, as fetched."""

    columns: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool


def _set_local_timeouts(conn: psycopg.Connection[Any], statement_timeout_ms: int) -> None:
    """SET LOCAL statement_timeout, lock_timeout and idle_in_transaction_session_timeout in one round trip."""
    conn.execute(
        "SELECT set_config('statement_timeout', %s, true), set_config('lock_timeout', %s, true), "
        "set_config('idle_in_transaction_session_timeout', %s, true)",
        [str(statement_timeout_ms), str(statement_timeout_ms), str(statement_timeout_ms + IDLE_GRACE_MS)],
    )


def _fetch(cursor: psycopg.RawCursor[Any] | psycopg.RawServerCursor[Any], max_rows: int) -> QueryOutcome:
    rows = cursor.fetchmany(max_rows + 1) if cursor.description is not None else []
    columns = [column.name for column in cursor.description or []]
    return QueryOutcome(columns=columns, rows=rows[:max_rows], truncated=len(rows) > max_rows)


def execute_read_only(
    dsn: str,
    statement: str,
    params: list[Any] | None,
    *,
    statement_timeout_ms: int,
    max_rows: int,
) -> QueryOutcome:
    """Run one statement in a READ ONLY transaction that is always rolled back; psycopg errors propagate.

    This layer trusts nothing: it does not check the SQL (the tool does that first), so whatever
    reaches it is still stopped from writing by the transaction. A SELECT is read through a
    server-side cursor so only max_rows + 1 rows ever leave the server; anything else (EXPLAIN,
    SHOW) runs as a prepared statement, which the server accepts for one statement only.
    """
    with psycopg.connect(dsn, autocommit=True, **CONNECT_OPTIONS) as conn:
        conn.read_only = True  # every transaction psycopg opens begins READ ONLY
        with conn.transaction(force_rollback=True):
            _set_local_timeouts(conn, statement_timeout_ms)
            if is_select(statement):
                with psycopg.RawServerCursor(conn, CURSOR_NAME) as server_cursor:
                    server_cursor.execute(statement, params)
                    return _fetch(server_cursor, max_rows)
            with psycopg.RawCursor(conn) as cursor:
                cursor.execute(statement, params, prepare=True)
                return _fetch(cursor, max_rows)
