"""A throwaway PostgreSQL cluster for tests (agentd.pgcluster), with the test database and role made in it.

The cluster's superuser (`postgres`) is reachable only over the Unix socket in the cluster's temp
dir; the DSN handed to tests is for `agentd_test`, a password-authenticated non-superuser role
that owns the `agentd_test` database (so tests can create tables in it) and may create roles (so
the role from docs/sql-role.md can be tried).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from agentd import pgcluster
from agentd.pgcluster import ClusterUnavailable, find_pg_bin

__all__ = ["TEST_DATABASE", "TEST_ROLE", "find_pg_bin", "superuser_dsn", "throwaway_cluster"]

TEST_ROLE = "agentd_test"
TEST_DATABASE = "agentd_test"


def _unavailable(reason: str) -> NoReturn:
    """Skip the test locally; fail loudly in CI, where PostgreSQL tests must never be skipped."""
    if os.environ.get("CI"):
        raise RuntimeError(f"PostgreSQL tests cannot run in CI: {reason}")
    pytest.skip(reason)


def superuser_dsn(dsn: str, dbname: str = TEST_DATABASE) -> str:
    """The superuser's DSN (over the Unix socket) of the throwaway cluster that `dsn` (from throwaway_cluster) is on."""
    port = conninfo_to_dict(dsn)["port"]
    found = sorted(Path(tempfile.gettempdir()).glob(f"agentd-pg-*/.s.PGSQL.{port}"))
    if len(found) != 1:
        raise RuntimeError(f"cannot find the Unix socket of the test cluster on port {port}: {found}")
    return make_conninfo(host=str(found[0].parent), port=port, user="postgres", dbname=dbname)


@contextmanager
def throwaway_cluster() -> Iterator[str]:
    """Start a fresh PostgreSQL cluster and yield a DSN (non-superuser, password, TCP); destroy it at exit."""
    with restartable_cluster() as (dsn, _cluster):
        yield dsn


@contextmanager
def restartable_cluster() -> Iterator[tuple[str, pgcluster.Cluster]]:
    """A fresh PostgreSQL cluster: its DSN (non-superuser, password, TCP) and a handle to stop and start it."""
    with contextlib.ExitStack() as stack:
        try:
            cluster = stack.enter_context(pgcluster.throwaway_cluster(tcp=True))
        except ClusterUnavailable as exc:
            _unavailable(str(exc))
        password = secrets.token_hex(16)
        cluster.create_owned_database(TEST_DATABASE, TEST_ROLE, password, createrole=True, private=False)
        yield f"host=127.0.0.1 port={cluster.port} dbname={TEST_DATABASE} user={TEST_ROLE} password={password}", cluster
