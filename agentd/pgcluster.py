"""A throwaway PostgreSQL cluster: initdb in a temp dir, started for a while, removed at exit.

PostgreSQL refuses to run as root, so under a root agentd every server binary runs as the
`postgres` system user. Used by `agentd eval` (a fixture database per test run) and by the tests.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from agentd.kernel import process
from agentd.kernel.errors import AgentdError

PG_BIN_ENV = "AGENTD_PG_BIN"
SUPERUSER = "postgres"
SOCKET_PORT = 5432  # without TCP the port only names the socket file, which lives in a directory of its own
_START_ATTEMPTS = 3
_SERVER_FIX = (
    "install the PostgreSQL server (Debian: `apt-get install postgresql`) or set "
    f"{PG_BIN_ENV} to the directory holding initdb and pg_ctl"
)


class ClusterError(AgentdError):
    """A throwaway PostgreSQL cluster could not be made, started or used."""


class ClusterUnavailable(ClusterError):  # noqa: N818 - names the state, like FileNotFoundError
    """No PostgreSQL server binaries (or no `postgres` user to run them as root) on this machine."""


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


def run_as_server_user(argv: list[str], cwd: Path, timeout_s: float = 120.0) -> str:
    """Run a server binary (as `postgres` when we are root); ClusterError with its output when it fails."""
    if os.geteuid() == 0:
        argv = ["runuser", "-u", SUPERUSER, "--", *argv]
    done = process.run(argv, cwd=cwd, timeout_s=timeout_s)
    if not done.ok:
        raise ClusterError(f"{' '.join(argv)}: {done.reason()}")
    return done.stdout


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _server_user_dir(path: Path, mode: int) -> None:
    """Create `path` with `mode`, owned by the server user (as root: `postgres`)."""
    path.mkdir(mode=mode, exist_ok=True)
    path.chmod(mode)
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam(SUPERUSER)
        except KeyError:
            raise ClusterUnavailable(
                "running as root but there is no `postgres` system user to run the server"
            ) from None
        os.chown(path, user.pw_uid, user.pw_gid)


@dataclass(frozen=True)
class Cluster:
    """A running throwaway cluster: where its binaries and files are, and how to reach it."""

    bin_dir: Path
    root: Path
    socket_dir: Path
    port: int
    tcp: bool
    superuser_password: str | None  # None: local connections are trusted (the socket is in a private directory)

    def admin_dsn(self, dbname: str = "postgres") -> str:
        """The superuser's DSN over the Unix socket."""
        return make_conninfo(
            host=str(self.socket_dir),
            port=self.port,
            user=SUPERUSER,
            dbname=dbname,
            password=self.superuser_password,
        )

    def admin(self, dbname: str = "postgres") -> psycopg.Connection[tuple[object, ...]]:
        """An autocommit superuser connection."""
        return psycopg.connect(self.admin_dsn(dbname), autocommit=True, connect_timeout=10)

    def create_owned_database(
        self, name: str, role: str, password: str, *, createrole: bool = False, private: bool = True
    ) -> None:
        """A password-login role (never superuser) owning a new database; `private`: no other role may connect."""
        with self.admin() as conn:
            attributes = sql.SQL("LOGIN CREATEROLE" if createrole else "LOGIN")
            conn.execute(
                sql.SQL("CREATE ROLE {} {} PASSWORD {}").format(sql.Identifier(role), attributes, sql.Literal(password))
            )
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(role)))
            if private:
                conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(name)))

    def drop_owned_database(self, name: str, role: str) -> None:
        """Drop a database made by create_owned_database (ending its sessions) and its role."""
        with self.admin() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))

    def stop(self) -> None:
        """Stop the server now (fast shutdown: open connections are cut, as when a database host goes away)."""
        pg_ctl = [str(self.bin_dir / "pg_ctl"), "stop", "-m", "fast", "-w", "-D", str(self.root / "data")]
        run_as_server_user(pg_ctl, cwd=self.root)

    def start(self) -> None:
        """Start the server again, on the same port and socket."""
        _start_on(self.bin_dir, self.root, self.socket_dir, self.port, self.tcp)

    def load_sql(self, dsn: str, script: Path, timeout_s: float = 600.0) -> None:
        """Run a SQL file (plain SQL or a pg_dump script) with psql, stopping at the first error."""
        argv = [str(self.bin_dir / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-f", str(script)]
        done = process.run(argv, timeout_s=timeout_s, env={**os.environ, "PGCONNECT_TIMEOUT": "10"})
        if not done.ok:
            raise ClusterError(f"loading {script.name} failed: {done.reason(lines=5)}")


def _initdb(bin_dir: Path, root: Path, password: str | None) -> None:
    argv = [str(bin_dir / "initdb"), "-D", str(root / "data"), "-U", SUPERUSER, "-E", "UTF8", "--locale=C", "--no-sync"]
    if password is None:
        argv += ["--auth-local=trust", "--auth-host=scram-sha-256"]
    else:
        pwfile = root / "superuser.pw"
        pwfile.write_text(password + "\n", encoding="utf-8")
        if os.geteuid() == 0:
            shutil.chown(pwfile, SUPERUSER)
        argv += ["--auth-local=scram-sha-256", "--auth-host=reject", f"--pwfile={pwfile}"]
    try:
        run_as_server_user(argv, cwd=root)
    finally:
        with contextlib.suppress(FileNotFoundError):
            (root / "superuser.pw").unlink()


def _start(bin_dir: Path, root: Path, socket_dir: Path, tcp: bool) -> int:
    """Start the server (on a free TCP port, retried when another process takes it first); its port."""
    for _ in range(_START_ATTEMPTS if tcp else 1):
        port = _free_port() if tcp else SOCKET_PORT
        try:
            _start_on(bin_dir, root, socket_dir, port, tcp)
        except ClusterError:
            continue
        return port
    log = root / "server.log"
    text = log.read_text(errors="replace") if log.exists() else "(no log)"
    raise ClusterError(f"PostgreSQL did not start; server log:\n{text[-4000:]}")


def _start_on(bin_dir: Path, root: Path, socket_dir: Path, port: int, tcp: bool) -> None:
    """Start the server on `port`; ClusterError when it does not come up."""
    listen = "127.0.0.1" if tcp else "''"
    options = f"-c listen_addresses={listen} -p {port} -k {socket_dir} -c fsync=off -c full_page_writes=off"
    log = root / "server.log"
    pg_ctl = [str(bin_dir / "pg_ctl"), "start", "-w", "-t", "60", "-D", str(root / "data"), "-l", str(log)]
    run_as_server_user([*pg_ctl, "-o", options], cwd=root)


def _stop(bin_dir: Path, root: Path) -> None:
    # not running (start failed) or already gone: the directory is removed either way
    with contextlib.suppress(ClusterError):
        run_as_server_user([str(bin_dir / "pg_ctl"), "stop", "-m", "immediate", "-D", str(root / "data")], cwd=root)


def _close_shared_databases(cluster: Cluster) -> None:
    """Roles made later may connect only to their own database, not to the ones every cluster has."""
    with cluster.admin() as conn:
        for name in ("postgres", "template1"):
            conn.execute(sql.SQL("REVOKE CONNECT ON DATABASE {} FROM PUBLIC").format(sql.Identifier(name)))


@contextmanager
def throwaway_cluster(*, tcp: bool = True, shared_socket: bool = False) -> Iterator[Cluster]:
    """Start a fresh cluster under a new temp dir; stop it and remove every file at exit.

    `tcp` listens on a free port of 127.0.0.1 too. `shared_socket` puts the Unix socket in a
    directory of its own, readable by every uid (to be mounted into sandboxes), and then every
    connection, the superuser's included, needs a password; otherwise the socket sits in the
    cluster's private directory and local connections are trusted.
    """
    bin_dir = find_pg_bin()
    if bin_dir is None:
        raise ClusterUnavailable(f"no PostgreSQL server binaries (initdb, pg_ctl) found: {_SERVER_FIX}")
    root = Path(tempfile.mkdtemp(prefix="agentd-pg-"))
    try:
        _server_user_dir(root, 0o700)
        socket_dir = root / "socket" if shared_socket else root
        if shared_socket:  # mounted by itself into sandboxes: the private root around it stays closed
            _server_user_dir(socket_dir, 0o755)
        password = secrets.token_hex(16) if shared_socket else None
        _initdb(bin_dir, root, password)
        port = _start(bin_dir, root, socket_dir, tcp)
        try:
            cluster = Cluster(bin_dir, root, socket_dir, port, tcp, password)
            if shared_socket:
                _close_shared_databases(cluster)
            yield cluster
        finally:
            _stop(bin_dir, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
