"""Fixtures for the performance tests: real sandboxes over real Go modules, a real PostgreSQL.

The sandboxes and the cluster are session-scoped: building a million-row table and compiling Go
in fresh containers once, not per test, keeps tests/perf within its two-minute budget.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from sandbox.config import SandboxConfig
from sandbox.docker import DockerSandbox, DockerSandboxFactory
from tests.perf.go_targets import write_module
from tests.support.postgres import find_pg_bin, superuser_dsn, throwaway_cluster

DATA = Path(__file__).parent / "data"
ORDERS_ROWS = 1_000_000
CREATE_ORDERS = (
    "CREATE TABLE orders (id bigint PRIMARY KEY, customer_id int NOT NULL, customer_email text NOT NULL, "
    "status text NOT NULL, total_cents int NOT NULL)"
)
FILL_ORDERS = (
    "INSERT INTO orders SELECT g, g % 50000, 'customer' || (g % 50000) || '@example.com', "
    f"(ARRAY['new','paid','shipped','done'])[1 + g % 4], (g * 37) % 100000 FROM generate_series(1, {ORDERS_ROWS}) g"
)


def load_plan(name: str) -> Any:
    """A real EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) output captured from PostgreSQL 15 (see data/README.md)."""
    return json.loads((DATA / name).read_text())


def load_text(name: str) -> str:
    """A real `go test` or `go tool pprof` output captured in the sandbox (see data/README.md)."""
    return (DATA / name).read_text()


@pytest.fixture(scope="session")
def go_sandboxes(
    docker_client: docker.DockerClient, sandbox_image: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, DockerSandbox]]:
    """One open sandbox per version of the Go target, plus `copy`: a second, identical quadratic tree."""
    root = tmp_path_factory.mktemp("perf-go")
    factory = DockerSandboxFactory(SandboxConfig(), root / "run", docker_client)
    trees = {"quadratic": "quadratic", "copy": "quadratic", "hashed": "hashed", "slower": "slower"}
    opened: dict[str, DockerSandbox] = {}
    try:
        for name, version in trees.items():
            opened[name] = factory.open(write_module(root / name, version), f"perf-{name}")
        yield opened
    finally:
        for sandbox in opened.values():
            sandbox.close()


@dataclass(frozen=True)
class PerfDatabase:
    """A throwaway cluster: the owner role's DSN, the superuser's (over the Unix socket), the data directory."""

    dsn: str
    admin_dsn: str
    data_dir: Path

    def admin(self, dbname: str = "agentd_test") -> psycopg.Connection[Any]:
        """An autocommit superuser connection to one database of the cluster."""
        return psycopg.connect(make_conninfo(self.admin_dsn, dbname=dbname), autocommit=True)

    def create_database(self, name: str) -> str:
        """A new empty database owned by the test role; returns its DSN."""
        owner = str(conninfo_to_dict(self.dsn)["user"])
        with self.admin("postgres") as conn:
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(owner)))
        return make_conninfo(self.dsn, dbname=name)


def _restart_with(data_dir: Path, setting: str) -> None:
    """ALTER SYSTEM wrote `setting`; restart the cluster (as `postgres` when root) so it takes effect."""
    bin_dir = find_pg_bin()
    assert bin_dir is not None
    log = data_dir.parent / "server.log"  # pg_ctl hands its stdout to the server unless given a log file
    argv = [str(bin_dir / "pg_ctl"), "restart", "-w", "-t", "60", "-m", "fast", "-D", str(data_dir), "-l", str(log)]
    if os.geteuid() == 0:
        argv = ["runuser", "-u", "postgres", "--", *argv]
    done = subprocess.run(argv, cwd=data_dir.parent, capture_output=True, text=True, timeout=90, check=False)
    if done.returncode != 0:
        pytest.fail(f"restart for {setting} failed: {done.stdout}\n{done.stderr}")


@pytest.fixture(scope="session")
def perf_db() -> Iterator[PerfDatabase]:
    """A cluster with pg_stat_statements preloaded and a million-row `orders` table with no index but its key."""
    with throwaway_cluster() as dsn:
        admin_dsn = superuser_dsn(dsn)
        database = PerfDatabase(dsn, admin_dsn, Path(str(conninfo_to_dict(admin_dsn)["host"])) / "data")
        with database.admin() as conn:
            conn.execute("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
        _restart_with(database.data_dir, "shared_preload_libraries")
        with database.admin() as conn:
            conn.execute("CREATE EXTENSION pg_stat_statements")
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(CREATE_ORDERS)
            conn.execute(FILL_ORDERS)
            conn.execute("ANALYZE orders")
        yield database
