"""Running agentd as a service: systemd notify, the unit file, logs, SIGKILL safety, two daemons on PostgreSQL."""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import docker
import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from agentd.store import open_store
from tests.conftest import git, need
from tests.engine.test_debate_protocols import setup
from tests.test_e2e import leftovers

ROOT = Path(__file__).parents[2]


def agentd_process(config: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """`agentd run` in its own process."""
    return subprocess.Popen(
        [sys.executable, "-m", "agentd", "run", "--config", str(config)],
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_unit_file_verifies() -> None:
    """deploy/agentd.service passes `systemd-analyze verify` (with ExecStart pointed at this install)."""
    need(shutil.which("systemd-analyze") is not None, "systemd-analyze is not installed")
    text = (ROOT / "deploy" / "agentd.service").read_text()
    for directive in (
        "Type=notify",
        "WatchdogSec=",
        "Restart=on-failure",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/agentd",
        "PrivateTmp=yes",
    ):
        assert directive in text
    unit = Path("/tmp") / f"agentd-verify-{os.getpid()}.service"
    unit.write_text(text.replace("/opt/agentd/venv/bin/agentd", str(Path(sys.executable).parent / "agentd")))
    try:
        done = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, check=False)
    finally:
        unit.unlink()
    assert done.returncode == 0, done.stderr


@pytest.mark.docker
def test_notify_ready_watchdog_and_stopping(tmp_path: Path, sample_repo: Path, sandbox_image: str) -> None:
    """Under Type=notify, `agentd run` sends READY=1, then WATCHDOG=1 pings, then STOPPING=1 on SIGTERM."""
    path = setup(tmp_path, sample_repo, {})
    notify = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(notify))
        sock.settimeout(30)
        process = agentd_process(path, {"NOTIFY_SOCKET": str(notify), "WATCHDOG_USEC": "2000000"})
        try:
            got = [sock.recv(256).decode() for _ in range(2)]
            process.send_signal(signal.SIGTERM)
            while "STOPPING=1" not in got:
                got.append(sock.recv(256).decode())
            assert process.wait(timeout=25) == 0
        finally:
            if process.poll() is None:
                process.kill()
    assert got[0] == "READY=1"
    assert "WATCHDOG=1" in got
    assert (tmp_path / "state" / "logs" / "agentd.log").read_text().count("agentd running") == 1


def test_logs_prints_the_daemon_log(tmp_path: Path, sample_repo: Path) -> None:
    """`agentd logs` prints the last lines of STATE_DIR/logs/agentd.log, or says there is none yet."""
    path = setup(tmp_path, sample_repo, {})
    missing = subprocess.run(
        [sys.executable, "-m", "agentd", "logs", "--config", str(path)], capture_output=True, text=True, check=False
    )
    assert missing.returncode == 2
    assert "no log yet" in missing.stderr
    log = tmp_path / "state" / "logs" / "agentd.log"
    log.parent.mkdir(parents=True)
    log.write_text("".join(f"line {i}\n" for i in range(100)))
    shown = subprocess.run(
        [sys.executable, "-m", "agentd", "logs", "-n", "3", "--config", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert shown.stdout == "line 97\nline 98\nline 99\n"


@pytest.mark.docker
def test_sigkill_at_random_moments_loses_nothing_and_commits_once(
    tmp_path: Path, sample_repo: Path, sandbox_image: str, docker_client: docker.DockerClient
) -> None:
    """Twenty SIGKILLs across jobs' phases: every job still ends fixed, with one commit, and nothing left behind."""
    from tests.engine.test_debate_protocols import DEMO  # noqa: PLC0415 - the demo script drives the jobs

    path = setup(tmp_path, sample_repo, DEMO)
    store = open_store(f"sqlite:///{tmp_path / 'state' / 'agentd.db'}")

    def queue_task() -> None:
        n = len(store.list_tasks(100)) + 1
        subprocess.run(
            [sys.executable, "-m", "agentd", "task", f"fix TestTotal (round {n})", "--config", str(path)],
            capture_output=True,
            text=True,
            check=True,
        )

    queue_task()
    rng = random.Random(7)  # noqa: S311 - kill times, not secrets
    for _ in range(20):  # kill during start-up, baseline, proposals, votes, the gate and publishing
        if all(t.done for t in store.list_tasks(100)):
            queue_task()  # keep a job in flight so every kill lands in one
        process = agentd_process(path)
        time.sleep(rng.uniform(0.5, 8.0))
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    final = agentd_process(path)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not all(t.done for t in store.list_tasks(100)):
            time.sleep(0.5)
        time.sleep(1)
    finally:
        final.send_signal(signal.SIGTERM)
        final.wait(timeout=30)
    tasks = store.list_tasks(100)
    assert [t.status for t in tasks] == ["fixed"] * len(tasks)
    branches = git(sample_repo, "for-each-ref", "--format=%(refname:short)", "refs/heads/agentd").split()
    assert sorted(branches) == sorted(f"agentd/task-{t.id}" for t in tasks)
    for branch in branches:
        assert len(git(sample_repo, "rev-list", f"main..{branch}").split()) == 1  # one commit per event
    assert store.counts() == {"done": len(tasks)}
    assert leftovers(docker_client, tmp_path / "state") == []
    assert list((tmp_path / "state" / "worktrees").iterdir()) == []
    assert git(tmp_path / "state" / "repo.git", "worktree", "list").count("\n") == 0  # only the bare clone


@pytest.mark.docker
@pytest.mark.postgres
def test_two_daemons_on_postgres_split_a_burst_with_none_done_twice(
    tmp_path: Path, sample_repo: Path, sandbox_image: str, postgres_schema_dsn: str
) -> None:
    """Two `agentd run` processes sharing one PostgreSQL store split four tasks; each task runs exactly once."""
    from tests.engine.test_debate_protocols import DEMO  # noqa: PLC0415

    path = setup(
        tmp_path,
        sample_repo,
        {**DEMO},
        '[debate]\nprotocol = "vote"\nproposers = 1\n[store]\nurl_env = "AGENTD_TEST_STORE_URL"\n',
    )
    parts = conninfo_to_dict(postgres_schema_dsn)
    url = (
        f"postgresql://{parts['user']}:{quote(str(parts['password']))}@{parts['host']}:{parts['port']}/"
        f"{parts['dbname']}?options={quote(str(parts['options']))}"
    )
    env = {"AGENTD_TEST_STORE_URL": url, "AGENTD_REPOSITORY__MAX_CONCURRENT_JOBS": "2"}
    for i in range(4):
        queued = subprocess.run(
            [sys.executable, "-m", "agentd", "task", f"fix TestTotal ({i})", "--config", str(path)],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            check=False,
        )
        assert queued.returncode == 0, queued.stderr
    # two machines' worth of daemons: one queue in PostgreSQL, each its own state directory
    daemons = [agentd_process(path, {**env, "AGENTD_DAEMON__STATE_DIR": str(tmp_path / f"node{i}")}) for i in (1, 2)]
    try:
        deadline = time.monotonic() + 400
        with psycopg.connect(postgres_schema_dsn) as conn:
            while time.monotonic() < deadline:
                (left,) = conn.execute("SELECT count(*) FROM jobs WHERE status <> 'done'").fetchone()  # type: ignore[misc]
                if left == 0:
                    break
                time.sleep(1)
            rows = conn.execute("SELECT attempts, lease_owner FROM jobs ORDER BY id").fetchall()
            statuses = conn.execute("SELECT status FROM tasks").fetchall()
    finally:
        for process in daemons:
            process.send_signal(signal.SIGTERM)
        for process in daemons:
            process.wait(timeout=30)
    assert [attempts for attempts, _ in rows] == [1] * 4
    assert len({owner for _, owner in rows}) == 2  # both daemons took work
    assert {status for (status,) in statuses} == {"fixed"}
    branches = git(sample_repo, "for-each-ref", "--format=%(refname)", "refs/heads/agentd").split()
    assert len(branches) == 4
