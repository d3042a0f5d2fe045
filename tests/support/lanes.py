"""A job's lanes over agentd's clone of a sample repository, with real git and real Docker sandboxes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import docker

from agentd.job.lanes import JobLanes, LaneSettings
from agentd.kernel.events import TaskRequested
from agentd.kernel.policy import load_policy
from agentd.kernel.redact import Redactor
from agentd.repo.mirror import Mirror
from agentd.store.sqlite import SQLiteStore
from sandbox.config import SandboxConfig
from sandbox.docker import DockerSandboxFactory
from tests.conftest import git


@contextmanager
def job_lanes(
    repo: Path, state: Path, docker_client: docker.DockerClient, request_id: str = "r1"
) -> Iterator[JobLanes]:
    """The lanes of one task's job over `repo` (state under `state`); every container and worktree removed after."""
    mirror = Mirror(repo, state / "repo.git")
    mirror.ensure()
    mirror.fetch()
    store = SQLiteStore(str(state / "agentd.db"))
    event = TaskRequested(repo=str(repo), description="notes", base_ref="main", request_id=request_id)
    task_id, _ = store.enqueue(event, "notes", None)
    settings = LaneSettings(
        task_id=task_id,
        base=git(repo, "rev-parse", "main"),
        root=state / "worktrees",
        test_command=["go", "test", "./..."],
        test_timeout_s=120,
        command_timeout_s=60,
        mirror=mirror,
        sandboxes=DockerSandboxFactory(SandboxConfig(), state / "run", docker_client),
        store=store,
        policy=load_policy(),
        redactor=Redactor(),
        query=None,
        session_id=store.start_session(task_id, "vote", "broadcast"),
        cancel=threading.Event(),
    )
    made = JobLanes(settings)
    try:
        yield made
    finally:
        made.close()
        store.close()
