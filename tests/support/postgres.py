"""A throwaway PostgreSQL cluster for tests: initdb in a temp dir, a free port, removed at exit.

The cluster's superuser (`postgres`) is reachable only over the Unix socket in the temp dir; the
DSN handed to tests is for `agentd_test`, a password-authenticated non-superuser role that owns
the `agentd_test` database (so tests can create tables in it) and may create roles (so the role
from docs/sql-role.md can be tried). PostgreSQL refuses to run as root, so as root every server
binary runs as the `postgres` system user.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import psycopg
import pytest
from psycopg import sql

PG_BIN_ENV = "AGENTD_PG_BIN"
TEST_ROLE = "agentd_test"
TEST_DATABASE = "agentd_test"
_START_ATTEMPTS = 3


def _unavailable(reason: str) -> NoReturn:
    """Skip the test locally; fail loudly in CI, where PostgreSQL tests must never be skipped."""
    if os.environ.get("CI"):
        raise RuntimeError(f"PostgreSQL tests cannot run in CI: {reason}")
    pytest.skip(reason)


def find_pg_bin() -> Path | None:
    """The directory holding initdb and pg_ctl: $AGENTD_PG_BIN, the newest Debian install, or PATH."""
    candidates: list[Path] = []
    if os.environ.get(PG_BIN_ENV):
        candidates.append(Path(os.environ[PG_BIN_ENV]))
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name), reverse=True)
    candidates.extend(debian)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).parent)
    for candidate in candidates:
        if (candidate / "initdb").is_file() and (candidate / "pg_ctl").is_file():
            return candidate
    return None


def _run_as_server_user(argv: list[str], cwd: Path, timeout_s: float = 120.0) -> str:
    """Run a server binary (as `postgres` when we are root); raise with its output when it fails."""
    if os.geteuid() == 0:
        argv = ["runuser", "-u", "postgres", "--", *argv]
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout_s, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _prepare_dir() -> Path:
    """A temp dir the server user owns (as root: chowned to `postgres`)."""
    root = Path(tempfile.mkdtemp(prefix="agentd-pg-"))
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(root, ignore_errors=True)
            _unavailable("running as root but there is no `postgres` system user to run the server")
        os.chown(root, user.pw_uid, user.pw_gid)
    return root


def _start_on(bin_dir: Path, root: Path, port: int) -> None:
    """Start the server of the cluster in `root` on `port` (raises RuntimeError when it cannot)."""
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off -c full_page_writes=off"
    log = str(root / "server.log")
    pg_ctl = [str(bin_dir / "pg_ctl"), "start", "-w", "-t", "60", "-D", str(root / "data"), "-l", log]
    _run_as_server_user([*pg_ctl, "-o", options], cwd=root)


def _start(bin_dir: Path, root: Path) -> int:
    """Start the server on a free port, retrying when another process takes the port first."""
    for _ in range(_START_ATTEMPTS):
        port = _free_port()
        try:
            _start_on(bin_dir, root, port)
        except RuntimeError:
            continue
        return port
    log = root / "server.log"
    text = log.read_text(errors="replace") if log.exists() else "(no log)"
    raise RuntimeError(f"PostgreSQL did not start after {_START_ATTEMPTS} attempts; server log:\n{text}")


def _create_test_database(root: Path, port: int, password: str) -> None:
    """As the superuser (Unix socket, trust): a password-login role owning its own database."""
    admin = f"host={root} port={port} user=postgres dbname=postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN CREATEROLE PASSWORD {}").format(
                sql.Identifier(TEST_ROLE), sql.Literal(password)
            )
        )
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(TEST_DATABASE), sql.Identifier(TEST_ROLE))
        )


def _stop(bin_dir: Path, root: Path) -> None:
    # not running (start failed) or already gone: the directory is removed either way
    with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
        _run_as_server_user([str(bin_dir / "pg_ctl"), "stop", "-m", "immediate", "-D", str(root / "data")], cwd=root)


class Cluster:
    """A running throwaway cluster that a fault test may stop and start again on the same port."""

    def __init__(self, bin_dir: Path, root: Path, port: int) -> None:
        self.bin_dir, self.root, self.port = bin_dir, root, port

    def stop(self) -> None:
        """Stop the server now (fast shutdown: open connections are cut, as when a database host goes away)."""
        pg_ctl = [str(self.bin_dir / "pg_ctl"), "stop", "-m", "fast", "-w", "-D", str(self.root / "data")]
        _run_as_server_user(pg_ctl, cwd=self.root)

    def start(self) -> None:
        """Start the server again on its port."""
        _start_on(self.bin_dir, self.root, self.port)


@contextmanager
def throwaway_cluster() -> Iterator[str]:
    """Start a fresh PostgreSQL cluster and yield a DSN (non-superuser, password, TCP); destroy it at exit."""
    with restartable_cluster() as (dsn, _cluster):
        yield dsn


@contextmanager
def restartable_cluster() -> Iterator[tuple[str, Cluster]]:
    """A fresh PostgreSQL cluster: its DSN (non-superuser, password, TCP) and a handle to stop and start it."""
    bin_dir = find_pg_bin()
    if bin_dir is None:
        _unavailable(f"no PostgreSQL server binaries (initdb, pg_ctl) found; set {PG_BIN_ENV} to their directory")
    root = _prepare_dir()
    try:
        _run_as_server_user(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(root / "data"),
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
            cwd=root,
        )
        port = _start(bin_dir, root)
        try:
            password = secrets.token_hex(16)
            _create_test_database(root, port, password)
            dsn = f"host=127.0.0.1 port={port} dbname={TEST_DATABASE} user={TEST_ROLE} password={password}"
            yield dsn, Cluster(bin_dir, root, port)
        finally:
            _stop(bin_dir, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
