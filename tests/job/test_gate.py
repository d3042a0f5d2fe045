"""The gate publishes only the tree agentd tested: a lane changed after its test run is refused (real git, Docker)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
import structlog

from agentd.job import gate
from agentd.job.context import JobContext
from agentd.job.lanes import JobLanes, LaneSettings
from agentd.kernel.events import TaskRequested
from agentd.kernel.policy import load_policy
from agentd.kernel.redact import Redactor
from agentd.repo.mirror import Mirror
from agentd.store.sqlite import SQLiteStore
from sandbox.config import SandboxConfig
from sandbox.docker import DockerSandboxFactory
from tests.conftest import git

pytestmark = pytest.mark.docker


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
        session_id=0,
        cancel=threading.Event(),
    )
    made = JobLanes(settings)
    yield made
    made.close()
    store.close()


def context_of(lanes: JobLanes) -> JobContext:
    """Just enough of a job's context for the gate's tree check."""
    deps = type("Deps", (), {"mirror": lanes.config.mirror})()
    return JobContext(deps, None, "", "agentd/task-1", threading.Event(), structlog.get_logger())  # type: ignore[arg-type]


def test_the_tested_tree_passes_and_a_later_edit_is_refused(lanes: JobLanes, tmp_path: Path) -> None:
    """A commit of exactly the tested tree passes the tree check; one more edit after the test run is refused."""
    lane = lanes.lane("proposer-1")
    (lane.worktree / "NOTES.md").write_text("tested\n")
    assert lane.test().ok
    lanes.config.mirror.stage(lane.worktree)
    tested = lanes.config.mirror.commit(lane.worktree, "agentd: tested\n", tmp_path / "a.msg")
    assert gate.same_tree(context_of(lanes), lane, tested).passed
    (lane.worktree / "NOTES.md").write_text("written after the vote\n")
    lanes.config.mirror.stage(lane.worktree)
    edited = lanes.config.mirror.commit(lane.worktree, "agentd: edited\n", tmp_path / "b.msg")
    verdict = gate.same_tree(context_of(lanes), lane, edited)
    assert not verdict.passed
    assert "changed after agentd tested it" in verdict.reason


def test_a_test_run_that_changes_the_workspace_leaves_nothing_publishable(lanes: JobLanes) -> None:
    """When the test command itself writes into the workspace, the lane has no tested tree to publish."""
    lane = lanes.lane("proposer-1")
    (lane.worktree / "cart" / "write_test.go").write_text(
        'package cart\n\nimport (\n\t"os"\n\t"testing"\n)\n\n'
        'func TestWrites(t *testing.T) { _ = os.WriteFile("planted.txt", []byte("x"), 0o644) }\n'
    )
    lane.test()
    assert lane.tested_tree is None
