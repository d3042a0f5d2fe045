"""The target project's PostgreSQL, read-only: one statement per READ ONLY transaction, always rolled back,
its result capped in rows and in bytes before the rows leave the server.

Used by the query_database tool and by agentd's own SQL evidence (EXPLAIN, pg_stat_statements,
index checks). This layer does not judge the SQL (agentd.kernel.sqlguard does, first); whatever
reaches it is still stopped from writing by the transaction and bounded by its timeouts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from agentd.kernel.sqlguard import is_select, statement_body

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
MAX_RESULT_BYTES = 1_000_000


@dataclass(frozen=True)
class QueryOutcome:
    """What one executed statement returned: column names and at most max_rows rows, as fetched.

    `over_bytes` says the rows stopped because the next one would have taken the result past max_bytes.
    """

    columns: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool
    over_bytes: bool = False


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


def capped_select(statement: str, width: int, max_bytes: int) -> str:
    """The SELECT `statement` (of `width` columns) as a subquery whose values the server sends only while the
    result's running size (each row's text form) stays within max_bytes; past that every value is NULL.
    The last column is that running size. Only agentd's own text surrounds the statement, which stays
    byte for byte what the guard judged."""
    aliases = ", ".join(f"agentd_c{i}" for i in range(width))
    values = ", ".join(f"CASE WHEN w.agentd_bytes <= {int(max_bytes)} THEN w.agentd_c{i} END" for i in range(width))
    return (
        f"SELECT {values}, w.agentd_bytes FROM (SELECT q.*, sum(octet_length(q::text)) OVER "
        f"(ROWS UNBOUNDED PRECEDING) AS agentd_bytes FROM (\n{statement_body(statement)}\n) AS q({aliases})) AS w"
    )


def _select(
    conn: psycopg.Connection[Any], statement: str, params: list[Any] | None, max_rows: int, max_bytes: int
) -> QueryOutcome:
    """A SELECT through a server-side cursor: at most max_rows + 1 rows and max_bytes of values leave the server."""
    with psycopg.RawServerCursor(conn, CURSOR_NAME) as probe:
        probe.execute(statement, params)  # DECLARE and describe: the column names, no row fetched
        columns = [column.name for column in probe.description or []]
        if not columns:  # SELECT FROM t: rows without values, nothing to weigh
            return _fetch(probe, max_rows)
    with psycopg.RawServerCursor(conn, CURSOR_NAME) as cursor:
        cursor.execute(capped_select(statement, len(columns), max_bytes), params)
        fetched = cursor.fetchmany(max_rows + 1)
    rows: list[tuple[Any, ...]] = []
    for row in fetched[:max_rows]:
        if row[-1] > max_bytes:
            return QueryOutcome(columns, rows, truncated=True, over_bytes=True)
        rows.append(tuple(row[:-1]))
    return QueryOutcome(columns, rows, truncated=len(fetched) > max_rows)


def execute_read_only(
    dsn: str,
    statement: str,
    params: list[Any] | None,
    *,
    statement_timeout_ms: int,
    max_rows: int,
    max_bytes: int = MAX_RESULT_BYTES,
) -> QueryOutcome:
    """Run one statement in a READ ONLY transaction that is always rolled back; psycopg errors propagate.

    This layer trusts nothing: it does not check the SQL (the tool does that first), so whatever
    reaches it is still stopped from writing by the transaction. A SELECT is read through a
    server-side cursor, wrapped so that only max_rows + 1 rows and max_bytes of values (text form)
    ever leave the server (`SELECT repeat('x', 200000000) FROM generate_series(1, 5)` brings none
    of its gigabyte into agentd); anything else (EXPLAIN, SHOW: one row bounded by the statement)
    runs as a prepared statement, which the server accepts for one statement only.
    """
    with psycopg.connect(dsn, autocommit=True, **CONNECT_OPTIONS) as conn:
        conn.read_only = True  # every transaction psycopg opens begins READ ONLY
        with conn.transaction(force_rollback=True):
            _set_local_timeouts(conn, statement_timeout_ms)
            if is_select(statement):
                return _select(conn, statement, params, max_rows, max_bytes)
            with psycopg.RawCursor(conn) as cursor:
                cursor.execute(statement, params, prepare=True)
                return _fetch(cursor, max_rows)
