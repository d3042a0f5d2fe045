"""The Docker engine going away mid-job and coming back, through an endpoint the test controls (DockerEndpoint).

The shared engine itself is never restarted (other tests use it): agentd's DOCKER_HOST is a
forwarding socket the test stops, and the job's containers are killed through the real engine,
as an engine restart would leave them.
"""

from __future__ import annotations

import signal
from pathlib import Path

import docker
import pytest

from agentd.store import open_store
from tests.conftest import git
from tests.engine.test_debate_protocols import DEMO, setup
from tests.faults.test_store_restart import free_port, healthz
from tests.support.daemons import agentd, queue_task, wait_until
from tests.support.dockerproxy import DockerEndpoint

pytestmark = pytest.mark.docker


def kill_sandboxes(client: docker.DockerClient, state: Path) -> int:
    """Kill this agentd's running sandbox containers through the real engine; how many."""
    killed = 0
    for container in client.containers.list(filters={"label": "agentd.managed=1"}, sparse=True):
        if (container.attrs.get("Labels") or {}).get("agentd.run_dir", "").startswith(str(state)):
            try:
                container.kill()
            except docker.errors.APIError as error:
                if error.status_code in (404, 409):  # a short-lived run ended between Docker's list and the kill
                    continue
                raise
            killed += 1
    return killed


def test_docker_gone_mid_job_makes_healthz_503_and_the_job_is_retried_to_the_end(
    tmp_path: Path, sample_repo: Path, sandbox_image: str, docker_client: docker.DockerClient
) -> None:
    """The engine's endpoint vanishes mid-job: 503 with the engine named, no job claimed meanwhile, then fixed."""
    port = free_port()
    slow = {**DEMO, "critic": [{"delay_s": 1.0, **step} for step in DEMO["critic"]]}
    extra = f'[debate]\nprotocol = "vote"\nproposers = 1\n[api]\nlisten = "127.0.0.1:{port}"\n'
    config = setup(tmp_path, sample_repo, slow, extra)
    config.write_text(
        config.read_text().replace("lease_s = 6\n", "lease_s = 6\nunhealthy_after_s = 4\nretry_backoff_s = 1\n")
    )
    endpoint = DockerEndpoint().start()
    env = {"DOCKER_HOST": endpoint.url, "AGENTD_API_TOKEN": "t"}
    first = queue_task(config, "fix TestTotal (in flight when the engine goes)")
    store = open_store(f"sqlite:///{tmp_path / 'state' / 'agentd.db'}")
    daemon = agentd(["run"], config, env, output=tmp_path / "agentd.out")
    try:
        wait_until(lambda: any(t.role == "proposer" for t in _turns(store, first)), 120, "the first proposal")
        endpoint.stop()
        assert kill_sandboxes(docker_client, tmp_path / "state") >= 1
        wait_until(lambda: healthz(port)[0] == 503, 30, "/healthz to turn 503")
        problems = healthz(port)[1]["problems"]
        second = queue_task(config, "fix TestTotal (queued while the engine is away)")
        wait_until(lambda: store.get_task(first).status == "queued", 30, "the interrupted job back in the queue")  # type: ignore[union-attr]
        attempts_while_away = store.task_record(second).job.attempts  # type: ignore[union-attr]
        endpoint.start()
        wait_until(lambda: healthz(port)[0] == 200, 60, "/healthz back to 200")
        wait_until(lambda: all(store.get_task(t).done for t in (first, second)), 300, "both tasks to end")  # type: ignore[union-attr]
        alive = daemon.poll() is None
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=60)
        endpoint.stop()
    assert alive
    assert any(problem.startswith("docker:") for problem in problems), problems
    assert attempts_while_away == 0  # nothing claimed while the engine was away
    assert [store.get_task(t).status for t in (first, second)] == ["fixed", "fixed"]  # type: ignore[union-attr]
    record = store.task_record(first)
    assert record.job is not None and record.job.attempts == 2
    report = (tmp_path / "state" / "reports" / f"task-{first}.md").read_text()
    assert "### Attempts" in report and "sandbox" in report
    for task_id in (first, second):
        assert len(git(sample_repo, "rev-list", f"main..agentd/task-{task_id}").split()) == 1


def test_a_daemon_unhealthy_for_too_long_exits_for_its_supervisor(
    tmp_path: Path, sample_repo: Path, sandbox_image: str
) -> None:
    """With exit_after_unhealthy_s set, a daemon whose engine stays away exits with code 3 (a restart policy's cue)."""
    config = setup(tmp_path, sample_repo, DEMO)
    config.write_text(
        config.read_text().replace("lease_s = 6\n", "lease_s = 6\nunhealthy_after_s = 2\nexit_after_unhealthy_s = 2\n")
    )
    endpoint = DockerEndpoint().start()
    daemon = agentd(["run"], config, {"DOCKER_HOST": endpoint.url}, output=tmp_path / "agentd.out")
    try:
        wait_until(lambda: "agentd running" in (tmp_path / "agentd.out").read_text(), 60, "the daemon to start")
        endpoint.stop()
        code = daemon.wait(timeout=60)
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
        endpoint.stop()
    assert code == 3
    assert "unhealthy for too long" in (tmp_path / "agentd.out").read_text()


def _turns(store: object, task_id: int) -> list[object]:
    record = store.task_record(task_id)  # type: ignore[attr-defined]
    return [turn for session in record.sessions for turn in session.turns]
