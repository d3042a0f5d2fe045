"""Migrations that would lock a table while they run: pure rules over PostgreSQL's own parse tree (pglast).

Each rule names the statement, the table, the lock it takes and the way to avoid it (CONCURRENTLY, NOT
VALID then VALIDATE, a new column and a backfill). Whether the table is large is the caller's question:
it knows the database.
"""

from __future__ import annotations

from dataclasses import dataclass

from pglast import ast, parse_sql
from pglast.parser import ParseError


@dataclass(frozen=True)
class LockingStatement:
    """A statement that blocks writes (or reads and writes) on `table` for as long as it runs."""

    table: str  # as written, schema-qualified when it was
    lock: str
    what: str
    instead: str
    rule: str


def _name(relation: ast.RangeVar | None) -> str:
    if relation is None:
        return ""
    return f"{relation.schemaname}.{relation.relname}" if relation.schemaname else str(relation.relname)


def _index(statement: ast.IndexStmt) -> LockingStatement | None:
    if statement.concurrent:
        return None
    return LockingStatement(
        _name(statement.relation),
        "SHARE (writes wait)",
        "CREATE INDEX without CONCURRENTLY blocks every INSERT, UPDATE and DELETE on the table until it is built",
        "CREATE INDEX CONCURRENTLY (outside a transaction block)",
        "agentd/sql/index-without-concurrently",
    )


def _alter(statement: ast.AlterTableStmt) -> LockingStatement | None:
    table = _name(statement.relation)
    for command in statement.cmds or ():
        if not isinstance(command, ast.AlterTableCmd):
            continue
        kind = str(getattr(command.subtype, "name", command.subtype))
        constraint = command.def_ if isinstance(command.def_, ast.Constraint) else None
        if kind == "AT_AlterColumnType":
            return LockingStatement(
                table,
                "ACCESS EXCLUSIVE (reads and writes wait)",
                f"changing the type of column {command.name} rewrites the whole table",
                "a new column, a backfill in batches, then a swap",
                "agentd/sql/column-type-rewrite",
            )
        if kind == "AT_SetNotNull":
            return LockingStatement(
                table,
                "ACCESS EXCLUSIVE (reads and writes wait)",
                f"SET NOT NULL on {command.name} scans the whole table under the lock",
                "ADD CONSTRAINT … CHECK (column IS NOT NULL) NOT VALID, VALIDATE CONSTRAINT, then SET NOT NULL",
                "agentd/sql/set-not-null",
            )
        if kind == "AT_AddConstraint" and constraint is not None and not constraint.skip_validation:
            contype = str(getattr(constraint.contype, "name", constraint.contype))
            if contype in {"CONSTR_FOREIGN", "CONSTR_CHECK"}:
                return LockingStatement(
                    table,
                    "SHARE ROW EXCLUSIVE (writes wait)" if contype == "CONSTR_FOREIGN" else "ACCESS EXCLUSIVE",
                    "adding a validated constraint checks every row while holding the lock",
                    "ADD CONSTRAINT … NOT VALID, then VALIDATE CONSTRAINT in a later step",
                    "agentd/sql/constraint-validated-at-once",
                )
    return None


def _maintenance(statement: ast.Node) -> LockingStatement | None:
    if isinstance(statement, ast.VacuumStmt) and any(
        isinstance(option, ast.DefElem) and option.defname == "full" for option in statement.options or ()
    ):
        relations = [r.relation for r in statement.rels or () if isinstance(r, ast.VacuumRelation)]
        return LockingStatement(
            _name(relations[0] if relations else None) or "every table",
            "ACCESS EXCLUSIVE (reads and writes wait)",
            "VACUUM FULL rewrites the table",
            "plain VACUUM, or pg_repack",
            "agentd/sql/vacuum-full",
        )
    if isinstance(statement, ast.ClusterStmt):
        return LockingStatement(
            _name(statement.relation),
            "ACCESS EXCLUSIVE (reads and writes wait)",
            "CLUSTER rewrites the table",
            "pg_repack",
            "agentd/sql/cluster",
        )
    if isinstance(statement, ast.ReindexStmt) and not any(
        isinstance(p, ast.DefElem) and p.defname == "concurrently" for p in statement.params or ()
    ):
        return LockingStatement(
            _name(statement.relation) or str(statement.name or ""),
            "SHARE (writes wait)",
            "REINDEX without CONCURRENTLY blocks writes while it rebuilds",
            "REINDEX … CONCURRENTLY",
            "agentd/sql/reindex-without-concurrently",
        )
    return None


def locking(sql: str) -> LockingStatement | None:
    """What a migration statement would lock, or None (also for text PostgreSQL's parser does not accept)."""
    try:
        parsed = parse_sql(sql)
    except ParseError:
        return None
    for raw in parsed:
        statement = raw.stmt
        if isinstance(statement, ast.IndexStmt):
            found = _index(statement)
        elif isinstance(statement, ast.AlterTableStmt):
            found = _alter(statement)
        elif statement is not None:
            found = _maintenance(statement)
        else:
            found = None
        if found is not None:
            return found
    return None
