"""The plan gate for SQL with parameters: generic plans before and after, on the built-in suite's fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agentd.eval.harness import FixtureDatabases
from agentd.eval.task import BUILTIN_SUITE, load_task
from agentd.eval.trees import apply_patch, solution_text, starting_tree
from agentd.kernel.policy import load_policy
from agentd.perf.sqlgate import Index, _on_copy, added_index_statements, statement_gate, touched_statements

RULES = load_policy(None).sql
MIGRATION = """diff --git a/migrations/0003_x.sql b/migrations/0003_x.sql
new file mode 100644
--- /dev/null
+++ b/migrations/0003_x.sql
@@ -0,0 +1,4 @@
+-- CREATE INDEX commented_out ON nothing (x);
+CREATE INDEX customers_email_lower_idx ON customers (lower(email));
+CREATE UNIQUE INDEX IF NOT EXISTS o_idx
+    ON public.orders USING btree (customer_id, created_at DESC);
diff --git a/store/queries.go b/store/queries.go
--- a/store/queries.go
+++ b/store/queries.go
@@ -1 +1 @@
-CREATE INDEX in_go_code_is_not_a_migration ON orders (id);
"""


def test_added_index_statements_reads_migrations_only() -> None:
    """CREATE INDEX lines added to .sql files, expressions and schemas kept; comments and other files ignored."""
    found = added_index_statements(MIGRATION)
    assert [(i.schema, i.table) for i in found] == [(None, "customers"), ("public", "orders")]
    assert found[0].statement == "CREATE INDEX customers_email_lower_idx ON customers (lower(email))"
    assert found[1].statement.endswith("USING btree (customer_id, created_at DESC)")


def test_an_index_on_a_qualified_table_is_built_on_the_temp_copy() -> None:
    """The schema is dropped from the table name, so the index lands on the session's TEMP copy."""
    index = Index('CREATE INDEX i ON "public".orders (customer_id)', "public", "orders")
    assert _on_copy(index) == "CREATE INDEX i ON orders (customer_id)"


def test_touched_statements_are_rewrites_and_readers_of_a_new_index() -> None:
    """A rewritten SELECT, or one with parameters reading a newly indexed table, is touched; others are not."""
    base = {
        "q.go:A": "SELECT 1 FROM orders WHERE x = $1",
        "q.go:B": "SELECT * FROM customers",
        "q.go:C": "SELECT * FROM items",
        "q.go:D": "DELETE FROM orders WHERE id = $1",
        "q.go:F": "SELECT * FROM orders",  # no parameters: the index gate times it
    }
    candidate = {**base, "q.go:C": "SELECT id FROM items", "q.go:E": "SELECT 2"}
    indexes = [Index("CREATE INDEX i ON orders (x)", None, "orders")]
    touched = touched_statements(base, candidate, indexes, RULES)
    assert sorted(touched) == ["q.go:A", "q.go:C"]


@pytest.fixture(scope="module")
def databases() -> Iterator[FixtureDatabases]:
    """A throwaway cluster handing out fresh databases loaded from the suite's fixtures."""
    found = FixtureDatabases()
    try:
        yield found
    finally:
        found.close()


def gate(name: str, tmp_path: Path, databases: FixtureDatabases, patch: str | None = None) -> tuple[bool, str]:
    """The gate on a built-in sql task's repo/ before and after `patch` (its solution.patch by default)."""
    task = load_task(BUILTIN_SUITE / name)
    change = patch if patch is not None else solution_text(task)
    base, candidate = starting_tree(task, tmp_path / "base"), starting_tree(task, tmp_path / "candidate")
    apply_patch(candidate, change, "the change")
    assert task.fixture is not None
    with databases.fresh(task.fixture, on_host=True) as dsn:
        verdict = statement_gate(dsn, base, candidate, change, RULES, 0.05)
    assert verdict is not None
    return verdict[0], verdict[2]


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("name", "statement"),
    [
        ("sql-missing-index-migration", "CustomerOrdersSQL"),
        ("sql-case-insensitive-login", "UserByEmailSQL"),
        ("sql-day-query-rewrite", "OrdersOnDaySQL"),
    ],
)
def test_the_reference_fixes_of_the_slow_sql_tasks_are_kept(
    name: str, statement: str, tmp_path: Path, databases: FixtureDatabases
) -> None:
    """An index migration (plain or on an expression) and a sargable rewrite each make the generic plan cheaper."""
    kept, said = gate(name, tmp_path, databases)
    assert kept, said
    assert f"store/queries.go:{statement}: generic plan cost" in said
    assert "cheaper" in said


@pytest.mark.postgres
def test_a_rewrite_that_costs_more_is_refused(tmp_path: Path, databases: FixtureDatabases) -> None:
    """A correct but costlier rewrite (sql-not-in-null's NOT EXISTS) is not kept as an optimization."""
    kept, said = gate("sql-not-in-null", tmp_path, databases)
    assert not kept
    assert "costlier" in said


@pytest.mark.postgres
def test_a_change_to_no_sql_is_not_this_gates_business(tmp_path: Path, databases: FixtureDatabases) -> None:
    """A change touching no SQL statement gets None: the job falls back to the other gates."""
    task = load_task(BUILTIN_SUITE / "sql-day-query-rewrite")
    tree = starting_tree(task, tmp_path / "t")
    assert task.fixture is not None
    with databases.fresh(task.fixture, on_host=True) as dsn:
        assert statement_gate(dsn, tree, tree, "", RULES, 0.05) is None
