"""Shared fixtures: real git repositories, and the rule that CI never skips what it needs."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import docker
import pytest

from agentd.config import SandboxConfig
from agentd.demo import make_sample_repo
from agentd.errors import SandboxError
from sandbox.build import build_image
from sandbox.docker import connect_docker

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
