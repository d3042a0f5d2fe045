"""SQL found in Go source (database/sql calls) and read from pg_stat_statements on a real server."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from agentd.perf.sql_sources import calls_in_source, decode_literal, find_sql_calls, mask_comments, top_statements
from tests.perf.conftest import PerfDatabase

STORE_GO = """package store

import (
	"context"
	"database/sql"
)

const listOrders = `SELECT id, total_cents
FROM orders
WHERE customer_email = $1`

// db.Query("SELECT commented_out FROM nowhere")
/* tx.Exec("DELETE FROM nowhere") */

func Orders(ctx context.Context, db *sql.DB, email string) (*sql.Rows, error) {
	return db.QueryContext(ctx, listOrders, email)
}

func Total(db *sql.DB, id int64) (int, error) {
	var total int
	err := db.QueryRow("SELECT total_cents FROM orders WHERE id = $1", id).Scan(&total)
	return total, err
}

func Ship(ctx context.Context, tx *sql.Tx, id int64) error {
	_, err := tx.ExecContext(ctx,
		"UPDATE orders SET status = 'shipped' " +
			"WHERE id = $1", id)
	return err
}

func Prepare(db *sql.DB) (*sql.Stmt, error) {
	return db.Prepare("INSERT INTO audit (note) VALUES ($1)")
}

func NotSQL(cmd interface{ Exec(string) error }) error {
	return cmd.Exec("make build")
}

func Dynamic(db *sql.DB, query string) (*sql.Rows, error) {
	return db.Query(query)
}

func Quoted(db *sql.DB) error {
	_, err := db.Exec("SELECT \\"note\\" FROM audit WHERE note = 'a\\tb'")
	return err
}
"""


def test_calls_in_go_source() -> None:
    """Inline, concatenated, raw-constant and escaped literals are found at the literal's line; comments are not."""
    calls = calls_in_source(STORE_GO, "store/store.go")
    found = [(call.line, call.method, call.sql, call.via) for call in calls]
    assert found == [
        (16, "QueryContext", "SELECT id, total_cents\nFROM orders\nWHERE customer_email = $1", "listOrders"),
        (21, "QueryRow", "SELECT total_cents FROM orders WHERE id = $1", ""),
        (27, "ExecContext", "UPDATE orders SET status = 'shipped' WHERE id = $1", ""),
        (33, "Prepare", "INSERT INTO audit (note) VALUES ($1)", ""),
        (45, "Exec", "SELECT \"note\" FROM audit WHERE note = 'a\tb'", ""),
    ]
    assert {call.file for call in calls} == {"store/store.go"}


def test_find_sql_calls_walks_the_tree_but_not_vendor(tmp_path: Path) -> None:
    """Every .go file under the root is scanned, with paths relative to it; vendor/ is skipped."""
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "store.go").write_text(STORE_GO)
    (tmp_path / "vendor" / "lib").mkdir(parents=True)
    (tmp_path / "vendor" / "lib" / "lib.go").write_text('package lib\nfunc f(db DB) { db.Exec("DELETE FROM x") }\n')
    calls = find_sql_calls(tmp_path)
    assert len(calls) == 5
    assert {call.file for call in calls} == {"store/store.go"}


def test_mask_comments_keeps_strings_and_lines() -> None:
    """Comment text becomes spaces, line count is kept, and // inside a string is not a comment."""
    source = 'a := "http://x" // note\n/* one\ntwo */ b'
    masked = mask_comments(source)
    assert masked.count("\n") == source.count("\n")
    assert '"http://x"' in masked
    assert "note" not in masked
    assert "two" not in masked
    assert masked.endswith(" b")


def test_decode_literal() -> None:
    """Raw literals are taken as written (minus carriage returns); interpreted ones are unescaped."""
    assert decode_literal("`a\\n\r\nb`") == "a\\n\nb"
    assert decode_literal('"a\\n\\"b\\""') == 'a\n"b"'


@pytest.mark.postgres
def test_top_statements_reads_pg_stat_statements(perf_db: PerfDatabase) -> None:
    """With pg_stat_statements preloaded and created, the costliest statements of this database come back."""
    with psycopg.connect(perf_db.dsn, autocommit=True) as conn:
        for _ in range(3):
            conn.execute("SELECT count(*) FROM orders WHERE total_cents = 4242")
    statements = top_statements(perf_db.dsn, limit=20)
    ours = [s for s in statements if "FROM orders WHERE total_cents" in s.query]
    assert ours, [s.query for s in statements]
    assert ours[0].calls == 3
    assert ours[0].total_ms > 0
    assert ours[0].query == "SELECT count(*) FROM orders WHERE total_cents = $1"
    totals = [s.total_ms for s in statements]
    assert totals == sorted(totals, reverse=True)


@pytest.mark.postgres
def test_top_statements_without_the_extension_is_empty(perf_db: PerfDatabase) -> None:
    """A database where pg_stat_statements is not created gives an empty list, not an error."""
    dsn = perf_db.create_database("agentd_no_statements")
    assert top_statements(dsn) == []
