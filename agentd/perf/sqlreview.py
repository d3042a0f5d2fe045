"""Database-aware review: the SQL a change adds or edits (in Go source and .sql files), EXPLAINed before and
after on the project's database, read-only and rolled back.

A plan that costs much more than the old statement's, or a sequential scan of a large table the old plan did
not have, is reported at the line of the new statement; an index is suggested only after HypoPG showed the
plan gets cheaper with it; a migration that would lock a large table is flagged. Statements that take
parameters are not explained (PostgreSQL 15 cannot plan them without values) and the review says so.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pglast.parser import ParseError, split

from agentd.kernel.policy import SqlRules
from agentd.kernel.sqlguard import check_sql
from agentd.perf.indexes import IndexCheckError, check_index, hypopg_installed
from agentd.perf.migrations import locking
from agentd.perf.plans import Finding as PlanFinding
from agentd.perf.plans import analyze_plan, total_cost
from agentd.perf.sql_sources import calls_in_source
from agentd.targetdb import execute_read_only

Level = Literal["info", "warning", "error"]
_PARAMETER = re.compile(r"\$\d+|\?")
_LEADING = re.compile(r"\A(?:\s*--[^\n]*\n|\s+)*")
EXPLAIN_TIMEOUT_MS = 10_000


@dataclass(frozen=True)
class ChangedFile:
    """A Go or .sql file the change touches: its text before and after, and the head lines it adds or edits."""

    path: str
    old: str | None
    new: str | None
    added: frozenset[int]


@dataclass(frozen=True)
class Statement:
    """One SQL statement and where it is written."""

    path: str
    line: int
    sql: str


@dataclass(frozen=True)
class SqlFinding:
    """Something the database review found at `path`:`line` of the head."""

    path: str
    line: int
    severity: Level
    title: str
    message: str
    rule: str
    code: str


@dataclass
class SqlReview:
    """The findings, and notes on what could not be checked (and why)."""

    findings: list[SqlFinding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- which statements changed (pure)


def sql_file_statements(path: str, text: str) -> list[Statement]:
    """The statements of a .sql file with the line each starts on (PostgreSQL's own splitter)."""
    try:
        pieces = split(text, with_parser=False, only_slices=True)
    except ParseError:
        return []
    found = []
    for piece in pieces:
        body = _LEADING.sub("", text[piece])  # comments and blank lines before the statement itself
        start = piece.start + len(text[piece]) - len(body)
        if body.strip():
            found.append(Statement(path, text.count("\n", 0, start) + 1, body.strip()))
    return found


def _statements(path: str, text: str | None) -> list[Statement]:
    if text is None:
        return []
    if path.endswith(".sql"):
        return sql_file_statements(path, text)
    return [Statement(path, c.line, c.sql.strip()) for c in calls_in_source(text, path)]


def _span(statement: Statement) -> range:
    return range(statement.line, statement.line + statement.sql.count("\n") + 1)


def changed_statements(change: ChangedFile) -> list[tuple[Statement, Statement | None]]:
    """Each statement the change adds or edits, with the old statement it replaces (None when it is new).

    A statement is changed when one of its lines is added and its text is not among the old ones; its old
    counterpart is the old statement in the same position when the file holds as many statements as before.
    """
    old, new = _statements(change.path, change.old), _statements(change.path, change.new)
    before = {s.sql for s in old}
    pairs: list[tuple[Statement, Statement | None]] = []
    for index, statement in enumerate(new):
        if statement.sql in before or not any(line in change.added for line in _span(statement)):
            continue
        counterpart = old[index] if len(old) == len(new) else None
        pairs.append((statement, counterpart))
    return pairs


# ---------------------------------------------------------------- what the database says


def explain(dsn: str, sql: str) -> Any:
    """EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) in a READ ONLY transaction that is rolled back."""
    outcome = execute_read_only(
        dsn, f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}", None, statement_timeout_ms=EXPLAIN_TIMEOUT_MS, max_rows=1
    )
    return outcome.rows[0][0] if outcome.rows else None


def estimated_rows(dsn: str, table: str) -> float | None:
    """The planner's estimate of a table's rows (pg_class.reltuples); None when there is no such table."""
    outcome = execute_read_only(
        dsn,
        "SELECT c.reltuples FROM pg_catalog.pg_class c WHERE c.oid = to_regclass($1)",
        [table],
        statement_timeout_ms=EXPLAIN_TIMEOUT_MS,
        max_rows=1,
    )
    return float(outcome.rows[0][0]) if outcome.rows else None


@dataclass(frozen=True)
class Database:
    """The target database as the review uses it; the callables are seams for the pure parts' tests."""

    dsn: str
    rules: SqlRules
    large_table_rows: int
    cost_ratio: float
    explain: Callable[[str, str], Any] = explain
    rows: Callable[[str, str], float | None] = estimated_rows


def _finding(statement: Statement, severity: Level, title: str, message: str, rule: str) -> SqlFinding:
    first = statement.sql.strip().splitlines()[0] if statement.sql.strip() else ""
    return SqlFinding(statement.path, statement.line, severity, title, message, rule, first)


def _lock_finding(statement: Statement, db: Database | None, review: SqlReview) -> None:
    found = locking(statement.sql)
    if found is None:
        return
    rows = db.rows(db.dsn, found.table) if db is not None and found.table else None
    if db is not None and (rows is None or rows < db.large_table_rows):
        return  # a small (or not yet existing) table: the lock is brief
    size = f"about {rows:,.0f} rows" if rows is not None else "a table whose size agentd could not check"
    message = f"{found.what}; it takes a {found.lock} lock on {found.table} ({size}). Instead: {found.instead}."
    severity: Level = "error" if rows is not None else "warning"
    review.findings.append(_finding(statement, severity, f"Migration locks {found.table}", message, found.rule))


def _index_advice(db: Database, sql: str, scan: PlanFinding, hypopg: bool) -> str:
    if scan.index is None:
        return f" {scan.suggestion}."
    if not hypopg:
        return " HypoPG is not installed in the target database, so agentd suggests no index it could not check."
    try:
        check = check_index(db.dsn, sql, scan.index, method="hypopg", runs=1)
    except IndexCheckError as exc:
        return f" agentd could not check an index: {exc}."
    before, after = check.before.total_cost, check.after.total_cost
    if not check.improves:
        return f" HypoPG shows {scan.index.name} would not help (plan cost {before:.0f} -> {after:.0f})."
    return (
        f" HypoPG shows `{scan.index.create_sql(concurrently=True, if_not_exists=False)}` takes the plan cost "
        f"from {before:.0f} to {after:.0f}."
    )


def _compare(db: Database, new: Statement, old: Statement | None, review: SqlReview, hypopg: bool) -> None:
    """EXPLAIN the new statement (and the old one): a cost regression, and each sequential scan it adds."""
    plan = db.explain(db.dsn, new.sql)
    before = db.explain(db.dsn, old.sql) if old is not None else None
    cost = total_cost(plan)
    if before is not None and cost > total_cost(before) * db.cost_ratio and cost - total_cost(before) > 10:
        ratio = cost / max(total_cost(before), 0.01)
        message = f"The plan's estimated cost goes from {total_cost(before):.0f} to {cost:.0f} ({ratio:.1f}x)."
        review.findings.append(_finding(new, "warning", "The changed query plans costlier", message, "agentd/sql/cost"))
    old_scans = {f.relation for f in analyze_plan(before) if f.kind == "seq_scan"} if before is not None else set()
    for scan in analyze_plan(plan):
        if scan.kind != "seq_scan" or scan.relation in old_scans:
            continue
        message = f"{scan.message}." + _index_advice(db, new.sql, scan, hypopg)
        title = f"Sequential scan of {scan.relation}"
        review.findings.append(_finding(new, "warning", title, message, "agentd/sql/seq-scan"))


def _explainable(db: Database, statement: Statement, review: SqlReview) -> bool:
    where = f"{statement.path}:{statement.line}"
    if _PARAMETER.search(statement.sql):
        review.notes.append(f"{where} not explained: it takes parameters, which PostgreSQL 15 cannot plan unbound")
        return False
    return check_sql(statement.sql, db.rules).allowed


def review_sql(changes: list[ChangedFile], db: Database | None) -> SqlReview:
    """Review the SQL the change adds or edits; without a database only the migration rules apply."""
    review = SqlReview()
    pairs = [pair for change in changes for pair in changed_statements(change)]
    hypopg = db is not None and bool(pairs) and _hypopg(db, review)
    for new, old in pairs:
        try:
            _lock_finding(new, db, review)
            if db is not None and _explainable(db, new, review):
                counterpart = old if old is not None and _explainable(db, old, review) else None
                _compare(db, new, counterpart, review, hypopg)
        except Exception as exc:  # noqa: BLE001 - one statement the database refuses must not end the review
            review.notes.append(f"{new.path}:{new.line} not checked: {type(exc).__name__}: {str(exc)[:200]}")
    return review


def _hypopg(db: Database, review: SqlReview) -> bool:
    try:
        return hypopg_installed(db.dsn)
    except Exception as exc:  # noqa: BLE001 - a database that cannot answer is a note, not a failed job
        review.notes.append(f"the target database did not answer: {type(exc).__name__}")
        return False
