"""Running agentd as a service: systemd notify, the unit file, logs, SIGKILL safety, two daemons on PostgreSQL."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from agentd.store.postgres import PostgresStore
from tests.conftest import git, need
from tests.engine.test_debate_protocols import setup
from tests.support.daemons import queue_task, store_url, wait_until

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
@pytest.mark.postgres
def test_two_daemons_on_postgres_split_a_burst_with_none_done_twice(
    tmp_path: Path, sample_repo: Path, sandbox_image: str, postgres_schema_dsn: str
) -> None:
    """Two `agentd run` processes at the defaults sharing one PostgreSQL store split four tasks; each runs once."""
    from tests.engine.test_debate_protocols import DEMO  # noqa: PLC0415

    path = setup(
        tmp_path,
        sample_repo,
        {**DEMO},
        '[debate]\nprotocol = "vote"\nproposers = 1\n[store]\nurl_env = "AGENTD_TEST_STORE_URL"\n',
    )
    env = {"AGENTD_TEST_STORE_URL": store_url(postgres_schema_dsn)}
    # two machines' worth of daemons: one queue in PostgreSQL, each its own state directory
    daemons = [agentd_process(path, {**env, "AGENTD_DAEMON__STATE_DIR": str(tmp_path / f"node{i}")}) for i in (1, 2)]
    try:
        with psycopg.connect(postgres_schema_dsn) as conn:
            store = PostgresStore(postgres_schema_dsn)  # the schema exists before anyone counts in it
            wait_until(lambda: len(store.live_daemons(within_s=10)) == 2, 120, "both daemons' first heartbeat")
            store.close()
            for i in range(4):  # queued once both are up, so neither can drain the queue alone before the other starts
                queue_task(path, f"fix TestTotal ({i})", env)
            wait_until(
                lambda: conn.execute("SELECT count(*) FROM jobs WHERE status <> 'done'").fetchone()[0] == 0,  # type: ignore[index]
                400,
                "every job done",
                every_s=1,
            )
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
