"""The gate publishes only the tree agentd tested: a lane changed after its test run is refused (real git, Docker)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import structlog

from agentd.job import gate
from agentd.job.context import JobContext
from agentd.job.lanes import JobLanes
from agentd.job.trust import Trust

pytestmark = pytest.mark.docker


def context_of(lanes: JobLanes) -> JobContext:
    """Just enough of a job's context for the gate's tree check."""
    deps = type("Deps", (), {"mirror": lanes.config.mirror})()
    trusted = Trust(True, "a person's task")
    return JobContext(deps, None, "", "agentd/task-1", threading.Event(), structlog.get_logger(), trusted)  # type: ignore[arg-type]


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
