"""Where eval runs a task's tests: agentd's own hardened sandbox, with a fresh fixture database when the task has one.

The database is reached the least-privileged way there is: the sandbox keeps `network: none`;
the throwaway cluster listens on no TCP port at all, only on a Unix socket in a directory of its
own, which is mounted read-only at /run/postgresql. The test gets a DSN, through the sandbox's
environment allowlist, for a password-login role that owns one fresh database and may connect
to nothing else; the superuser needs a password the sandbox never sees.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path

import docker
import psycopg
from psycopg.conninfo import make_conninfo

from agentd.eval.task import EvalTask
from agentd.kernel.seams import CommandResult, Sandbox
from agentd.pgcluster import Cluster, ClusterError, throwaway_cluster
from sandbox.config import SandboxConfig
from sandbox.docker import DockerSandboxFactory, connect_docker
from sandbox.plan import POSTGRES_SOCKET_MOUNT


class FixtureDatabases:
    """One throwaway cluster, started on first use; a new database loaded from a fixture for each test run."""

    def __init__(self) -> None:
        self._stack = contextlib.ExitStack()
        self._cluster: Cluster | None = None
        self._lock = threading.Lock()

    def cluster(self) -> Cluster:
        """The cluster, started now if this is the first database asked for."""
        with self._lock:
            if self._cluster is None:
                self._cluster = self._stack.enter_context(throwaway_cluster(tcp=False, shared_socket=True))
            return self._cluster

    @contextlib.contextmanager
    def fresh(self, fixture: Path, *, on_host: bool = False) -> Iterator[str]:
        """A database of its own role, loaded from `fixture` and analyzed; yields the DSN as seen in a sandbox
        (`on_host`: as agentd itself reaches it, for the query_database tool of an eval run's job)."""
        cluster = self.cluster()
        name = f"eval_{secrets.token_hex(6)}"
        password = secrets.token_hex(16)
        own = make_conninfo(port=cluster.port, dbname=name, user=name, password=password)
        host_dsn = make_conninfo(own, host=str(cluster.socket_dir))
        try:
            cluster.create_owned_database(name, name, password)
            cluster.load_sql(host_dsn, fixture)
            with psycopg.connect(host_dsn, autocommit=True) as conn:
                conn.execute("ANALYZE")  # plans the tests look at should not depend on autovacuum's timing
        except psycopg.Error as exc:
            self._drop(cluster, name)
            raise ClusterError(f"fixture database from {fixture.name}: {exc}") from None
        except BaseException:
            self._drop(cluster, name)
            raise
        try:
            yield host_dsn if on_host else make_conninfo(own, host=POSTGRES_SOCKET_MOUNT)
        finally:
            self._drop(cluster, name)

    @staticmethod
    def _drop(cluster: Cluster, name: str) -> None:
        try:
            cluster.drop_owned_database(name, name)
        except psycopg.Error as exc:
            raise ClusterError(f"cannot drop the fixture database {name}: {exc}") from None

    def close(self) -> None:
        """Stop the cluster and remove its files, if it was started."""
        self._stack.close()


class Harness:
    """Opens sandboxes over task trees (with their database) and runs the tasks' test commands in them."""

    def __init__(self, config: SandboxConfig, run_dir: Path, client: docker.DockerClient | None = None) -> None:
        self.config = config
        self._run_dir = run_dir
        self._client = client or connect_docker()
        self.databases = FixtureDatabases()  # started only when a task has a fixture
        DockerSandboxFactory(config, run_dir, self._client).check_image()

    def factory(
        self,
        task: EvalTask,
        stack: contextlib.ExitStack,
        config: SandboxConfig | None = None,
        run_dir: Path | None = None,
    ) -> DockerSandboxFactory:
        """A sandbox factory for `task`; for a task with a fixture, a fresh database (dropped when `stack` closes)
        whose DSN its sandboxes get in the environment."""
        config = config or self.config
        run_dir = run_dir or self._run_dir
        if task.fixture is None or task.spec.database is None:
            return DockerSandboxFactory(config, run_dir, self._client)
        dsn = stack.enter_context(self.databases.fresh(task.fixture))
        env_name = task.spec.database.dsn_env
        config = config.model_copy(
            update={
                "postgres_socket_dir": self.databases.cluster().socket_dir,
                "env_allowlist": [*config.env_allowlist, env_name],
            }
        )
        return DockerSandboxFactory(config, run_dir, self._client, {**os.environ, env_name: dsn})

    @contextlib.contextmanager
    def sandbox(self, task: EvalTask, tree: Path, label: str) -> Iterator[Sandbox]:
        """A sandbox over `tree`; for a task with a fixture, a fresh database and its DSN in the environment."""
        with contextlib.ExitStack() as stack:
            opened = self.factory(task, stack).open(tree, f"eval-{task.name}-{label}")
            stack.callback(opened.close)
            yield opened

    @property
    def client(self) -> docker.DockerClient:
        """The Docker engine the harness talks to."""
        return self._client

    def run_tests(self, task: EvalTask, tree: Path, label: str) -> CommandResult:
        """Run the task's test_command over `tree` in a new sandbox, within the task's test deadline."""
        with self.sandbox(task, tree, label) as sandbox:
            return sandbox.run(task.spec.test_command, timeout_s=task.spec.limits.test_timeout_s)

    def close(self) -> None:
        """Stop the fixture cluster, if one was started."""
        self.databases.close()


class _WithDatabase:
    """A job's sandbox whose fixture database is dropped when the sandbox closes."""

    def __init__(self, sandbox: Sandbox, stack: contextlib.ExitStack) -> None:
        self._sandbox, self._stack = sandbox, stack

    @property
    def workspace(self) -> Path:
        """The sandbox's workspace."""
        return self._sandbox.workspace

    def run(
        self, argv: list[str], cwd: str = ".", timeout_s: float = 300.0, env: dict[str, str] | None = None
    ) -> CommandResult:
        """Run argv in the sandbox."""
        return self._sandbox.run(argv, cwd=cwd, timeout_s=timeout_s, env=env)

    def freeze(self) -> int:
        """Kill every process in the sandbox."""
        return self._sandbox.freeze()

    def close(self) -> None:
        """Remove the sandbox, then drop its database; safe to call twice."""
        try:
            self._sandbox.close()
        finally:
            self._stack.close()


class TaskSandboxes:
    """The SandboxFactory an eval run's job gets: agentd's Docker sandboxes, each (lanes, the gate) with a fresh
    database of the task's fixture, as the task's own tests expect; without a fixture, plain sandboxes."""

    def __init__(self, harness: Harness, task: EvalTask, config: SandboxConfig, run_dir: Path) -> None:
        self._harness, self._task, self._config, self._run_dir = harness, task, config, run_dir

    def open(self, workspace: Path, job_id: str, *, read_only: bool = False, cache_dir: Path | None = None) -> Sandbox:
        """Start a sandbox over `workspace` with its own fresh fixture database."""
        stack = contextlib.ExitStack()
        try:
            factory = self._harness.factory(self._task, stack, self._config, self._run_dir)
            opened = factory.open(workspace, job_id, read_only=read_only, cache_dir=cache_dir)
        except BaseException:
            stack.close()
            raise
        return _WithDatabase(opened, stack)

    def reap(self) -> int:
        """Remove the sandboxes a killed run left behind under this run directory."""
        return DockerSandboxFactory(self._config, self._run_dir, self._harness.client).reap()

    def check_image(self) -> None:
        """Raise when the sandbox image is missing."""
        DockerSandboxFactory(self._config, self._run_dir, self._harness.client).check_image()
