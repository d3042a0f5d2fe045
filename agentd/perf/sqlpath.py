"""SQL performance as evidence: the statements in the Go source, their plans, and index checks.

For an optimization task on a project with a database, agentd finds the SQL the code sends,
EXPLAIN ANALYZEs each read-only statement (rolled back), reports what the plan analyser finds,
and checks every suggested index (HypoPG or a scratch copy). The team sees this as evidence.
A candidate that adds an index migration is kept only when agentd's own check shows the gain;
agentd never changes the user's database.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentd.kernel.policy import SqlRules
from agentd.kernel.sqlguard import check_sql
from agentd.perf.indexes import IndexCheck, IndexCheckError, check_index, migration_for
from agentd.perf.plans import IndexSuggestion, analyze_plan, execution_ms, total_cost
from agentd.perf.sql_sources import find_sql_calls, sql_additions, top_statements
from agentd.targetdb import execute_read_only

_PARAMETER = re.compile(r"\$\d+|\?")
_CREATE_INDEX = re.compile(
    r"CREATE\s+(?:UNIQUE\s+)?INDEX\s+(?:CONCURRENTLY\s+)?(?:IF\s+NOT\s+EXISTS\s+)?\"?(\w+)\"?\s+ON\s+"
    r"(?:ONLY\s+)?(?:\"?(\w+)\"?\.)?\"?(\w+)\"?\s*(?:USING\s+\w+\s*)?\(([^)]*)\)",
    re.IGNORECASE,
)


@dataclass
class SqlCase:
    """One statement from the source: where, its plan's numbers, the findings, the index checks."""

    file: str
    line: int
    sql: str
    cost: float = 0.0
    ms: float | None = None
    findings: list[dict[str, Any]] = field(default_factory=list)
    checks: list[IndexCheck] = field(default_factory=list)
    error: str = ""


def _explain(dsn: str, sql: str) -> Any:
    outcome = execute_read_only(
        dsn, f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}", None, statement_timeout_ms=60_000, max_rows=1
    )
    return outcome.rows[0][0] if outcome.rows else None


def collect(dsn: str, worktree: Path, rules: SqlRules, limit: int = 10) -> list[SqlCase]:
    """The evidence for every parameterless read-only statement the Go code sends (at most `limit`)."""
    cases: list[SqlCase] = []
    seen: set[str] = set()
    sources = [(c.file, c.line, c.sql) for c in find_sql_calls(worktree)]
    # the statements that cost the most in production, when pg_stat_statements is there (optional)
    with contextlib.suppress(Exception):
        sources += [("pg_stat_statements", 0, s.query) for s in top_statements(dsn, limit)]
    for file, line, text in sources:
        sql = text.strip().rstrip(";")
        if sql in seen or _PARAMETER.search(sql) or not check_sql(sql, rules).allowed:
            continue
        seen.add(sql)
        case = SqlCase(file, line, sql)
        try:
            plan = _explain(dsn, sql)
            case.cost, case.ms = total_cost(plan), execution_ms(plan)
            for finding in analyze_plan(plan):
                case.findings.append(finding.to_dict())
                if finding.index is not None:
                    case.checks.append(check_index(dsn, sql, finding.index))
        except (IndexCheckError, Exception) as exc:  # noqa: BLE001 - one bad statement must not stop the rest
            case.error = f"{type(exc).__name__}: {exc}"
        cases.append(case)
        if len(cases) >= limit:
            break
    return cases


def describe(cases: list[SqlCase], repo_root: Path) -> str:
    """The evidence as text for the team: plans, findings, checked indexes and where a migration goes."""
    if not cases:
        return ""
    lines = ["agentd's SQL evidence (EXPLAIN ANALYZE, rolled back):"]
    for case in cases:
        ms = f"{case.ms:.1f} ms" if case.ms is not None else "n/a"
        lines.append(f"- {case.file}:{case.line}: `{case.sql}` — cost {case.cost:.0f}, {ms}")
        lines.extend(f"  finding: {f.get('message')}" for f in case.findings)
        for check in case.checks:
            path, sql = migration_for(check.index, repo_root)
            lines.append(
                f"  index {check.index.name}: {_measured(check)}; improves: {check.improves}; "
                f"as a migration: {path}: {sql.strip()}"
            )
        if case.error:
            lines.append(f"  (could not analyse: {case.error})")
    return "\n".join(lines)


def _measured(check: IndexCheck) -> str:
    before = check.control or check.before
    text = f"plan cost {before.total_cost:.0f} -> {check.after.total_cost:.0f} ({check.method})"
    if check.speedup is not None and before.execution_ms and check.after.execution_ms:
        text += f", {before.execution_ms:.1f} ms -> {check.after.execution_ms:.2f} ms ({check.speedup:.0f}x)"
    return text


def added_indexes(diff: str) -> list[IndexSuggestion]:
    """CREATE INDEX statements a diff adds in .sql files."""
    found = []
    for line in (line for added in sql_additions(diff).values() for line in added):
        for _name, schema, table, columns in _CREATE_INDEX.findall(line):
            names = tuple(c.strip().strip('"') for c in columns.split(",") if c.strip())
            found.append(IndexSuggestion(table, names, schema or None))
    return found


def migration_gate(dsn: str, diff: str, cases: list[SqlCase]) -> tuple[bool, list[str], str]:
    """Keep an index migration only when agentd's own check shows a statement gets faster with it."""
    indexes = added_indexes(diff)
    if not indexes:
        return False, [], "the change adds no index migration agentd can measure"
    trailers, said = [], []
    for index in indexes:
        statements = [c.sql for c in cases if re.search(rf"\b{re.escape(index.table)}\b", c.sql, re.IGNORECASE)]
        if not statements:
            return False, [], f"no statement of the code reads {index.table}, so {index.name} cannot be measured"
        check = check_index(dsn, statements[0], index)
        said.append(f"{index.name}: {_measured(check)}")
        if not check.improves:
            return False, [], "; ".join(said)
        trailers.append(f"Agentd-Benchmark: {index.name} on `{statements[0][:60]}`: {_measured(check)}")
    return True, trailers, "; ".join(said)
