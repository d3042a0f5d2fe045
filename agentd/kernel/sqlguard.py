"""The SQL guard of query_database: one read-only statement, judged by PostgreSQL's own parser.

Pure: `check_sql` parses with pglast (libpg_query, the real PostgreSQL grammar), never with
regular expressions, and walks the whole tree, so a denied function hidden in a subquery, a CTE,
a function argument or a lateral join is found as surely as one at the top. A call is allowed only
when its function is on the allowlist (agentd.kernel.sqlfunctions) and not denied, so a function
that runs a SQL string of its own (ts_stat, query_to_xml, dblink) never runs unchecked SQL. The
guard is one of three locks: the statement also runs in a READ ONLY transaction that is always rolled back, and
docs/sql-role.md recommends a SELECT-only role.
"""

from __future__ import annotations

import fnmatch
import re
from collections import deque
from collections.abc import Iterator
from typing import Any

from pglast import ast, parse_sql
from pglast.parser import ParseError

from agentd.kernel.policy import Decision, SqlRules
from agentd.kernel.sqlfunctions import builtin_functions

_DML = (ast.InsertStmt, ast.UpdateStmt, ast.DeleteStmt, ast.MergeStmt)

# What a refused top-level statement is, in words a model recognises.
_KIND_NAMES: dict[type[ast.Node], str] = {
    ast.TransactionStmt: "transaction control (BEGIN, COMMIT, ROLLBACK, SAVEPOINT)",
    ast.VariableSetStmt: "SET (including SET ROLE and SET TRANSACTION)",
    ast.CreateStmt: "CREATE TABLE",
    ast.DoStmt: "a DO block",
    ast.VacuumStmt: "VACUUM / ANALYZE",
    ast.DeclareCursorStmt: "DECLARE CURSOR",
    ast.CheckPointStmt: "CHECKPOINT",
}


def _allowed_kinds(rules: SqlRules) -> str:
    words = {"select": "a SELECT (or WITH ... SELECT)", "explain": "EXPLAIN of a SELECT", "show": "SHOW"}
    kinds = [words[kind] for kind in rules.statements]
    if not kinds:
        return "no statement at all"
    return kinds[0] if len(kinds) == 1 else f"{', '.join(kinds[:-1])} or {kinds[-1]}"


def _kind_name(statement: ast.Node) -> str:
    """A readable name for a statement node: 'COPY', 'ALTER TABLE', 'a DO block', ..."""
    name = _KIND_NAMES.get(type(statement))
    if name is not None:
        return name
    words = re.findall(r"[A-Z][a-z]*", type(statement).__name__.removesuffix("Stmt"))
    return " ".join(words).upper()


def _refuse_kind(statement: ast.Node, rules: SqlRules) -> Decision:
    return Decision(
        False,
        "sql:statement-kind",
        f"{_kind_name(statement)} is not allowed: query_database runs one read-only statement, "
        f"and this policy allows only {_allowed_kinds(rules)}.",
    )


def _check_kind(statement: ast.Node, rules: SqlRules) -> Decision | None:
    """Refuse a top-level statement of a kind the rules do not list; None when it may run."""
    if isinstance(statement, ast.SelectStmt) and "select" in rules.statements:
        return None
    if isinstance(statement, ast.VariableShowStmt) and "show" in rules.statements:
        return None
    if isinstance(statement, ast.ExplainStmt) and "explain" in rules.statements:
        if isinstance(statement.query, ast.SelectStmt):
            return None
        target = _kind_name(statement.query) if statement.query is not None else "nothing"
        return Decision(
            False,
            "sql:explain-target",
            f"EXPLAIN of {target} is not allowed (EXPLAIN ANALYZE would run it); EXPLAIN only a SELECT.",
        )
    return _refuse_kind(statement, rules)


def walk(root: ast.Node) -> Iterator[ast.Node]:
    """Every node under `root` (itself included), breadth first, without recursion."""
    pending: deque[Any] = deque([root])
    while pending:
        item = pending.popleft()
        if isinstance(item, tuple):
            pending.extend(item)
        elif isinstance(item, ast.Node):
            yield item
            pending.extend(getattr(item, member) for member in item)


def function_names(call: ast.FuncCall) -> set[str]:
    """The lower-cased names a call may be denied by: bare (`pg_sleep`) and qualified (`pg_catalog.pg_sleep`)."""
    parts = [str(part.sval).lower() for part in call.funcname or () if isinstance(part, ast.String)]
    return {parts[-1], ".".join(parts)} if parts else set()


def _check_node(node: ast.Node, rules: SqlRules, inside_cte: bool) -> Decision | None:
    """Refuse one node of the tree: DML in a CTE, locking, SELECT INTO, a function not allowed."""
    if isinstance(node, _DML):
        where = "inside a WITH clause" if inside_cte else "inside this statement"
        return Decision(
            False,
            "sql:dml-in-cte",
            f"{_kind_name(node)} {where} would modify data; query_database only reads. Remove the "
            "data-modifying CTE and query the table with a plain SELECT.",
        )
    if isinstance(node, ast.SelectStmt) and node.lockingClause:
        return Decision(
            False,
            "sql:locking-clause",
            "FOR UPDATE / FOR NO KEY UPDATE / FOR SHARE / FOR KEY SHARE take row locks; query_database only "
            "reads. Drop the locking clause.",
        )
    if isinstance(node, ast.SelectStmt) and node.intoClause is not None:
        return Decision(
            False,
            "sql:select-into",
            "SELECT ... INTO creates a table; query_database only reads. Drop the INTO clause.",
        )
    if isinstance(node, ast.FuncCall):
        return _check_call(node, rules)
    return None


def _check_call(call: ast.FuncCall, rules: SqlRules) -> Decision | None:
    """Refuse a call whose function is denied, or on no allowlist; None when it may run."""
    names = function_names(call)
    hit = sorted(name for name in names if any(fnmatch.fnmatchcase(name, p.lower()) for p in rules.denied_functions))
    if hit:
        return Decision(
            False,
            f"sql:denied-function:{hit[0]}",
            f"the function {hit[0]}() is denied by the SQL policy (it sleeps, locks, touches files, "
            "sessions or server state, or runs SQL of its own); rewrite the query without it.",
        )
    parts = [str(part.sval) for part in call.funcname or () if isinstance(part, ast.String)]
    if not parts:
        return None
    builtin = len(parts) == 1 or (len(parts) == 2 and parts[0] == "pg_catalog")
    if builtin and rules.builtin_functions and parts[-1] in builtin_functions():
        return None
    qualified = ".".join(parts)
    if any(fnmatch.fnmatchcase(qualified, pattern) for pattern in rules.allowed_functions):
        return None
    return Decision(
        False,
        f"sql:function-not-allowed:{qualified}",
        f"the function {qualified}() is not on the SQL policy's allowlist (PostgreSQL's built-ins that only "
        "compute, plus sql.allowed_functions); rewrite the query with built-in functions, or ask the "
        "operator to allow this one.",
    )


def _check_tree(statement: ast.Node, rules: SqlRules) -> Decision | None:
    """Walk the whole statement and return the first refusal, or None."""
    cte_queries = {id(cte.ctequery) for cte in walk(statement) if isinstance(cte, ast.CommonTableExpr)}
    for node in walk(statement):
        refusal = _check_node(node, rules, id(node) in cte_queries)
        if refusal is not None:
            return refusal
    return None


def _parse(sql: str) -> tuple[tuple[Any, ...], Decision | None]:
    """Parse into raw statements, or a refusal carrying the parser's message."""
    try:
        return tuple(parse_sql(sql)), None
    except ParseError as exc:
        return (), Decision(False, "sql:parse-error", f"PostgreSQL cannot parse this SQL: {exc}. Fix the syntax.")
    except (RecursionError, ValueError) as exc:
        return (), Decision(False, "sql:parse-error", f"this SQL cannot be checked: {exc}. Simplify it.")


def check_sql(sql: str, rules: SqlRules) -> Decision:
    """Allow exactly one read-only statement of a kind `rules` lists, with no denied function anywhere."""
    statements, refusal = _parse(sql)
    if refusal is not None:
        return refusal
    if not statements:
        return Decision(False, "sql:one-statement", "there is no SQL statement here, only comments or blanks.")
    if len(statements) > 1:
        return Decision(
            False,
            "sql:one-statement",
            f"found {len(statements)} statements; query_database runs exactly one. Send them one call at a time.",
        )
    statement = statements[0].stmt
    refusal = _check_kind(statement, rules) or _check_tree(statement, rules)
    if refusal is not None:
        return refusal
    return Decision(True, f"sql:{_accepted_kind(statement)}")


def _accepted_kind(statement: ast.Node) -> str:
    if isinstance(statement, ast.ExplainStmt):
        return "explain"
    if isinstance(statement, ast.VariableShowStmt):
        return "show"
    return "select"


def statement_body(sql: str) -> str:
    """The text of the one statement in `sql`, without what follows it (a semicolon, comments); ValueError otherwise.

    Made to be wrapped as a subquery: `(` + body + newline + `)` holds exactly that statement.
    """
    statements, refusal = _parse(sql)
    if refusal is not None or len(statements) != 1:
        raise ValueError("expected exactly one statement")
    raw = statements[0]
    start = raw.stmt_location or 0
    encoded = sql.encode()  # the parser's locations count bytes of UTF-8
    end = start + raw.stmt_len if raw.stmt_len else len(encoded)
    return encoded[start:end].decode()


def is_select(sql: str) -> bool:
    """Whether `sql` parses as exactly one SELECT (or WITH ... SELECT, VALUES, TABLE), the only thing EXPLAIN takes."""
    statements, refusal = _parse(sql)
    return refusal is None and len(statements) == 1 and isinstance(statements[0].stmt, ast.SelectStmt)
