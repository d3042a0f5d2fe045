"""The store's PostgreSQL stopped mid-job and started again: /healthz says so, the daemon lives, no job is lost."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.conftest import git
from tests.engine.test_debate_protocols import DEMO, setup
from tests.support.daemons import agentd, queue_task, store_url, wait_until
from tests.support.postgres import restartable_cluster

pytestmark = [pytest.mark.docker, pytest.mark.postgres]
TOKEN = "fault-test-token"


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def healthz(port: int) -> tuple[int, dict[str, Any]]:
    """GET /healthz: (status, body); (0, {}) when nothing answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())
    except OSError:
        return 0, {}


def health_command(config: Path, env: dict[str, str]) -> int:
    """`agentd health`'s exit code (what the compose healthcheck runs)."""
    done = subprocess.run(
        [sys.executable, "-m", "agentd", "health", "--config", str(config)],
        env=env,
        capture_output=True,
        check=False,
    )
    return done.returncode


def test_store_restarted_mid_job_turns_healthz_503_then_200_and_every_job_ends_fixed(
    tmp_path: Path, sample_repo: Path, sandbox_image: str
) -> None:
    """PostgreSQL stops mid-debate: /healthz turns 503 after the limit, 200 after the restart; every job ends fixed."""
    port = free_port()
    slow = {**DEMO, "critic": [{"delay_s": 1.5, **step} for step in DEMO["critic"]]}
    extra = (
        '[debate]\nprotocol = "vote"\nproposers = 1\n[store]\nurl_env = "AGENTD_TEST_STORE_URL"\n'
        f'[api]\nlisten = "127.0.0.1:{port}"\n'
    )
    config = setup(tmp_path, sample_repo, slow, extra)
    config.write_text(config.read_text().replace("lease_s = 6\n", "lease_s = 6\nunhealthy_after_s = 4\n"))
    with restartable_cluster() as (dsn, cluster):
        env = {"AGENTD_TEST_STORE_URL": store_url(dsn), "AGENTD_API_TOKEN": TOKEN}
        import os  # noqa: PLC0415 - the subprocesses inherit PATH and the rest

        full_env = {**os.environ, **env}
        first = queue_task(config, "fix TestTotal (before the outage)", env)
        daemon = agentd(["run"], config, env)
        try:
            wait_until(lambda: healthz(port)[0] == 200, 60, "the daemon's first healthy answer")
            with psycopg.connect(dsn) as conn:
                wait_until(
                    lambda: conn.execute("SELECT count(*) FROM debate_turns").fetchone()[0] > 0,  # type: ignore[index]
                    120,
                    "the first recorded turn",
                )
            stopped = time.monotonic()  # the outage starts with the stop: fast shutdown cuts connections at once
            cluster.stop()
            wait_until(lambda: healthz(port)[0] == 503, 30, "/healthz to turn 503")
            seconds_to_503 = time.monotonic() - stopped
            status, body = healthz(port)
            assert status == 503 and body["status"] == "unhealthy"
            assert any(problem.startswith("store:") for problem in body["problems"]), body
            assert health_command(config, full_env) == 1
            time.sleep(max(0.0, 10 - (time.monotonic() - stopped)))  # ten seconds without a store
            cluster.start()
            wait_until(lambda: healthz(port)[0] == 200, 90, "/healthz back to 200")
            assert health_command(config, full_env) == 0
            second = queue_task(config, "fix TestTotal (after the outage)", env)
            with psycopg.connect(dsn) as conn:

                def statuses() -> dict[int, str]:
                    return dict(conn.execute("SELECT id, status FROM tasks").fetchall())  # type: ignore[arg-type]

                wait_until(lambda: set(statuses().values()) <= {"fixed", "failed"}, 300, "both tasks to end")
                ended = statuses()
                (attempts,) = conn.execute("SELECT attempts FROM jobs WHERE task_id = %s", (first,)).fetchone()  # type: ignore[misc]
            assert daemon.poll() is None  # it lived through the outage
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=60)
    # not at once: only once the store has not worked for unhealthy_after_s (4 s), counted from the last
    # heartbeat that reached it, which is at most one heartbeat (2 s) before the stop began
    assert seconds_to_503 >= 4 - 2
    assert ended == {first: "fixed", second: "fixed"}
    assert attempts >= 2  # the interrupted attempt, then the one that finished
    report = (tmp_path / "state" / "reports" / f"task-{first}.md").read_text()
    assert "### Attempts" in report
    for task_id in (first, second):
        assert len(git(sample_repo, "rev-list", f"main..agentd/task-{task_id}").split()) == 1
