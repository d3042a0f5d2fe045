"""Database-aware review: changed SQL in Go and .sql files, EXPLAINed before and after on a real PostgreSQL
(with HypoPG), and migrations that would lock a large table."""

from __future__ import annotations

import psycopg
import pytest

from agentd.kernel.policy import load_policy
from agentd.perf.migrations import locking
from agentd.perf.sqlreview import ChangedFile, Database, changed_statements, review_sql, sql_file_statements
from tests.perf.conftest import PerfDatabase

OLD_GO = """package shop

func Find(db *sql.DB) {
\tdb.QueryRow("SELECT id, status FROM orders WHERE id = 42")
}
"""
NEW_GO = """package shop

func Find(db *sql.DB) {
\tdb.QueryRow("SELECT id, status FROM orders WHERE customer_email = 'customer7@example.com'")
}
"""


def go_change(old: str | None, new: str, added: set[int]) -> ChangedFile:
    """shop/find.go changed from `old` to `new`, adding the head lines `added`."""
    return ChangedFile("shop/find.go", old, new, frozenset(added))


@pytest.fixture(scope="module")
def review_db(perf_db: PerfDatabase) -> str:
    """A database of its own with HypoPG and a 50,000-row `orders` (only its key indexed), and a small `notes`."""
    dsn = perf_db.create_database("agentd_sqlreview")
    with perf_db.admin("agentd_sqlreview") as conn:
        conn.execute("CREATE EXTENSION hypopg")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE orders (id bigint PRIMARY KEY, customer_email text NOT NULL, status text NOT NULL)")
        conn.execute(
            "INSERT INTO orders SELECT g, 'customer' || (g % 5000) || '@example.com', 'new' "
            "FROM generate_series(1, 50000) g"
        )
        conn.execute("CREATE TABLE notes (id int PRIMARY KEY, body text)")
        conn.execute("ANALYZE")
    return dsn


def database(dsn: str) -> Database:
    """The review's view of the database: the default policy's SQL rules, 10,000 rows make a table large."""
    return Database(dsn, load_policy().sql, large_table_rows=10_000, cost_ratio=1.5)


def test_changed_statements_pair_the_new_sql_with_what_it_replaced() -> None:
    """An edited Go query pairs with its old text; untouched and unchanged statements are not reviewed."""
    pairs = changed_statements(go_change(OLD_GO, NEW_GO, {4}))
    assert [(new.line, old.sql if old else None) for new, old in pairs] == [
        (4, "SELECT id, status FROM orders WHERE id = 42")
    ]
    assert changed_statements(go_change(OLD_GO, OLD_GO, set())) == []
    assert changed_statements(go_change(OLD_GO, NEW_GO, {1})) == []  # the change did not touch that line
    migration = "-- add an index\nCREATE INDEX idx ON orders (status);\n"
    (only,) = changed_statements(ChangedFile("migrations/0002_idx.sql", None, migration, frozenset({1, 2})))
    assert (only[0].line, only[0].sql, only[1]) == (2, "CREATE INDEX idx ON orders (status)", None)
    assert [s.line for s in sql_file_statements("q.sql", "SELECT 1;\n\n-- c\nSELECT\n  2;\n")] == [1, 4]


def test_migration_rules_name_the_lock_and_the_way_around_it() -> None:
    """CREATE INDEX without CONCURRENTLY, a type change, a validated FK are flagged; their safe forms are not."""
    index = locking("CREATE INDEX i ON orders (status)")
    assert index is not None and index.rule == "agentd/sql/index-without-concurrently"
    assert locking("CREATE INDEX CONCURRENTLY i ON orders (status)") is None
    changed = locking("ALTER TABLE public.orders ALTER COLUMN status TYPE varchar(10)")
    assert changed is not None and changed.table == "public.orders" and "ACCESS EXCLUSIVE" in changed.lock
    assert locking("ALTER TABLE orders ADD CONSTRAINT f FOREIGN KEY (c) REFERENCES cs(id)") is not None
    assert locking("ALTER TABLE orders ADD CONSTRAINT f FOREIGN KEY (c) REFERENCES cs(id) NOT VALID") is None
    assert locking("ALTER TABLE orders ADD COLUMN note text") is None
    assert locking("not sql at all (") is None


@pytest.mark.postgres
def test_a_query_changed_to_scan_a_large_table_is_found_at_its_line_with_a_checked_index(review_db: str) -> None:
    """The new filter on customer_email makes the plan costlier and adds a Seq Scan on orders; HypoPG shows the
    index that fixes it, and the finding says so at line 4."""
    found = review_sql([go_change(OLD_GO, NEW_GO, {4})], database(review_db))
    assert found.notes == []
    by_rule = {f.rule: f for f in found.findings}
    assert set(by_rule) == {"agentd/sql/cost", "agentd/sql/seq-scan"}
    scan = by_rule["agentd/sql/seq-scan"]
    assert (scan.path, scan.line, scan.severity) == ("shop/find.go", 4, "warning")
    assert "Seq Scan on orders" in scan.message
    assert (
        "HypoPG shows `CREATE INDEX CONCURRENTLY idx_orders_customer_email ON orders (customer_email)`" in scan.message
    )
    assert "x)" in by_rule["agentd/sql/cost"].message
    with psycopg.connect(review_db) as conn:  # nothing was built: HypoPG's index was hypothetical
        assert conn.execute("SELECT count(*) FROM pg_indexes WHERE tablename = 'orders'").fetchone() == (1,)


@pytest.mark.postgres
def test_migrations_are_flagged_only_on_large_tables(review_db: str) -> None:
    """CREATE INDEX without CONCURRENTLY on the 50,000-row orders is an error; on the empty notes it is nothing."""
    migration = "CREATE INDEX i1 ON orders (status);\nCREATE INDEX i2 ON notes (body);\n"
    change = ChangedFile("migrations/0003.sql", None, migration, frozenset({1, 2}))
    found = review_sql([change], database(review_db))
    (lock,) = found.findings
    assert (lock.line, lock.severity, lock.rule) == (1, "error", "agentd/sql/index-without-concurrently")
    assert "about 50,000 rows" in lock.message and "CREATE INDEX CONCURRENTLY" in lock.message


def test_without_a_database_migrations_are_still_flagged_and_nothing_is_explained() -> None:
    """No target database: the lock rules run (the table's size unknown, a warning); no statement is explained."""
    change = ChangedFile("m.sql", None, "CREATE INDEX i ON orders (status);\nSELECT 1;\n", frozenset({1, 2}))
    found = review_sql([change, go_change(OLD_GO, NEW_GO, {4})], None)
    (lock,) = found.findings
    assert (lock.severity, lock.rule) == ("warning", "agentd/sql/index-without-concurrently")
    assert "could not check" in lock.message


@pytest.mark.postgres
def test_statements_with_parameters_are_noted_not_explained(review_db: str) -> None:
    """A query taking $1 cannot be planned unbound on PostgreSQL 15: the review says so and moves on."""
    new = NEW_GO.replace("'customer7@example.com'", "$1")
    found = review_sql([go_change(OLD_GO, new, {4})], database(review_db))
    assert found.findings == []
    assert found.notes == ["shop/find.go:4 not explained: it takes parameters, which PostgreSQL 15 cannot plan unbound"]
