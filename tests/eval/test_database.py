"""SQL tasks: a fresh fixture database per test run, reached from a networkless sandbox through a read-only socket."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from agentd.eval.check import check_task, check_tasks
from agentd.eval.harness import FixtureDatabases, Harness
from agentd.eval.task import load_task, task_dirs
from tests.eval.conftest import write_task

pytestmark = [pytest.mark.docker, pytest.mark.postgres]

FIXTURE = "CREATE TABLE notes (id int PRIMARY KEY, body text NOT NULL);\nINSERT INTO notes VALUES (1, 'hello');\n"
SQL_TOML = (
    'kind = "sql"\ndescription = "notes"\ntest_command = ["go", "test", "./..."]\n'
    '[database]\nfixture = "fixture.sql"\ndsn_env = "NOTES_DSN"\n'
)
SUITE_SAMPLE = ["fix-nil-map-registry", "fix-concurrent-map-cache", "opt-primes-sieve", "sql-not-in-null"]


@pytest.fixture
def notes_task(tmp_path: Path) -> Path:
    """A sql task whose fixture holds one note."""
    task = write_task(tmp_path / "notes", toml=SQL_TOML)
    (task / "fixture.sql").write_text(FIXTURE)
    return task


def test_sandbox_reaches_only_its_own_database(notes_task: Path, harness: Harness, tmp_path: Path) -> None:
    """In the sandbox: no network, the DSN in the allowlisted variable reaches the fixture as a plain role, the
    socket directory is read-only, and the superuser needs a password the sandbox does not have."""
    task = load_task(notes_task)
    workspace = tmp_path / "ws"
    workspace.mkdir()
    with harness.sandbox(task, workspace, "probe") as sandbox:
        env = sandbox.run(["sh", "-c", 'echo "$NOTES_DSN"'])
        assert "host=/run/postgresql" in env.stdout.split() and "password=" in env.stdout
        read = sandbox.run(
            [
                "sh",
                "-c",
                'psql -X -A -t -d "$NOTES_DSN" -c "SELECT body, current_user, usesuper '
                'FROM notes, pg_user WHERE usename = current_user"',
            ]
        )
        assert read.ok, read.stderr
        body, role, superuser = read.stdout.strip().split("|")
        assert (body, superuser) == ("hello", "f") and role.startswith("eval_")
        admin = sandbox.run(
            ["psql", "-X", "-w", "-d", "host=/run/postgresql user=postgres dbname=postgres", "-c", "SELECT 1"]
        )
        assert not admin.ok and "no password supplied" in admin.stderr
        other = sandbox.run(["sh", "-c", 'psql -X -w -d "$NOTES_DSN dbname=postgres" -c "SELECT 1"'])
        assert not other.ok and "permission denied for database" in other.stderr
        assert not sandbox.run(["touch", "/run/postgresql/planted"]).ok
        routes = sandbox.run(["cat", "/proc/net/route"])
        assert routes.stdout.strip().count("\n") == 0  # only the header: no interface but loopback


def test_every_run_gets_a_fresh_database_dropped_afterwards(tmp_path: Path) -> None:
    """Two runs of one fixture see the fixture as written, never each other's changes; nothing is left after."""
    fixture = tmp_path / "fixture.sql"
    fixture.write_text(FIXTURE)
    databases = FixtureDatabases()
    try:
        seen = []
        for _ in range(2):
            with databases.fresh(fixture) as dsn:
                host = dsn.replace("host=/run/postgresql", f"host={databases.cluster().socket_dir}")
                with psycopg.connect(host, autocommit=True) as conn:
                    seen.append(conn.execute("SELECT count(*) FROM notes").fetchone())
                    conn.execute("INSERT INTO notes VALUES (2, 'written by a run')")
        assert seen == [(1,), (1,)]
        with databases.cluster().admin() as conn:
            left = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'eval_%'").fetchall()
            roles = conn.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE 'eval_%'").fetchall()
        assert left == [] and roles == []
    finally:
        databases.close()


def test_builtin_suite_sample_is_valid(harness: Harness, tmp_path: Path) -> None:
    """A sample of the shipped suite (two fix tasks, one optimize, one sql) passes eval check; the whole suite is
    the benchmark command in docs/benchmarks.md."""
    roots = task_dirs("builtin", SUITE_SAMPLE)
    verdicts = check_tasks(roots, harness, tmp_path / "scratch", jobs=2)
    assert {verdict.task: verdict.reasons for verdict in verdicts} == {name: [] for name in SUITE_SAMPLE}


def test_broken_fixture_is_a_reason_and_leaves_nothing(notes_task: Path, harness: Harness, tmp_path: Path) -> None:
    """A fixture with a SQL error makes the task invalid with psql's message; its database and role are gone."""
    (notes_task / "fixture.sql").write_text("CREATE TABLE notes (id int);\nINSERT INTO notes VALUES ('one');\n")
    verdict = check_task(notes_task, harness, tmp_path / "scratch")
    (reason,) = verdict.reasons
    assert reason.startswith("loading fixture.sql failed") and "invalid input syntax for type integer" in reason
    with harness.databases.cluster().admin() as conn:
        assert conn.execute("SELECT count(*) FROM pg_database WHERE datname LIKE 'eval_%'").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM pg_roles WHERE rolname LIKE 'eval_%'").fetchone() == (0,)
