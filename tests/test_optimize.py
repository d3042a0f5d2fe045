"""The optimization gate end to end: agentd keeps a speed-up only when its own benchmark shows it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import pytest

from agentd.app import App
from agentd.config import load_config
from agentd.kernel.events import TaskRequested
from agentd.store.base import Task
from tests.conftest import git
from tests.perf.go_targets import HASHED, SLOWER, TEST, VERSIONS

pytestmark = pytest.mark.docker
BROKEN_FAST = HASHED.replace("\treturn out\n}", "\treturn out[:len(out)/2]\n}")


def script_for(new_source: str) -> dict[str, Any]:
    """A proposer that rewrites Dedupe, runs the tests and submits; a judge that accepts it."""
    return {
        "proposer": [
            {
                "tool_calls": [
                    {
                        "name": "code",
                        "arguments": {"action": "update", "file_path": "dedupe/dedupe.go", "content": new_source},
                    }
                ]
            },
            {
                "tool_calls": [
                    {
                        "name": "submit_patch",
                        "arguments": {
                            "summary": "Dedupe with a map of seen values\n\nThe nested loop made Dedupe quadratic.",
                            "confidence": 0.8,
                        },
                    }
                ]
            },
        ],
        "judge@vote": [
            {
                "tool_calls": [
                    {
                        "name": "cast_vote",
                        "arguments": {
                            "decision": "accept",
                            "confidence": 0.9,
                            "candidate": "proposer-1",
                            "rationale": "tests pass",
                        },
                    }
                ]
            }
        ],
    }


def optimize(
    tmp_path: Path,
    sample_repo: Path,
    new_source: str,
    description: str = "make the slow path faster: Dedupe is quadratic",
    kind: Literal["fix", "optimize"] = "optimize",
) -> Task:
    """Add the quadratic Dedupe to the sample repo and ask agentd to make it faster."""
    (sample_repo / "dedupe").mkdir()
    (sample_repo / "dedupe" / "dedupe.go").write_text(VERSIONS["quadratic"])
    (sample_repo / "dedupe" / "dedupe_test.go").write_text(TEST)
    git(sample_repo, "add", "-A")
    git(sample_repo, "commit", "-qm", "dedupe: first version")
    (tmp_path / "script.json").write_text(json.dumps(script_for(new_source)))
    path = tmp_path / "agentd.toml"
    path.write_text(
        f'[daemon]\nstate_dir = "{tmp_path / "state"}"\n[repository]\npath = "{sample_repo}"\n'
        f'[models.default]\nprovider = "scripted"\nmodel = "m"\nscript = "{tmp_path / "script.json"}"\n'
        '[prices.m]\n[debate]\nprotocol = "vote"\nproposers = 1\nvoters = ["judge"]\nconsensus = "majority"\n'
        "[optimizer]\nbench_count = 8\nalpha = 0.01\n"
    )
    config = load_config(path)
    daemon = App(config)
    event = TaskRequested(
        repo=str(sample_repo),
        description=description,
        base_ref="main",
        kind=kind,
        request_id="opt",
    )
    task_id, _ = daemon.store.enqueue(event, event.description, None)
    while not (task := daemon.store.get_task(task_id)).done:  # type: ignore[union-attr]
        assert daemon.work_once()
    return task


def test_a_real_speedup_is_committed_with_the_measured_gain(
    tmp_path: Path, sample_repo: Path, sandbox_image: str
) -> None:
    """A map-based Dedupe is measured faster by agentd itself and committed with an Agentd-Benchmark trailer."""
    task = optimize(tmp_path, sample_repo, HASHED)
    assert task.status == "fixed", task.summary
    message = git(sample_repo, "log", "-1", "--format=%B", task.branch or "")
    trailer = next(line for line in message.splitlines() if line.startswith("Agentd-Benchmark: "))
    assert "BenchmarkDedupe" in trailer
    assert "faster by" in trailer
    assert "p=" in trailer


def test_a_change_that_is_not_faster_is_rejected_with_numbers(
    tmp_path: Path, sample_repo: Path, sandbox_image: str
) -> None:
    """A slower "optimization" passes the tests but is not committed; the reason carries the measurement."""
    task = optimize(tmp_path, sample_repo, SLOWER)
    assert task.status == "no_fix"
    assert task.branch is None
    assert "no significant gain" in task.summary
    assert "BenchmarkDedupe" in task.summary
    assert "slower by" in task.summary or "no significant change" in task.summary


def test_a_request_for_speed_without_the_optimize_kind_gets_the_speed_gate(
    tmp_path: Path, sample_repo: Path, sandbox_image: str
) -> None:
    """`agentd task "Make Dedup faster; keep its behaviour."` (no --kind) refuses a slower change and says why.

    Before the purpose was read from the words this was a fix task, and the slower change was committed.
    """
    task = optimize(tmp_path, sample_repo, SLOWER, "Make Dedup faster; keep its behaviour.", kind="fix")
    assert task.status == "no_fix", task.summary
    assert task.branch is None
    assert "no significant gain" in task.summary
    assert "Kind: optimize (chosen by agentd; asked fix: the description asks for speed" in task.summary


def test_a_faster_change_that_breaks_a_test_is_rejected(tmp_path: Path, sample_repo: Path, sandbox_image: str) -> None:
    """A fast Dedupe that drops values fails agentd's test run and is never benchmarked or committed."""
    task = optimize(tmp_path, sample_repo, BROKEN_FAST)
    assert task.status in {"no_fix", "no_consensus"}
    assert task.branch is None
    assert git(sample_repo, "branch", "--list", "agentd/*") == ""
