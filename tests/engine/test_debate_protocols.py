"""Protocols end to end: real git, real Docker lanes, the scripted model over HTTP, a real store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from agentd.app import App
from agentd.config import load_config
from agentd.demo import BROKEN_CART_GO
from agentd.job.report import render_task
from agentd.kernel.events import TaskRequested
from agentd.models.scripted import Script, ScriptedModelServer
from agentd.store import open_store
from agentd.store.base import Task
from tests.conftest import git
from tests.support.daemons import write_config

pytestmark = pytest.mark.docker
DEMO = json.loads((Path(__file__).parents[2] / "agentd" / "models" / "scripts" / "demo.json").read_text())
BUGGY = "\t\t// quantities are applied at checkout\n\t\ttotal += it.Price\n"


def proposer(new_text: str, summary: str) -> list[dict[str, Any]]:
    """A proposer that replaces the bug with `new_text`, runs the tests and submits."""
    steps = json.loads(json.dumps(DEMO["proposer"]))
    steps[2]["tool_calls"][0]["arguments"]["new_text"] = new_text
    steps[4]["tool_calls"][0]["arguments"]["summary"] = summary
    return steps


def ballot(candidate: str, confidence: float = 0.9) -> list[dict[str, Any]]:
    """A voter's single step: accept `candidate`."""
    return [
        {
            "tool_calls": [
                {
                    "name": "cast_vote",
                    "arguments": {
                        "decision": "accept",
                        "confidence": confidence,
                        "candidate": candidate,
                        "rationale": f"{candidate} passes agentd's test run",
                    },
                }
            ]
        }
    ]


def setup(tmp_path: Path, sample_repo: Path, script: dict[str, Any], extra: str = "") -> Path:
    """Break the sample repo's Total on main and write a config with the given script."""
    (sample_repo / "cart" / "cart.go").write_text(BROKEN_CART_GO)
    git(sample_repo, "commit", "-qam", "cart: apply quantities at checkout")
    return write_config(tmp_path, f'path = "{sample_repo}"', script, extra)


def run_task(config_path: Path, description: str = "TestTotal fails; fix cart.Total") -> tuple[Task, dict[str, Any]]:
    """Queue a task and run the worker in this process until it is done; (task, record)."""
    config = load_config(config_path)
    daemon = App(config)
    daemon.recover()
    task_id, _ = daemon.store.enqueue(
        TaskRequested(repo=config.repository.source, description=description, base_ref="main", request_id=description),
        description,
        None,
    )
    while not (task := daemon.store.get_task(task_id)).done:  # type: ignore[union-attr]
        assert daemon.work_once(), "the queue ran dry before the task finished"
    return task, daemon.store.task_record(task_id)


def test_auto_with_agreeing_candidates_stays_a_vote(tmp_path: Path, sample_repo: Path, sandbox_image: str) -> None:
    """auto: three proposers make the same fix, the vote agrees, no debate follows; the record credits who answered.

    The critic's chain starts with a model that is down, so the default model answers for it: the
    turns, the trailer and the adaptive record name the default model, never the chain's head.
    """
    (tmp_path / "down.json").write_text(json.dumps({"*": [{"error": 503}] * 3 + [{"text": "too late"}]}))
    down = (
        f'[models.down]\nprovider = "scripted"\nmodel = "m"\nscript = "{tmp_path / "down.json"}"\nmax_retries = 0\n'
        '[roles]\ncritic = ["down", "default"]\n'
    )
    task, record = run_task(setup(tmp_path, sample_repo, DEMO, down))
    assert task.status == "fixed"
    verdict = record.sessions[0].verdict
    assert verdict["protocol"] == "vote"
    assert verdict["escalate"] is False
    assert len(verdict["groups"]) == 1
    turns = record.sessions[0].turns
    assert {t.role for t in turns} == {"proposer", "critic", "judge"}
    assert {t.model for t in turns} == {"default:m"}
    assert "critic=default:m" in verdict["models"]
    (stats,) = open_store(f"sqlite:///{tmp_path / 'state' / 'agentd.db'}").model_stats()
    assert (stats.kind, stats.model, stats.runs, stats.agreed, stats.green) == ("task", "default:m", 1, 1, 1)
    assert stats.latency_ms > 0  # the model's time across the task's turns, for adaptive choice


def test_auto_escalates_to_debate_when_passing_candidates_disagree(
    tmp_path: Path, sample_repo: Path, sandbox_image: str
) -> None:
    """auto: two different passing fixes disagree, so agentd escalates to a debate, which commits one."""
    loop = "\t\tfor q := 0; q < it.Qty; q++ {\n\t\t\ttotal += it.Price\n\t\t}\n"
    script = {**DEMO, "proposer-2": proposer(loop, "add the price once per unit")}
    task, record = run_task(setup(tmp_path, sample_repo, script))
    verdict = record.sessions[0].verdict
    assert verdict["escalated_from"]["protocol"] == "vote"
    assert len(verdict["escalated_from"]["groups"]) == 2
    assert verdict["protocol"] == "debate"
    roles = [t.role for t in record.sessions[0].turns]
    for role in ("critic", "optimizer", "tester", "judge"):
        assert role in roles
    assert task.status == "fixed"


def test_minority_that_passes_beats_majority_that_fails(tmp_path: Path, sample_repo: Path, sandbox_image: str) -> None:
    """vote: two proposers agree on a fix that fails the tests; the one passing patch wins anyway."""
    wrong = "\t\ttotal += it.Price + it.Qty\n"
    script = {
        **DEMO,
        "proposer-2": proposer(wrong, "add qty"),
        "proposer-3": proposer(wrong, "add qty"),
        "critic@vote": ballot("proposer-2"),
        "judge@vote": ballot("proposer-1"),
    }
    task, record = run_task(
        setup(tmp_path, sample_repo, script, '[debate]\nprotocol = "vote"\nconsensus = "majority"\n')
    )
    verdict = record.sessions[0].verdict
    assert verdict["decision"]["winner"] == "proposer-1"
    assert task.status == "fixed"
    assert "total += it.Price * it.Qty" in git(sample_repo, "show", f"{task.branch}:cart/cart.go")


def test_negotiation_shows_table_critiques_votes_and_decision(
    tmp_path: Path, sample_repo: Path, sandbox_image: str
) -> None:
    """negotiation: proposals table, critiques, both votes and the decision are recorded and shown."""

    def proposal(approach: str) -> list[dict[str, Any]]:
        return [
            {
                "tool_calls": [
                    {
                        "name": "submit_proposal",
                        "arguments": {
                            "approach": approach,
                            "changes": [{"file": "cart/cart.go", "change": "multiply by Qty"}],
                            "risks": ["none"],
                            "estimate_minutes": 5,
                        },
                    }
                ]
            }
        ]

    def critique(supports: list[str]) -> list[dict[str, Any]]:
        return [
            {
                "tool_calls": [
                    {
                        "name": "submit_critique",
                        "arguments": {
                            "supports": supports,
                            "objections": [
                                {"participant": "optimizer", "reason": "rewrites too much", "severity": "major"}
                            ],
                        },
                    }
                ]
            }
        ]

    script = {
        **DEMO,
        "proposer@propose": proposal("Restore price times quantity in Total"),
        "critic@propose": proposal("Restore the multiplication; keep the loop"),
        "optimizer@propose": proposal("Rewrite Total with a precomputed table"),
        "proposer@critique": critique(["critic"]),
        "critic@critique": critique(["proposer"]),
        "optimizer@critique": critique([]),
        "proposer@vote": ballot("proposer"),
        "critic@vote": ballot("proposer"),
        "optimizer@vote": ballot("proposer"),
    }
    task, record = run_task(setup(tmp_path, sample_repo, script, '[debate]\nprotocol = "negotiation"\n'))
    assert task.status == "fixed"
    shown = render_task(task, record)
    for fragment in (
        "proposals:",
        "Restore price times quantity",
        "critique critic: supports ['proposer']",
        "first vote (support)",
        "second vote: ",
        "proposer->proposer",
        "decision: winner proposer",
    ):
        assert fragment in shown, shown


def test_budget_stop_ends_cleanly_with_a_report(tmp_path: Path, sample_repo: Path, sandbox_image: str) -> None:
    """A task out of budget stops before the next model call, commits nothing, and leaves its report."""
    path = setup(tmp_path, sample_repo, DEMO, "[budget]\nmax_usd_per_task = 0.001\n")
    path.write_text(path.read_text().replace("input_usd_per_mtok = 0.0", "input_usd_per_mtok = 1000.0"))
    task, _ = run_task(path)
    assert task.status == "no_fix"
    assert "budget" in task.summary.lower()
    assert task.branch is None
    assert git(sample_repo, "branch", "--list", "agentd/*") == ""
    assert "Stopped" in (tmp_path / "state" / "reports" / f"task-{task.id}.md").read_text()


def test_resume_after_sigkill_replays_completed_turns(tmp_path: Path, sample_repo: Path, sandbox_image: str) -> None:
    """Killed mid-vote, the restarted daemon resumes from the last completed turn: no proposer is asked again."""
    slow = {**DEMO, "critic@vote": [{"delay_s": 120, **ballot("proposer-1")[0]}]}
    with ScriptedModelServer(Script(slow)) as server:
        path = setup(tmp_path, sample_repo, {})
        path.write_text(
            path.read_text().replace(
                f'provider = "scripted"\nmodel = "m"\nscript = "{tmp_path / "script.json"}"',
                f'provider = "openai"\nmodel = "m"\nbase_url = "{server.openai_base_url}"',
            )
        )
        env = {**os.environ, "AGENTD_CONFIG": str(path)}
        queued = subprocess.run(
            [sys.executable, "-m", "agentd", "task", "fix TestTotal"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        assert "task 1 queued" in queued.stdout
        first = subprocess.Popen(
            [sys.executable, "-m", "agentd", "run"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline and not any("Phase: vote" in str(r.body) for r in server.requests):
                time.sleep(0.2)
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
        finally:
            if first.poll() is None:
                first.kill()
        proposer_calls = sum("Role: proposer" in str(r.body) for r in server.requests)
        assert proposer_calls == 15  # three proposers, five steps each
        server.script = Script(DEMO)  # the critic answers at once this time
        second = subprocess.Popen(
            [sys.executable, "-m", "agentd", "run"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        store = open_store(f"sqlite:///{tmp_path / 'state' / 'agentd.db'}")
        try:
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline and not store.get_task(1).done:  # type: ignore[union-attr]
                time.sleep(0.5)
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(timeout=30)
        task = store.get_task(1)
        assert task is not None and task.status == "fixed"
        assert sum("Role: proposer" in str(r.body) for r in server.requests) == proposer_calls
        turns = store.task_record(1).sessions[0].turns
        assert sorted(t.agent for t in turns if t.role == "proposer") == [
            "proposer-1",
            "proposer-2",
            "proposer-3",
        ]


def test_a_failing_job_is_retried_with_backoff_then_dead_lettered(
    tmp_path: Path, sample_repo: Path, sandbox_image: str
) -> None:
    """A job that fails every time is retried after a backoff, then dead-lettered with the reason."""
    path = setup(tmp_path, sample_repo, DEMO)
    path.write_text(path.read_text().replace("lease_s = 6\n", "lease_s = 6\nmax_attempts = 2\nretry_backoff_s = 0.2\n"))
    config = load_config(path)
    daemon = App(config)
    event = TaskRequested(
        repo=config.repository.source, description="fix it", base_ref="no-such-branch", request_id="dead"
    )
    task_id, _ = daemon.store.enqueue(event, "fix it", None)
    assert daemon.work_once()
    assert daemon.store.get_task(task_id).status == "queued"  # type: ignore[union-attr]
    assert not daemon.work_once()  # still backing off
    time.sleep(0.25)
    assert daemon.work_once()
    task = daemon.store.get_task(task_id)
    assert task is not None and task.status == "failed"
    assert "Gave up after 2 attempt(s)" in task.summary
    assert "no-such-branch" in task.summary
    assert daemon.store.counts() == {"dead": 1}
    assert (tmp_path / "state" / "reports" / f"task-{task_id}.md").exists()
