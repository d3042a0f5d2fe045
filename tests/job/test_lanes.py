"""A lane's tools: roles that may not write run their commands in a read-only mount (real Docker)."""

from __future__ import annotations

import json

import pytest

from agentd.job.lanes import JobLanes

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
