"""A job's lanes (real git, real Docker): read-only roles, lanes prepared side by side, one test run per tree."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import docker
import pytest

from agentd.job.lanes import JobLanes
from agentd.kernel import trace
from agentd.kernel.errors import JobCancelled

pytestmark = pytest.mark.docker

WRITER = (
    'package cart\n\nimport (\n\t"os"\n\t"testing"\n)\n\n'
    "func TestWritesIntoTheWorkspace(t *testing.T) {\n"
    '\tif err := os.WriteFile("planted.txt", []byte("x"), 0o644); err != nil {\n\t\tt.Fatal(err)\n\t}\n}\n'
)


def run_tests_as(lanes: JobLanes, role: str) -> dict[str, object]:
    """`go test ./cart/` as `role` through the lane's toolbox: an allowed command whose test writes a file."""
    lane = lanes.lane("proposer-1")
    result = lane.tools.call(role, "execute_command", json.dumps({"command": ["go", "test", "./cart/"]}))
    return {"ok": result.ok, **result.output}


def test_a_read_only_role_cannot_change_the_lane_whatever_command_it_runs(lanes: JobLanes) -> None:
    """The critic's allowed `go test` runs in a read-only mount: what its code writes never lands in the lane."""
    lane = lanes.lane("proposer-1")
    create = {"action": "create", "file_path": "cart/writer_test.go", "content": WRITER}
    assert lane.tools.call("proposer", "code", json.dumps(create)).ok
    planted = lane.worktree / "cart" / "planted.txt"
    critic = run_tests_as(lanes, "critic")
    assert not planted.exists()
    assert critic["exit_code"] != 0
    assert "read-only file system" in str(critic["stdout"]).lower()
    proposer = run_tests_as(lanes, "proposer")
    assert proposer["exit_code"] == 0, proposer
    assert planted.exists()


def test_the_read_only_sandbox_starts_only_when_a_read_only_role_runs_a_command(lanes: JobLanes) -> None:
    """A lane whose read-only roles only read files never starts the second container."""
    lane = lanes.lane("proposer-1")
    lane.tools.call("critic", "code", json.dumps({"action": "read", "file_path": "go.mod"}))
    started = [s for s in lanes.sandboxes if getattr(s, "_sandbox", "n/a") is not None]
    assert len(started) == 1  # only the lane's own sandbox


class SpanList:
    """A span sink keeping every finished span of the traced job, in order."""

    def __init__(self) -> None:
        """Nothing recorded yet."""
        self.spans: list[dict[str, Any]] = []

    def add_span(self, task_id: int, span: Mapping[str, Any]) -> None:
        """Keep one finished span."""
        self.spans.append({**span, "attributes": json.loads(span["attributes"])})

    def named(self, name: str) -> list[dict[str, Any]]:
        """The spans called `name`."""
        return [span for span in self.spans if span["name"] == name]


def test_lanes_prepared_ahead_start_side_by_side_and_are_handed_out_by_name(lanes: JobLanes) -> None:
    """prepare() returns at once; the three proposer lanes' sandboxes start at the same time; lane() gives them."""
    names = ["proposer-1", "proposer-2", "proposer-3"]
    sink = SpanList()
    with trace.job_trace(sink, lanes.config.task_id):
        started = time.monotonic()
        lanes.prepare(names)
        assert time.monotonic() - started < 0.5
        made = [lanes.lane(name) for name in names]
    assert [lane.name for lane in made] == names
    assert len({lane.worktree for lane in made}) == 3
    assert all(lane.sandbox.run(["true"]).ok for lane in made)
    starts = sorted((s["started_at"], s["started_at"] + s["duration_ms"] / 1000) for s in sink.named("sandbox start"))
    assert len(starts) == 3
    assert any(later[0] < earlier[1] for earlier, later in itertools.pairwise(starts))  # they overlapped


def test_closing_while_lanes_are_being_made_leaves_no_container_and_no_worktree(
    lanes: JobLanes, docker_client: docker.DockerClient
) -> None:
    """A job that ends while its lanes are still starting removes every container and worktree they made."""
    lanes.prepare(["proposer-1", "proposer-2", "proposer-3"])
    lanes.close()
    run_dir = lanes.config.root.parent / "run"  # the lanes fixture's sandboxes keep their run dirs here
    labelled = docker_client.containers.list(all=True, filters={"label": "agentd.managed=1"}, ignore_removed=True)
    assert [c.name for c in labelled if Path(c.labels.get("agentd.run_dir", "/")).parent == run_dir] == []
    assert list(lanes.config.root.glob(f"task-{lanes.config.task_id}-*")) == []
    with pytest.raises(JobCancelled):
        lanes.lane("proposer-1")


def test_an_identical_tree_is_tested_once_and_a_different_one_again(lanes: JobLanes) -> None:
    """Two lanes holding the same change share agentd's one test run (recorded for each); a third change is run."""
    sink = SpanList()
    with trace.job_trace(sink, lanes.config.task_id):
        first, second, third = (lanes.lane(name) for name in ("proposer-1", "proposer-2", "proposer-3"))
        for lane, text in ((first, "same\n"), (second, "same\n"), (third, "other\n")):
            (lane.worktree / "NOTES.md").write_text(text)
            assert lane.test().ok
    runs = [s["attributes"]["agentd.lane"] for s in sink.named("test run")]
    reused = [(s["attributes"]["agentd.lane"], s["attributes"]["agentd.from"]) for s in sink.named("test run reused")]
    assert runs == ["proposer-1", "proposer-3"]
    assert reused == [("proposer-2", "proposer-1")]
    assert first.tested_tree == second.tested_tree != third.tested_tree
    versions = lanes.config.store.task_record(lanes.config.task_id).versions
    recorded = {v.kind: v for v in versions}
    assert recorded["candidate:proposer-2"].tests_passed
    assert "the same tree as proposer-1's" in recorded["candidate:proposer-2"].test_output
