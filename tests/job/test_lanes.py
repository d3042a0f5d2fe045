"""A lane's tools: roles that may not write run their commands in a read-only mount (real Docker)."""

from __future__ import annotations

import json

import pytest

from agentd.job.lanes import JobLanes

pytestmark = pytest.mark.docker

UGLY = "package cart\nfunc   Ugly( )   int { return 1 }\n"


def gofmt_write(lanes: JobLanes, role: str) -> dict[str, object]:
    """`gofmt -w cart/ugly.go` as `role` through the lane's toolbox."""
    lane = lanes.lane("proposer-1")
    result = lane.tools.call(role, "execute_command", json.dumps({"command": ["gofmt", "-w", "cart/ugly.go"]}))
    return {"ok": result.ok, **result.output}


def test_a_read_only_role_cannot_change_the_lane_even_with_an_allowed_writer(lanes: JobLanes) -> None:
    """The critic's `gofmt -w` runs in a read-only mount: the file stays as it was; the proposer's rewrites it."""
    lane = lanes.lane("proposer-1")
    ugly = lane.worktree / "cart" / "ugly.go"
    create = {"action": "create", "file_path": "cart/ugly.go", "content": UGLY}
    made = lane.tools.call("proposer", "code", json.dumps(create))
    assert made.ok
    critic = gofmt_write(lanes, "critic")
    assert ugly.read_text() == UGLY
    assert critic["exit_code"] != 0
    assert "read-only file system" in str(critic["stderr"]).lower()
    proposer = gofmt_write(lanes, "proposer")
    assert proposer["exit_code"] == 0, proposer
    assert ugly.read_text() != UGLY


def test_the_read_only_sandbox_starts_only_when_a_read_only_role_runs_a_command(lanes: JobLanes) -> None:
    """A lane whose read-only roles only read files never starts the second container."""
    lane = lanes.lane("proposer-1")
    lane.tools.call("critic", "code", json.dumps({"action": "read", "file_path": "go.mod"}))
    started = [s for s in lanes.sandboxes if getattr(s, "_sandbox", "n/a") is not None]
    assert len(started) == 1  # only the lane's own sandbox
