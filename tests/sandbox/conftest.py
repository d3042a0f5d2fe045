"""Fixtures for the sandbox tests: a real Docker engine, the real image, real containers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from sandbox.config import SandboxConfig
from sandbox.docker import DockerSandbox, DockerSandboxFactory

GIT_POINTER = "gitdir: /srv/repo/.git/worktrees/job\n"


@pytest.fixture
def config() -> SandboxConfig:
    """The default sandbox configuration."""
    return SandboxConfig()


@pytest.fixture
def factory(
    docker_client: docker.DockerClient, sandbox_image: str, config: SandboxConfig, tmp_path: Path
) -> DockerSandboxFactory:
    """A factory with its run directory under the test's temporary directory."""
    return DockerSandboxFactory(config, tmp_path / "run", docker_client)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A workspace shaped like a git worktree: files plus a `.git` pointer file."""
    root = tmp_path / "worktree"
    root.mkdir()
    (root / ".git").write_text(GIT_POINTER)
    (root / "go.mod").write_text("module example.com/demo\n\ngo 1.19\n")
    return root


@pytest.fixture
def sandbox(factory: DockerSandboxFactory, workspace: Path) -> Iterator[DockerSandbox]:
    """An open sandbox over the workspace, closed after the test."""
    opened = factory.open(workspace, "test-job")
    try:
        yield opened
    finally:
        opened.close()
