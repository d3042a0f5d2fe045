"""The slow query end to end: plan evidence for the team, an index migration kept only when measured."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest

from agentd.app import App
from agentd.config import load_config
from agentd.kernel.events import TaskRequested
from agentd.models import scripted_server
from agentd.store.base import Task
from tests.conftest import git

pytestmark = [pytest.mark.docker, pytest.mark.postgres]
QUERY_GO = """package orders

import "database/sql"

// Recent lists the orders of one customer.
func Recent(db *sql.DB) (*sql.Rows, error) {
\treturn db.Query("SELECT id, total FROM orders WHERE customer_email = 'c4242@example.com'")
}
"""


@pytest.fixture(scope="module")
def orders_dsn(postgres_dsn: str) -> str:
    """An orders table of 300,000 rows with no index on customer_email."""
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS orders")
        conn.execute("CREATE TABLE orders (id bigint PRIMARY KEY, customer_email text NOT NULL, total int NOT NULL)")
        conn.execute(
            "INSERT INTO orders SELECT g, 'c' || (g % 50000) || '@example.com', g % 1000 "
            "FROM generate_series(1, 300000) AS g"
        )
        conn.execute("ANALYZE orders")
    return postgres_dsn


def script(migration: str, path: str) -> dict[str, Any]:
    """A proposer that writes the migration agentd's evidence suggested; a judge that accepts it."""
    return {
        "proposer": [
            {
                "tool_calls": [
                    {"name": "code", "arguments": {"action": "create", "file_path": path, "content": migration}}
                ]
            },
            {
                "tool_calls": [
                    {
                        "name": "submit_patch",
                        "arguments": {
                            "summary": "Index orders.customer_email\n\nThe plan showed a slow scan behind a filter.",
                            "confidence": 0.8,
                        },
                    }
                ]
            },
        ],
        "judge@vote": [
            {
                "tool_calls": [
                    {
                        "name": "cast_vote",
                        "arguments": {
                            "decision": "accept",
                            "confidence": 0.9,
                            "candidate": "proposer-1",
                            "rationale": "the plan evidence",
                        },
                    }
                ]
            }
        ],
    }


def run(tmp_path: Path, sample_repo: Path, dsn: str, migration: str, monkeypatch: pytest.MonkeyPatch) -> Task:
    """Add the Go query to the sample repo and ask agentd to make the slow query faster."""
    (sample_repo / "orders").mkdir()
    (sample_repo / "orders" / "orders.go").write_text(QUERY_GO)
    git(sample_repo, "add", "-A")
    git(sample_repo, "commit", "-qm", "orders: recent orders")
    monkeypatch.setenv("AGENTD_TEST_APP_DSN", dsn)
    (tmp_path / "script.json").write_text(json.dumps(script(migration, "migrations/0001_add_orders_email.sql")))
    path = tmp_path / "agentd.toml"
    path.write_text(
        f'[daemon]\nstate_dir = "{tmp_path / "state"}"\n[repository]\npath = "{sample_repo}"\n'
        f'[models.default]\nprovider = "scripted"\nmodel = "m"\nscript = "{tmp_path / "script.json"}"\n'
        '[prices.m]\n[debate]\nprotocol = "vote"\nproposers = 1\nvoters = ["judge"]\nconsensus = "majority"\n'
        '[target_database]\ndsn_env = "AGENTD_TEST_APP_DSN"\n'
    )
    daemon = App(load_config(path))
    event = TaskRequested(
        repo=str(sample_repo),
        description="make the slow query in orders.Recent faster",
        base_ref="main",
        kind="optimize",
        request_id="sql",
    )
    task_id, _ = daemon.store.enqueue(event, event.description, None)
    while not (task := daemon.store.get_task(task_id)).done:  # type: ignore[union-attr]
        assert daemon.work_once()
    return task


def test_slow_query_ends_with_a_measured_index_migration(
    tmp_path: Path, sample_repo: Path, orders_dsn: str, sandbox_image: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The team sees the seq scan; the migration adding the index is committed with agentd's before/after figures."""
    migration = "CREATE INDEX IF NOT EXISTS idx_orders_customer_email ON orders (customer_email);\n"
    task = run(tmp_path, sample_repo, orders_dsn, migration, monkeypatch)
    assert task.status == "fixed", task.summary
    message = git(sample_repo, "log", "-1", "--format=%B", task.branch or "")
    trailer = next(line for line in message.splitlines() if line.startswith("Agentd-Benchmark: "))
    assert "idx_orders_customer_email" in trailer
    assert "plan cost" in trailer
    assert git(sample_repo, "show", f"{task.branch}:migrations/0001_add_orders_email.sql") == migration.strip()
    with psycopg.connect(orders_dsn) as conn:  # agentd never changed the user's database
        indexes = conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'orders'").fetchall()
    assert indexes == [("orders_pkey",)]
    server = scripted_server(str(tmp_path / "script.json"))
    briefs = [json.dumps(r.body) for r in server.requests if "Role: proposer" in json.dumps(r.body)]
    assert any("agentd's SQL evidence" in b and "Seq Scan" in b and "idx_orders_customer_email" in b for b in briefs)


def test_an_index_that_does_not_help_is_rejected_with_numbers(
    tmp_path: Path, sample_repo: Path, orders_dsn: str, sandbox_image: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An index on a column the query does not filter is measured, found useless, and not committed."""
    migration = "CREATE INDEX IF NOT EXISTS idx_orders_total ON orders (total);\n"
    task = run(tmp_path, sample_repo, orders_dsn, migration, monkeypatch)
    assert task.status == "no_fix"
    assert task.branch is None
    assert "idx_orders_total" in task.summary
    assert "plan cost" in task.summary
