"""query_database: one guarded, read-only SQL statement against the target project's PostgreSQL.

Three locks, each enough on its own for the common case: the SQL guard (agentd.kernel.sqlguard, the real
PostgreSQL parser) refuses anything but one SELECT / EXPLAIN of a SELECT / SHOW; the statement
runs in a READ ONLY transaction with statement, lock and idle timeouts that is always rolled back;
and docs/sql-role.md recommends a SELECT-only role for the DSN. Parameters are bound by the server,
never formatted into the text, and the text the guard judged is byte for byte the text that runs.
"""

from __future__ import annotations

import math
import re
import time
from datetime import date, datetime
from datetime import time as time_of_day
from decimal import Decimal
from typing import Any, Literal

import psycopg
from pydantic import BaseModel, ConfigDict, Field

from agentd.kernel.policy import Decision, SqlRules
from agentd.kernel.redact import Redactor
from agentd.kernel.seams import ToolResult
from agentd.kernel.sqlguard import check_sql, is_select
from agentd.targetdb import QueryOutcome, execute_read_only
from tools.config import QueryDatabaseConfig

EXPLAIN_PREFIX = {"plan": "EXPLAIN (FORMAT JSON) ", "analyze": "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) "}

# psycopg's placeholder grammar: %% , %s / %b / %t, %(name)s / %(name)b / %(name)t
_PLACEHOLDER = re.compile(r"%(?:\(([^)]+)\)(.)|(.)|$)", re.DOTALL)

# sqlstate -> what the model can do about it
_HINTS = {
    "57014": "the statement was cancelled by statement_timeout; add a LIMIT, a narrower WHERE, or use explain='plan'",
    "55P03": "a lock could not be taken within lock_timeout; another session holds it, try again later",
    "25006": "query_database is read-only; it cannot write",
    "42501": "the database role lacks privileges for this object",
    "42P01": "no such table; list tables with SELECT table_schema, table_name FROM information_schema.tables",
    "42703": "no such column; list columns from information_schema.columns",
}


class QueryDatabaseArgs(BaseModel):
    """Arguments of query_database, as a model sends them."""

    model_config = ConfigDict(extra="forbid")

    sql: str = Field(
        min_length=1,
        description="Exactly one statement: SELECT (or WITH ... SELECT), EXPLAIN of a SELECT, or SHOW.",
    )
    params: list[Any] | dict[str, Any] | None = Field(
        default=None,
        description="Values bound by the server. A list binds $1, $2, ... (or %s); a dict binds %(name)s. "
        "With params, write a literal % as %% when using %-placeholders.",
    )
    explain: Literal["none", "plan", "analyze"] = Field(
        default="none",
        description="'plan': EXPLAIN (FORMAT JSON) the SELECT; 'analyze': also run it (rolled back) for actual "
        "rows and timings.",
    )


# ---------------------------------------------------------------- pure parts


def bind_placeholders(sql: str, params: list[Any] | dict[str, Any] | None) -> tuple[str, list[Any] | None]:
    """Rewrite psycopg placeholders to PostgreSQL's $n and order the values; raise ValueError on a mismatch.

    Without params the text is left exactly as written. A list with no %-placeholder is taken to
    use $1, $2, ... already. The returned text is what the guard checks and the server receives.
    """
    if params is None:
        return sql, None
    if isinstance(params, list) and not _has_placeholder(sql):
        return sql, list(params)
    names: list[str] = []
    positional = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal positional
        name, named_format, plain_format = match.group(1), match.group(2), match.group(3)
        if plain_format == "%":
            return "%"
        fmt = named_format or plain_format
        if fmt not in ("s", "b", "t"):
            raise ValueError(f"bad placeholder {match.group(0)!r}: use %s, %(name)s, or %% for a literal %")
        if name is None:
            positional += 1
            return f"${positional}"
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    text = _PLACEHOLDER.sub(replace, sql)
    return text, _ordered_values(params, names, positional)


def _has_placeholder(sql: str) -> bool:
    return any(m.group(1) is not None or m.group(3) in ("s", "b", "t") for m in _PLACEHOLDER.finditer(sql))


def _ordered_values(params: list[Any] | dict[str, Any], names: list[str], positional: int) -> list[Any]:
    """The values in $n order, checking they match the placeholders found."""
    if names and positional:
        raise ValueError("do not mix %s and %(name)s placeholders in one statement")
    if isinstance(params, dict):
        if positional:
            raise ValueError("params is a dict, so use %(name)s placeholders, not %s")
        missing = [name for name in names if name not in params]
        if missing:
            raise ValueError(f"params has no value for {', '.join(missing)}")
        return [params[name] for name in names]
    if names:
        raise ValueError("params is a list, so use %s (or $1, $2, ...) placeholders, not %(name)s")
    if positional != len(params):
        raise ValueError(f"the statement has {positional} placeholders but params has {len(params)} values")
    return list(params)


def json_safe(value: Any) -> Any:
    """A JSON-serialisable form of a database value: decimals, times, bytes and the rest become strings."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\x" + bytes(value).hex()
    if isinstance(value, datetime | date | time_of_day):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    return str(value)  # UUID, timedelta, IP addresses, ranges, ...


def _refused(decision: Decision) -> ToolResult:
    return ToolResult(ok=False, output={"error": decision.reason}, decision="refused", rule=decision.rule)


def _guard(sql: str, explain: str, rules: SqlRules) -> tuple[str, Decision]:
    """The statement to run (EXPLAIN-wrapped when asked) and the guard's decision on exactly that text."""
    decision = check_sql(sql, rules)
    if not decision.allowed or explain == "none":
        return sql, decision
    if "explain" not in rules.statements:
        return sql, Decision(False, "sql:statement-kind", "the SQL policy does not allow EXPLAIN; use explain='none'.")
    if not is_select(sql):
        return sql, Decision(
            False, "sql:explain-target", f"explain='{explain}' works on a SELECT only; send the SELECT without EXPLAIN."
        )
    statement = EXPLAIN_PREFIX[explain] + sql
    return statement, check_sql(statement, rules)


# ---------------------------------------------------------------- the edge: psycopg


def _database_error(exc: psycopg.Error, dsn: str) -> ToolResult:
    """A failed result carrying the server's message (and a hint), with no trace of the DSN."""
    message = str(exc).strip() or type(exc).__name__
    if exc.sqlstate in _HINTS:
        message = f"{message} ({_HINTS[exc.sqlstate]})"
    output: dict[str, Any] = {"error": Redactor.for_dsn(dsn).text(message)}
    if exc.sqlstate:
        output["sqlstate"] = exc.sqlstate
    return ToolResult(ok=False, output=output, decision="failed")


class QueryDatabaseTool:
    """The query_database tool: guard, then run read-only, then shape the rows for a model."""

    name = "query_database"

    def __init__(self, dsn: str | None, config: QueryDatabaseConfig, rules: SqlRules) -> None:
        self._dsn = dsn
        self._config = config
        self._rules = rules

    @property
    def dsn(self) -> str | None:
        """The target database's DSN (a secret: never log or show it)."""
        return self._dsn

    def run(self, args: QueryDatabaseArgs, role_allows_sql: bool = True) -> ToolResult:
        """Run one call; every outcome, refusal and database error included, is a ToolResult."""
        started = time.monotonic()
        result = self._run(args, role_allows_sql)
        return ToolResult(
            ok=result.ok,
            output=result.output,
            decision=result.decision,
            rule=result.rule,
            duration_ms=(time.monotonic() - started) * 1000,
        )

    def _run(self, args: QueryDatabaseArgs, role_allows_sql: bool) -> ToolResult:
        if not role_allows_sql:
            return _refused(Decision(False, "role:sql", "this role may not query the database."))
        try:
            text, values = bind_placeholders(args.sql, args.params)
        except ValueError as exc:
            return ToolResult(ok=False, output={"error": str(exc)}, decision="invalid", rule="sql:params")
        statement, decision = _guard(text, args.explain, self._rules)
        if not decision.allowed:
            return _refused(decision)
        if not self._dsn:
            return ToolResult(ok=False, output={"error": self._no_database_message()}, decision="failed")
        return self._execute(statement, values, args.explain, decision.rule)

    def _no_database_message(self) -> str:
        if self._config.dsn_env:
            return (
                f"no target database: the environment variable {self._config.dsn_env} "
                "(named by [target_database] dsn_env) is not set or empty"
            )
        return "no target database: set [target_database] dsn_env in agentd.toml to a variable holding the DSN"

    def _execute(self, statement: str, values: list[Any] | None, explain: str, rule: str) -> ToolResult:
        dsn = self._dsn or ""
        try:
            outcome = execute_read_only(
                dsn,
                statement,
                values,
                statement_timeout_ms=self._config.statement_timeout_ms,
                max_rows=self._config.max_rows,
                max_bytes=self._config.max_result_bytes,
            )
        except psycopg.Error as exc:
            return _database_error(exc, dsn)
        except Exception as exc:  # noqa: BLE001 - a tool returns errors to the model, it never raises
            error = Redactor.for_dsn(dsn).text(f"{type(exc).__name__}: {exc}")
            return ToolResult(ok=False, output={"error": error}, decision="failed")
        output = shape_output(outcome, explain)
        if outcome.over_bytes:
            output["note"] = (
                f"rows stopped after {len(outcome.rows)}: the next would take the result past "
                f"{self._config.max_result_bytes:,} bytes (max_result_bytes). Select fewer or narrower columns "
                "(e.g. left(col, 200)), or add a LIMIT."
            )
        return ToolResult(ok=True, output=output, rule=rule)


def shape_output(outcome: QueryOutcome, explain: str) -> dict[str, Any]:
    """The tool's output: columns, JSON-safe rows, row_count, truncated, and the plan for explain calls."""
    if explain != "none" and outcome.rows:
        return {"columns": [], "rows": [], "row_count": 0, "truncated": False, "plan": json_safe(outcome.rows[0][0])}
    rows = [[json_safe(value) for value in row] for row in outcome.rows]
    return {
        "columns": outcome.columns,
        "rows": rows,
        "row_count": len(rows),
        "truncated": outcome.truncated,
        "plan": None,
    }
