"""Index suggestions checked on a real million-row table (HypoPG and scratch copy) and written as migrations."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from agentd.perf.indexes import (
    IndexCheckError,
    check_index,
    detect_convention,
    hypopg_installed,
    install_hypopg,
    migration_for,
    write_migration,
)
from agentd.perf.plans import IndexSuggestion, analyze_plan, index_names
from agentd.targetdb import execute_read_only
from tests.perf.conftest import PerfDatabase
from tools.query import EXPLAIN_PREFIX

QUERY = "SELECT id, total_cents FROM orders WHERE customer_email = 'customer4242@example.com'"
INDEX = IndexSuggestion("orders", ("customer_email",))
NOW = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)


def explain_analyze(dsn: str, query: str) -> object:
    """EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) through the read-only executor query_database uses."""
    outcome = execute_read_only(dsn, EXPLAIN_PREFIX["analyze"] + query, None, statement_timeout_ms=30_000, max_rows=1)
    return outcome.rows[0][0]


def orders_indexes(dsn: str) -> set[str]:
    """The persistent indexes of the orders table."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        return {row[0] for row in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'orders'")}


@pytest.mark.postgres
def test_analyser_reports_seq_scan_on_the_unindexed_column(perf_db: PerfDatabase) -> None:
    """A real EXPLAIN ANALYZE of the million-row query: the Seq Scan is reported, naming customer_email."""
    findings = analyze_plan(explain_analyze(perf_db.dsn, QUERY))
    scans = [finding for finding in findings if finding.kind == "seq_scan"]
    assert len(scans) == 1
    assert scans[0].relation == "orders"
    assert scans[0].numbers["table_rows"] == pytest.approx(1_000_000, rel=0.01)
    assert scans[0].index == INDEX


@pytest.mark.postgres
def test_scratch_copy_measures_a_real_speedup_and_leaves_nothing(perf_db: PerfDatabase) -> None:
    """Without HypoPG: a TEMP copy is timed without and with a real index; the index wins and nothing persists."""
    assert not hypopg_installed(perf_db.dsn)
    check = check_index(perf_db.dsn, QUERY, INDEX, method="scratch", runs=3)
    assert check.method == "scratch"
    assert check.control is not None
    assert not check.control.uses_index
    assert check.after.uses_index
    assert check.speedup is not None
    assert check.speedup > 10
    assert check.improves
    assert len(check.after.timings_ms) == 3
    assert "TEMP table" in check.note
    assert orders_indexes(perf_db.dsn) == {"orders_pkey"}
    with psycopg.connect(perf_db.dsn, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM pg_class WHERE relpersistence = 't'").fetchone() == (0,)


@pytest.mark.postgres
def test_hypopg_needs_privileges_the_owner_lacks(perf_db: PerfDatabase) -> None:
    """HypoPG is not a trusted extension: the owner role cannot create it, the superuser can."""
    dsn = perf_db.create_database("agentd_hypopg_owner")
    assert install_hypopg(dsn) is False
    assert not hypopg_installed(dsn)


@pytest.mark.postgres
def test_hypopg_shows_a_cheaper_plan_without_building_anything(perf_db: PerfDatabase) -> None:
    """With HypoPG (installed by the superuser): the hypothetical index makes the plan far cheaper, nothing is built."""
    with perf_db.admin() as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS hypopg")
    try:
        check = check_index(perf_db.dsn, QUERY, INDEX, runs=1)
    finally:
        with perf_db.admin() as conn:
            conn.execute("DROP EXTENSION hypopg")
    assert check.method == "hypopg"
    assert not check.before.uses_index
    assert check.before.execution_ms is not None
    assert check.after.uses_index
    assert check.after.execution_ms is None
    assert check.cost_ratio < 0.05
    assert check.improves
    assert any(name.endswith("btree_orders_customer_email") for name in index_names(check.after.plan))
    assert orders_indexes(perf_db.dsn) == {"orders_pkey"}


@pytest.mark.postgres
def test_only_a_select_is_checked(perf_db: PerfDatabase) -> None:
    """Anything but one SELECT is refused before it reaches the database."""
    with pytest.raises(IndexCheckError, match="one SELECT"):
        check_index(perf_db.dsn, "DELETE FROM orders", INDEX)


@pytest.mark.postgres
def test_migration_follows_golang_migrate_and_applies(perf_db: PerfDatabase, tmp_path: Path) -> None:
    """Next to 000001/000002 up/down files the index becomes 000003 up and down files, and both really run."""
    migrations = tmp_path / "db" / "migrations"
    migrations.mkdir(parents=True)
    for stem in ("000001_create_orders", "000002_add_status"):
        (migrations / f"{stem}.up.sql").write_text("SELECT 1;\n")
        (migrations / f"{stem}.down.sql").write_text("SELECT 1;\n")
    path, text = migration_for(INDEX, tmp_path)
    assert path == Path("db/migrations/000003_add_idx_orders_customer_email.up.sql")
    assert "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_orders_customer_email ON orders (customer_email);" in text
    written = write_migration(INDEX, tmp_path)
    assert written == [path, Path("db/migrations/000003_add_idx_orders_customer_email.down.sql")]
    with psycopg.connect(perf_db.dsn, autocommit=True) as conn:
        conn.execute((tmp_path / written[0]).read_text())
        assert "idx_orders_customer_email" in index_names(explain_analyze(perf_db.dsn, QUERY))
        conn.execute((tmp_path / written[1]).read_text())
    assert orders_indexes(perf_db.dsn) == {"orders_pkey"}
    assert migration_for(INDEX, tmp_path)[0].name.startswith("000004_")


def test_goose_timestamps_continue_after_the_highest(tmp_path: Path) -> None:
    """goose files (timestamps, +goose annotations) get a new timestamp and NO TRANSACTION for CONCURRENTLY."""
    folder = tmp_path / "sql" / "schema"
    folder.mkdir(parents=True)
    (folder / "20240101120000_init.sql").write_text("-- +goose Up\nSELECT 1;\n-- +goose Down\nSELECT 1;\n")
    path, text = migration_for(INDEX, tmp_path, now=NOW)
    assert path == Path("sql/schema/20250304050607_add_idx_orders_customer_email.sql")
    assert text.startswith("-- +goose NO TRANSACTION\n")
    assert "-- +goose Up\nCREATE INDEX CONCURRENTLY" in text
    assert "-- +goose Down\nDROP INDEX CONCURRENTLY IF EXISTS idx_orders_customer_email;" in text
    (folder / "20990101000000_future.sql").write_text("-- +goose Up\nSELECT 1;\n")
    assert migration_for(INDEX, tmp_path, now=NOW)[0].name.startswith("20990101000001_")


def test_flyway_and_plain_numbering(tmp_path: Path) -> None:
    """Flyway's V<n>__name.sql and plain 001-name.sql keep their scheme, width and separator."""
    flyway = tmp_path / "flyway" / "src" / "main" / "resources" / "db" / "migration"
    flyway.mkdir(parents=True)
    (flyway / "V1__init.sql").write_text("SELECT 1;\n")
    (flyway / "V7__more.sql").write_text("SELECT 1;\n")
    # deeper than four levels is not searched: make a shallow Flyway layout instead
    shallow = tmp_path / "flyway_repo" / "db" / "migration"
    shallow.mkdir(parents=True)
    (shallow / "V1__init.sql").write_text("SELECT 1;\n")
    (shallow / "V7__more.sql").write_text("SELECT 1;\n")
    path, text = migration_for(INDEX, tmp_path / "flyway_repo")
    assert path == Path("db/migration/V8__add_idx_orders_customer_email.sql")
    assert "CONCURRENTLY" not in text
    plain = tmp_path / "plain" / "schema"
    plain.mkdir(parents=True)
    for name in ("001-init.sql", "002-users.sql", "010-orders.sql"):
        (plain / name).write_text("SELECT 1;\n")
    assert migration_for(INDEX, tmp_path / "plain")[0] == Path("schema/011-add_idx_orders_customer_email.sql")


def test_default_convention_without_migrations(tmp_path: Path) -> None:
    """A repository with no migrations gets migrations/0001_add_<index>.sql."""
    (tmp_path / "queries").mkdir()
    (tmp_path / "queries" / "report.sql").write_text("SELECT 1;\n")  # not numbered: not a migration
    assert detect_convention(tmp_path).directory == "migrations"
    path, text = migration_for(INDEX, tmp_path)
    assert path == Path("migrations/0001_add_idx_orders_customer_email.sql")
    assert text.rstrip().endswith("CREATE INDEX IF NOT EXISTS idx_orders_customer_email ON orders (customer_email);")
