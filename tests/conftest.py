"""Shared fixtures: real git repositories, Docker, PostgreSQL, and the rule that CI never skips what it needs."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from agentd.demo import make_sample_repo
from agentd.kernel.errors import SandboxError
from sandbox.build import build_image
from sandbox.config import SandboxConfig
from sandbox.docker import connect_docker
from tests.support.postgres import throwaway_cluster

IN_CI = bool(os.environ.get("CI"))


def need(condition: bool, reason: str) -> None:
    """Skip when a prerequisite is missing on a developer's machine; fail in CI, where it must be there."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI requires it: {reason}")
    pytest.skip(reason)


def git(repo: Path, *args: str) -> str:
    """Run git in a test repository as a user would."""
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Test",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "Test",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    done = subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.fixture
def sample_repo(tmp_path: Path) -> Path:
    """A real git repository holding the demo's Go module, one commit on main."""
    repo = tmp_path / "shop"
    make_sample_repo(repo)
    return repo


@pytest.fixture(scope="session")
def docker_client() -> docker.DockerClient:
    """The local Docker engine; without one the test skips, or fails when CI is set."""
    try:
        return connect_docker()
    except SandboxError as exc:
        need(False, f"Docker is not available: {exc}")
        raise


@pytest.fixture(scope="session")
def sandbox_image(docker_client: docker.DockerClient) -> str:
    """The sandbox image, built (offline when no registry answers) unless already current."""
    return build_image(docker_client, SandboxConfig().image)


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """A DSN for a fresh PostgreSQL database (non-superuser owner, password auth), destroyed after the session."""
    with throwaway_cluster() as dsn:
        yield dsn


@pytest.fixture
def postgres_schema_dsn(postgres_dsn: str) -> Iterator[str]:
    """A DSN whose search_path is a fresh, empty schema of the test database, dropped after the test."""
    schema = f"agentd_store_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    yield make_conninfo(postgres_dsn, options=f"-c search_path={schema}")
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
