"""Shared fixtures of the job tests: a job's lanes over real git and real Docker sandboxes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from agentd.job.lanes import JobLanes, LaneSettings
from agentd.kernel.events import TaskRequested
from agentd.kernel.policy import load_policy
from agentd.kernel.redact import Redactor
from agentd.repo.mirror import Mirror
from agentd.store.sqlite import SQLiteStore
from sandbox.config import SandboxConfig
from sandbox.docker import DockerSandboxFactory
from tests.conftest import git


@pytest.fixture
def lanes(
    sample_repo: Path, tmp_path: Path, docker_client: docker.DockerClient, sandbox_image: str
) -> Iterator[JobLanes]:
    """The lanes of one job over agentd's clone of the sample repository, with real sandboxes."""
    mirror = Mirror(sample_repo, tmp_path / "state" / "repo.git")
    mirror.ensure()
    mirror.fetch()
    store = SQLiteStore(str(tmp_path / "state" / "agentd.db"))
    event = TaskRequested(repo=str(sample_repo), description="notes", base_ref="main", request_id="r1")
    task_id, _ = store.enqueue(event, "notes", None)
    settings = LaneSettings(
        task_id=task_id,
        base=git(sample_repo, "rev-parse", "main"),
        root=tmp_path / "state" / "worktrees",
        test_command=["go", "test", "./..."],
        test_timeout_s=120,
        command_timeout_s=60,
        mirror=mirror,
        sandboxes=DockerSandboxFactory(SandboxConfig(), tmp_path / "state" / "run", docker_client),
        store=store,
        policy=load_policy(),
        redactor=Redactor(),
        query=None,
        session_id=store.start_session(task_id, "vote", "broadcast"),
        cancel=threading.Event(),
    )
    made = JobLanes(settings)
    yield made
    made.close()
    store.close()


