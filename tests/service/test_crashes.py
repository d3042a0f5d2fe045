"""SIGKILL at named phases (the AGENTD_TEST_CRASH_AT hook), takeover by a second daemon, resume of every protocol."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import docker
import psycopg
import pytest

from agentd.kernel.crashpoints import ENV as CRASH_AT
from agentd.models.scripted import Script, ScriptedModelServer
from agentd.store import open_store
from tests.conftest import git
from tests.engine.test_debate_protocols import DEMO, setup
from tests.support.daemons import agentd, queue_task, store_url, wait_until
from tests.test_e2e import leftovers

pytestmark = pytest.mark.docker
# Each phase twice; two tasks share them, so each kill lands in whichever task reached the phase next.
PHASE_KILLS = [
    "claimed",
    "claimed",
    "debate",
    "debate",
    "committed",
    "committed",
    "pushed",
    "pushed",
    "report",
    "report",
]


def killed_at(config: Path, phase: str, env: dict[str, str] | None = None, timeout_s: float = 180) -> None:
    """Run `agentd run` until it SIGKILLs itself at `phase`; fail if it never gets there."""
    output = config.parent / "agentd-runs.out"
    process = agentd(["run"], config, {**(env or {}), CRASH_AT: phase}, output=output)
    try:
        code = process.wait(timeout=timeout_s)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    shown = output.read_text(errors="replace")[-3000:]
    assert code == -signal.SIGKILL, f"agentd exited {code} without reaching {phase!r}:\n{shown}"


def run_until(config: Path, done: Any, timeout_s: float = 300, env: dict[str, str] | None = None) -> None:
    """Run `agentd run` until `done()` holds, then stop it with SIGTERM."""
    process = agentd(["run"], config, env)
    try:
        wait_until(done, timeout_s, "the daemon to finish the work", every_s=0.5)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


def agentd_branches(repo: Path) -> dict[str, str]:
    """agentd/ branch -> sha in the user's repository."""
    listing = git(repo, "for-each-ref", "--format=%(refname:short) %(objectname)", "refs/heads/agentd")
    return dict(line.split() for line in listing.splitlines())


def test_sigkill_at_each_named_phase_loses_nothing_and_commits_once(
    tmp_path: Path, sample_repo: Path, sandbox_image: str, docker_client: docker.DockerClient
) -> None:
    """Two SIGKILLs at each phase (claimed, mid-debate, after commit, after push, in the report): all fixed, once."""
    config = setup(tmp_path, sample_repo, DEMO, '[debate]\nprotocol = "vote"\nproposers = 2\n')
    tasks = [queue_task(config, f"fix TestTotal ({n})") for n in (1, 2)]
    seen: dict[str, str] = {}
    for phase in PHASE_KILLS:
        killed_at(config, phase)
        for branch, sha in agentd_branches(sample_repo).items():
            assert seen.setdefault(branch, sha) == sha, f"{branch} was rewritten after a kill at {phase}"
    store = open_store(f"sqlite:///{tmp_path / 'state' / 'agentd.db'}")
    run_until(config, lambda: store.counts() == {"done": len(tasks)})
    state = tmp_path / "state"
    ended = [store.get_task(task_id) for task_id in tasks]
    assert [t.status for t in ended if t is not None] == ["fixed", "fixed"]
    assert agentd_branches(sample_repo) == {f"agentd/task-{t}": seen[f"agentd/task-{t}"] for t in tasks}
    for task_id in tasks:
        assert len(git(sample_repo, "rev-list", f"main..agentd/task-{task_id}").split()) == 1  # one commit per event
        assert (state / "reports" / f"task-{task_id}.md").is_file()
    assert leftovers(docker_client, state) == []
    for leftover in ("worktrees", "run", "cache"):
        assert list((state / leftover).glob("*")) == [], leftover
    assert git(state / "repo.git", "worktree", "list").count("\n") == 0  # only the bare clone


@pytest.mark.postgres
def test_the_other_daemon_takes_over_a_job_whose_daemon_was_killed(
    tmp_path: Path, sample_repo: Path, sandbox_image: str, postgres_schema_dsn: str
) -> None:
    """Of two daemons on one PostgreSQL, the one running the job is killed mid-debate; the other finishes it."""
    extra = '[debate]\nprotocol = "vote"\nproposers = 2\n[store]\nurl_env = "AGENTD_TEST_STORE_URL"\n'
    config = setup(tmp_path, sample_repo, DEMO, extra)
    env = {"AGENTD_TEST_STORE_URL": store_url(postgres_schema_dsn)}
    task_id = queue_task(config, "fix TestTotal", env)
    first = agentd(["run"], config, {**env, "AGENTD_DAEMON__STATE_DIR": str(tmp_path / "node1"), CRASH_AT: "debate:2"})
    second = None
    try:
        with psycopg.connect(postgres_schema_dsn, autocommit=True) as conn:

            def owner() -> str:
                row = conn.execute("SELECT lease_owner FROM jobs WHERE task_id = %s", (task_id,)).fetchone()
                return str(row[0]) if row and row[0] else ""

            wait_until(lambda: f":{first.pid}:" in owner(), 60, "the first daemon's claim")
            second = agentd(["run"], config, {**env, "AGENTD_DAEMON__STATE_DIR": str(tmp_path / "node2")})
            assert first.wait(timeout=180) == -signal.SIGKILL  # killed at its second recorded turn
            killed = time.monotonic()
            wait_until(lambda: f":{second.pid}:" in owner(), 60, "the second daemon's takeover")  # type: ignore[union-attr]
            took_over_after = time.monotonic() - killed
            done = "SELECT t.status, j.status, j.attempts FROM tasks t JOIN jobs j ON j.task_id = t.id WHERE t.id = %s"
            wait_until(lambda: conn.execute(done, (task_id,)).fetchone()[1] == "done", 240, "the job to finish")  # type: ignore[index]
            status, _, attempts = conn.execute(done, (task_id,)).fetchone()  # type: ignore[misc]
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=60)
    assert (status, attempts) == ("fixed", 2)
    assert took_over_after <= 6 + 5  # within the 6 s lease (and one poll) of the kill
    assert len(git(sample_repo, "rev-list", f"main..agentd/task-{task_id}").split()) == 1


def requests_of(server: ScriptedModelServer, role: str, phase: str) -> int:
    """How many model requests the server received for `role` (in `phase`, when one is named)."""
    return sum(
        f"Role: {role}" in str(r.body) and (not phase or f"Phase: {phase}" in str(r.body)) for r in server.requests
    )


@pytest.mark.parametrize("protocol", ["debate", "negotiation"])
def test_a_debate_or_negotiation_killed_mid_way_resumes_without_asking_again(
    protocol: str, tmp_path: Path, sample_repo: Path, sandbox_image: str
) -> None:
    """Killed after its second recorded turn, the restarted daemon replays the recorded turns and ends fixed."""
    from tests.engine.test_debate_protocols import ballot  # noqa: PLC0415 - the negotiation's ballots

    def proposal(approach: str) -> list[dict[str, Any]]:
        changes = [{"file": "cart/cart.go", "change": "multiply by Qty"}]
        arguments = {"approach": approach, "changes": changes, "risks": ["none"], "estimate_minutes": 5}
        return [{"tool_calls": [{"name": "submit_proposal", "arguments": arguments}]}]

    def critique(supports: list[str]) -> list[dict[str, Any]]:
        return [{"tool_calls": [{"name": "submit_critique", "arguments": {"supports": supports, "objections": []}}]}]

    panel = {
        "proposer@propose": proposal("restore price times quantity"),
        "critic@propose": proposal("restore the multiplication"),
        "optimizer@propose": proposal("the same, with a table"),
        **{f"{role}@critique": critique(["proposer"]) for role in ("proposer", "critic", "optimizer")},
        **{f"{role}@vote": ballot("proposer") for role in ("proposer", "critic", "optimizer")},
    }
    script = {**DEMO, **(panel if protocol == "negotiation" else {})}
    with ScriptedModelServer(Script(script)) as server:
        config = setup(tmp_path, sample_repo, {}, f'[debate]\nprotocol = "{protocol}"\n')
        config.write_text(
            config.read_text().replace(
                f'provider = "scripted"\nmodel = "m"\nscript = "{tmp_path / "script.json"}"',
                f'provider = "openai"\nmodel = "m"\nbase_url = "{server.openai_base_url}"',
            )
        )
        task_id = queue_task(config, "fix TestTotal")
        killed_at(config, "debate:2")
        store = open_store(f"sqlite:///{tmp_path / 'state' / 'agentd.db'}")
        recorded = [t for t in store.task_record(task_id).sessions[0].turns if t.status == "done"]
        asked = {(t.role, requests_of(server, t.role, _phase(protocol, t.role))) for t in recorded}
        run_until(config, lambda: bool(store.get_task(task_id) and store.get_task(task_id).done))  # type: ignore[union-attr]
        again = {(t.role, requests_of(server, t.role, _phase(protocol, t.role))) for t in recorded}
    task = store.get_task(task_id)
    assert task is not None and task.status == "fixed", task.summary if task else None
    assert len(recorded) == 2
    assert again == asked  # no recorded turn's model was asked again
    assert len(git(sample_repo, "rev-list", f"main..agentd/task-{task_id}").split()) == 1


def _phase(protocol: str, role: str) -> str:
    """The `Phase:` line of a role's first turn in a protocol (the debate's turns name none but their role)."""
    return "propose" if protocol == "negotiation" else ""
