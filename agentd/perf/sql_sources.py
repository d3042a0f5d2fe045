"""Where a Go project's SQL comes from: literals passed to database/sql, and pg_stat_statements.

`find_sql_calls` is a regex-level scanner, not a Go parser: it blanks comments, finds calls of the
database/sql methods (on *sql.DB, *sql.Tx, *sql.Conn alike, since the method names are shared),
and reads the SQL argument when it is a string literal (raw or interpreted, `+`-concatenated), or
a constant or variable assigned one literal in the same file. `top_statements` reads
pg_stat_statements through the read-only executor and returns nothing when it is not there.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from agentd.kernel.worktree_files import WorktreeFiles
from agentd.targetdb import execute_read_only

METHODS = ("Query", "QueryRow", "Exec", "Prepare")
SKIPPED_DIRS = frozenset({".git", "vendor", "node_modules", "testdata"})
SQL_START = re.compile(
    r"^\s*(?:--[^\n]*\n\s*)*\(?\s*(SELECT|WITH|INSERT|UPDATE|DELETE|MERGE|CREATE|ALTER|DROP|TRUNCATE|"
    r"EXPLAIN|SHOW|SET|VALUES|COPY|LOCK|GRANT|REVOKE|BEGIN|COMMIT|ROLLBACK|CALL|DO)\b",
    re.IGNORECASE,
)
_CALL = re.compile(r"\.(" + "|".join(METHODS) + r")(Context)?\s*\(")
_LITERAL = re.compile(r'`[^`]*`|"(?:[^"\\\n]|\\.)*"')
_IDENT = re.compile(r"[A-Za-z_]\w*")
_ASSIGN = re.compile(r"(?m)^\s*(?:const\s+|var\s+)?([A-Za-z_]\w*)(?:\s+string)?\s*:?=\s*")


@dataclass(frozen=True)
class SqlCall:
    """A SQL string handed to a database/sql method, and where."""

    file: str
    line: int
    method: str
    sql: str
    via: str = ""  # the constant or variable the SQL came through, when it was not written inline


def mask_comments(source: str) -> str:
    """The source with every comment's text replaced by spaces (newlines kept), strings untouched."""
    out: list[str] = []
    i, n = 0, len(source)
    while i < n:
        char = source[i]
        if source.startswith("//", i):
            end = source.find("\n", i)
            end = n if end < 0 else end
            out.append(" " * (end - i))
            i = end
        elif source.startswith("/*", i):
            end = source.find("*/", i + 2)
            end = n if end < 0 else end + 2
            out.append(re.sub(r"[^\n]", " ", source[i:end]))
            i = end
        elif char in "\"`'":
            end = _string_end(source, i)
            out.append(source[i:end])
            i = end
        else:
            out.append(char)
            i += 1
    return "".join(out)


def _string_end(source: str, start: int) -> int:
    quote = source[start]
    i = start + 1
    while i < len(source):
        if source[i] == "\\" and quote != "`":
            i += 2
            continue
        if source[i] == quote or (source[i] == "\n" and quote != "`"):
            return i + 1
        i += 1
    return len(source)


def decode_literal(literal: str) -> str:
    """The value of one Go string literal: raw (`...`) as written, interpreted ("...") unescaped."""
    if literal.startswith("`"):
        return literal[1:-1].replace("\r", "")
    try:
        value = ast.literal_eval(literal)  # Go's escapes are a subset of Python's for these cases
    except (SyntaxError, ValueError):
        return literal[1:-1]
    return value if isinstance(value, str) else literal[1:-1]


def _literal_sum(source: str, position: int) -> tuple[str, int] | None:
    """A literal, or literals joined with +, starting at position: (value, end) or None."""
    parts: list[str] = []
    i = position
    while True:
        while i < len(source) and source[i] in " \t\r\n":
            i += 1
        match = _LITERAL.match(source, i)
        if match is None:
            return None if not parts else ("".join(parts), i)
        parts.append(decode_literal(match.group(0)))
        i = match.end()
        after = i
        while after < len(source) and source[after] in " \t\r\n":
            after += 1
        if after >= len(source) or source[after] != "+":
            return "".join(parts), i
        i = after + 1


def _argument_start(source: str, open_paren: int, skip: int) -> int | None:
    """The position of argument number `skip` (0-based) of the call whose '(' is at open_paren."""
    depth, i = 0, open_paren + 1
    remaining = skip
    while remaining and i < len(source):
        char = source[i]
        if char in "\"`'":
            i = _string_end(source, i)
            continue
        if char in "([{":
            depth += 1
        elif char in ")]}":
            if depth == 0:
                return None
            depth -= 1
        elif char == "," and depth == 0:
            remaining -= 1
        i += 1
    return i


def _named_literals(source: str) -> dict[str, str]:
    """Constants and variables assigned exactly one literal (or a + of literals) in this file."""
    found: dict[str, list[str]] = {}
    for match in _ASSIGN.finditer(source):
        value = _literal_sum(source, match.end())
        if value is not None:
            found.setdefault(match.group(1), []).append(value[0])
    return {name: values[0] for name, values in found.items() if len(set(values)) == 1}


def calls_in_source(source: str, file: str) -> list[SqlCall]:
    """The SQL calls in one Go file's text."""
    masked = mask_comments(source)
    names = _named_literals(masked)
    calls: list[SqlCall] = []
    for match in _CALL.finditer(masked):
        method = match.group(1) + (match.group(2) or "")
        start = _argument_start(masked, match.end() - 1, 1 if match.group(2) else 0)
        if start is None:
            continue
        while start < len(masked) and masked[start] in " \t\r\n":
            start += 1
        literal = _literal_sum(masked, start)
        via = ""
        if literal is not None:
            sql = literal[0]
        else:
            ident = _IDENT.match(masked, start)
            if ident is None or ident.group(0) not in names:
                continue
            after = masked[ident.end() :].lstrip()
            if not after.startswith((",", ")")):
                continue
            via, sql = ident.group(0), names[ident.group(0)]
        if SQL_START.match(sql):
            line = masked.count("\n", 0, start) + 1
            calls.append(SqlCall(file=file, line=line, method=method, sql=sql, via=via))
    return calls


def find_sql_calls(root: Path) -> list[SqlCall]:
    """Every SQL literal passed to a database/sql call in the Go files under root, with file:line.

    The worktree is untrusted: files are read through agentd.kernel.worktree_files (no link followed,
    regular files only, each capped); .git, vendor, node_modules and testdata are skipped.
    """
    calls: list[SqlCall] = []
    for path, source in WorktreeFiles(root).texts(suffix=".go", skip=SKIPPED_DIRS):
        calls.extend(calls_in_source(source, path))
    return calls


def named_statements(root: Path) -> dict[str, str]:
    """`file:NAME` -> SQL for every Go constant or variable (tests aside) assigned one SQL literal under root.

    The names are how a statement is recognised in two versions of a tree (the SQL gate compares them).
    """
    found: dict[str, str] = {}
    for path, source in WorktreeFiles(root).texts(suffix=".go", skip=SKIPPED_DIRS):
        if path.endswith("_test.go"):
            continue
        for name, sql in _named_literals(mask_comments(source)).items():
            if SQL_START.match(sql):
                found[f"{path}:{name}"] = sql
    return found


# ---------------------------------------------------------------- pg_stat_statements


@dataclass(frozen=True)
class StatementStats:
    """One row of pg_stat_statements: a normalised statement and what it cost in total."""

    query: str
    calls: int
    total_ms: float
    mean_ms: float
    rows: int

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "query": self.query,
            "calls": self.calls,
            "total_ms": round(self.total_ms, 3),
            "mean_ms": round(self.mean_ms, 3),
            "rows": self.rows,
        }


def sql_additions(diff: str) -> dict[str, list[str]]:
    """The lines a unified diff adds to each .sql file (new path -> added lines, in order)."""
    added: dict[str, list[str]] = {}
    current = ""
    for line in diff.splitlines():
        if line.startswith("+++ "):
            current = line[6:] if line.startswith("+++ b/") else ""
        elif line.startswith("+") and current.endswith(".sql"):
            added.setdefault(current, []).append(line[1:])
    return added


_PRESENT = "SELECT count(*) FROM pg_catalog.pg_extension WHERE extname = 'pg_stat_statements'"
_TOP = (
    "SELECT query, calls, {total}, {mean}, rows FROM pg_stat_statements "
    "WHERE dbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database()) "
    "ORDER BY {total} DESC LIMIT {limit}"
)
_NOT_LOADED = "55000"  # pg_stat_statements must be loaded via shared_preload_libraries
_UNDEFINED_COLUMN = "42703"  # PostgreSQL 12 and older: total_time, mean_time


def top_statements(dsn: str, limit: int = 10, *, statement_timeout_ms: int = 5000) -> list[StatementStats]:
    """The statements of this database with the most total execution time; [] without pg_stat_statements."""
    present = execute_read_only(dsn, _PRESENT, None, statement_timeout_ms=statement_timeout_ms, max_rows=1)
    if not present.rows or not present.rows[0][0]:
        return []
    limit = max(1, int(limit))
    for total, mean in (("total_exec_time", "mean_exec_time"), ("total_time", "mean_time")):
        statement = _TOP.format(total=total, mean=mean, limit=limit)
        try:
            outcome = execute_read_only(dsn, statement, None, statement_timeout_ms=statement_timeout_ms, max_rows=limit)
        except psycopg.Error as exc:
            if exc.sqlstate == _NOT_LOADED:
                return []
            if exc.sqlstate == _UNDEFINED_COLUMN:
                continue
            raise
        return [
            StatementStats(str(row[0]), int(row[1]), float(row[2]), float(row[3]), int(row[4])) for row in outcome.rows
        ]
    return []
