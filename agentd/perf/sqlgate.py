"""The SQL gate for statements with parameters: the planner's generic plan of each statement the change touches,
before and after, on the project's database.

A statement the code sends with `$1` cannot be EXPLAINed as written, and made-up values would
plan a different query. PostgreSQL's generic plan (`plan_cache_mode = force_generic_plan`, then
`PREPARE` and `EXPLAIN EXECUTE` with NULLs) is the plan for any value; its cost is what agentd
compares. A statement counts as touched when the change rewrites it (the same Go constant, new
SQL) or adds an index migration (`CREATE INDEX` in an added .sql file) on a table it reads.

Nothing is executed and nothing persists: the session's transaction is always rolled back. A
rewritten statement is planned in a READ ONLY transaction. For a new index the tables it is on
are copied into TEMP tables of the same name (which the session's statements then read), analyzed,
planned without the index, then the migration's own CREATE INDEX runs on the copy and the
statements are planned again; a READ ONLY transaction forbids TEMP tables, so that session is
writable, but it writes only its own temporary copies, which the rollback drops.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from agentd.kernel.policy import SqlRules
from agentd.kernel.sqlguard import check_sql, is_select
from agentd.perf.plans import total_cost
from agentd.perf.sql_sources import named_statements, sql_additions
from agentd.targetdb import CONNECT_OPTIONS

_PARAMETER = re.compile(r"\$(\d+)")
_CREATE_INDEX = re.compile(
    r"CREATE\s+(?:UNIQUE\s+)?INDEX\s+(?:CONCURRENTLY\s+)?(?:IF\s+NOT\s+EXISTS\s+)?(?:\"?\w+\"?\s+)?ON\s+(?:ONLY\s+)?"
    r"(?:\"?(\w+)\"?\.)?\"?(\w+)\"?[^;]*",
    re.IGNORECASE,
)
MAX_COPY_ROWS = 2_000_000  # a table bigger than this is not copied: the gate says it could not measure
STATEMENT_TIMEOUT_MS = 60_000


@dataclass(frozen=True)
class StatementCost:
    """One touched statement: where, its generic plan's cost before and after the change."""

    name: str
    before: float
    after: float

    @property
    def gain(self) -> float:
        """The share of the cost the change saves (negative: it costs more)."""
        return 1 - self.after / self.before if self.before > 0 else 0.0

    def describe(self) -> str:
        """`store/queries.go:OrdersSQL: plan cost 2260 -> 48 (98% cheaper)`."""
        change = f"{self.gain:.0%} cheaper" if self.gain >= 0 else f"{-self.gain:.0%} costlier"
        return f"{self.name}: generic plan cost {self.before:.0f} -> {self.after:.0f} ({change})"


@dataclass(frozen=True)
class Index:
    """An index a change adds in a migration: its statement as written and the table it is on."""

    statement: str
    schema: str | None
    table: str


def added_index_statements(diff: str) -> list[Index]:
    """The CREATE INDEX statements a diff adds to .sql files (one statement per line or run of lines)."""
    found: list[Index] = []
    for added in sql_additions(diff).values():
        text = re.sub(r"--[^\n]*", "", "\n".join(added))
        found += [Index(m.group(0).strip(), m.group(1), m.group(2)) for m in _CREATE_INDEX.finditer(text)]
    return found


def touched_statements(
    base: dict[str, str], candidate: dict[str, str], indexes: list[Index], rules: SqlRules
) -> dict[str, tuple[str, str]]:
    """name -> (SQL before, SQL after) of the SELECTs the change rewrites, or that have parameters and read a
    newly indexed table (one without parameters is the index gate's, agentd.perf.sqlpath, which times it)."""
    tables = {index.table.lower() for index in indexes}
    touched = {}
    for name in sorted(base.keys() & candidate.keys()):
        old, new = base[name], candidate[name]
        reads = _PARAMETER.search(new) and {t for t in tables if re.search(rf"\b{re.escape(t)}\b", new, re.IGNORECASE)}
        allowed = all(is_select(text) and check_sql(text, rules).allowed for text in (old, new))
        if (old != new or reads) and allowed:
            touched[name] = (old, new)
    return touched


def _generic_cost(conn: psycopg.Connection[Any], statement: str) -> float:
    """The total cost of the statement's generic plan (parameters unknown), planned, never executed."""
    count = max((int(n) for n in _PARAMETER.findall(statement)), default=0)
    conn.execute(sql.SQL("PREPARE agentd_gate AS {}").format(sql.SQL(statement)))
    try:
        nulls = sql.SQL(", ").join([sql.SQL("NULL")] * count)
        explain = sql.SQL("EXPLAIN (FORMAT JSON) EXECUTE agentd_gate") + (
            sql.SQL("({})").format(nulls) if count else sql.SQL("")
        )
        row = conn.execute(explain).fetchone()
    finally:
        conn.execute("DEALLOCATE agentd_gate")
    return total_cost(row[0]) if row is not None else 0.0


@contextmanager
def _session(dsn: str, *, writable: bool) -> Iterator[psycopg.Connection[Any]]:
    """One rolled-back transaction planning generic plans under a statement deadline."""
    with psycopg.connect(dsn, autocommit=True, **CONNECT_OPTIONS) as conn:
        conn.read_only = not writable
        with conn.transaction(force_rollback=True):
            conn.execute("SELECT set_config('statement_timeout', %s, true)", [str(STATEMENT_TIMEOUT_MS)])
            conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
            yield conn


def _copy_tables(conn: psycopg.Connection[Any], indexes: list[Index]) -> None:
    """TEMP copies (same names, so they shadow the real tables) of every table an index is on, analyzed."""
    for schema, table in sorted({(index.schema or "public", index.table) for index in indexes}):
        source = sql.Identifier(schema, table)
        row = conn.execute(
            "SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)", [f"{schema}.{table}"]
        ).fetchone()
        if row is None:
            raise LookupError(f"no table {schema}.{table} in the database")
        if float(row[0]) > MAX_COPY_ROWS:
            raise LookupError(f"{schema}.{table} has about {row[0]:.0f} rows, more than agentd copies to measure")
        conn.execute(sql.SQL("CREATE TEMP TABLE {} AS SELECT * FROM {}").format(sql.Identifier(table), source))
        conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(table)))


def _on_copy(index: Index) -> str:
    """The migration's CREATE INDEX aimed at the TEMP copy: unqualified, the name resolves to pg_temp first."""
    if index.schema is None:
        return index.statement
    return re.sub(rf'"?{re.escape(index.schema)}"?\.(?="?{re.escape(index.table)}\b)', "", index.statement, count=1)


def measure_statements(dsn: str, touched: dict[str, tuple[str, str]], indexes: list[Index]) -> list[StatementCost]:
    """Each touched statement's generic plan cost before and after the change (with its new indexes)."""
    with _session(dsn, writable=bool(indexes)) as conn:
        if indexes:
            _copy_tables(conn, indexes)
        before = {name: _generic_cost(conn, old) for name, (old, _new) in touched.items()}
        for index in indexes:
            conn.execute(sql.SQL(_on_copy(index)))
        return [StatementCost(name, before[name], _generic_cost(conn, new)) for name, (_old, new) in touched.items()]


def statement_gate(
    dsn: str, base_tree: Path, candidate_tree: Path, diff: str, rules: SqlRules, min_gain: float
) -> tuple[bool, list[str], str] | None:
    """(kept, commit trailers, in words) for a change to the SQL the code holds; None when it touches none.

    Kept when no touched statement's generic plan gets costlier and one gets cheaper by `min_gain` or more.
    """
    indexes = added_index_statements(diff)
    touched = touched_statements(named_statements(base_tree), named_statements(candidate_tree), indexes, rules)
    if not touched:
        return None
    try:
        costs = measure_statements(dsn, touched, indexes)
    except (psycopg.Error, LookupError) as exc:
        return False, [], f"agentd could not plan the changed SQL: {exc}"
    said = "; ".join(cost.describe() for cost in costs)
    kept = all(cost.gain > -0.01 for cost in costs) and any(cost.gain >= min_gain for cost in costs)
    trailers = [f"Agentd-Benchmark: {cost.describe()}" for cost in costs if cost.gain >= min_gain] if kept else []
    return kept, trailers, said
