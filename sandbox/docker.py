"""The Docker sandbox: one hardened container per job; commands go through its runner.

The container runs `sandbox/runner` as its PID 1. agentd listens on a unix socket in a run
directory of its own, mounted read-only at /run/agentd; the runner connects once, agentd checks it
is the container's init and removes the listener, and every request goes over that connection
(sandbox/channel.py). Everything an agent runs is a child of that runner, so deadlines, output
caps, killing stragglers and the disk limit happen next to the processes, not across the Docker API.
"""

from __future__ import annotations

import contextlib
import gc
import os
import re
import secrets
import shutil
import threading
import time
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import docker
import docker.errors
import requests
import structlog
from docker.models.containers import Container

from agentd.kernel import trace
from agentd.kernel.errors import DiskLimitExceeded, SandboxError
from agentd.kernel.seams import CommandResult
from sandbox.channel import Peer, RunnerChannel, RunnerListener, is_the_runner
from sandbox.config import SandboxConfig
from sandbox.network import check_network
from sandbox.plan import (
    MANAGED_LABEL,
    RUN_DIR_LABEL,
    SEED_GO_CACHE,
    SOCKET_NAME,
    ContainerSpec,
    container_cwd,
    container_options,
    resolve_user,
    result_from_answer,
    sandbox_env,
    socket_access,
)

ANSWER_MARGIN_S = 10.0
FREEZE_TIMEOUT_S = 30.0
BUILD_FIX = "run `agentd sandbox build`"
ENGINE_FIX = (
    "the Docker engine is not answering (DOCKER_HOST or /var/run/docker.sock): start it with "
    "`systemctl start docker` (or `dockerd &` where there is no systemd) and make sure agentd "
    "may use its socket"
)
_JOB_NAME = re.compile(r"[^A-Za-z0-9_.-]+")
log = structlog.get_logger("agentd.sandbox")

# ---------------------------------------------------------------- host-side edges


@contextlib.contextmanager
def docker_errors(action: str) -> Iterator[None]:
    """Turn Docker SDK failures into SandboxError with the fix in the message."""
    try:
        yield
    except docker.errors.ImageNotFound as exc:
        raise SandboxError(f"{action}: sandbox image not found: {BUILD_FIX}") from exc
    except docker.errors.APIError as exc:
        raise SandboxError(f"{action}: docker said: {exc.explanation or exc}") from exc
    except (docker.errors.DockerException, requests.RequestException) as exc:
        raise SandboxError(f"{action}: {ENGINE_FIX} ({exc})") from exc


def connect_docker() -> docker.DockerClient:
    """A client for the local engine, checked with a ping."""
    with warnings.catch_warnings():
        # docker's unix transport leaks the socket of a failed connect; let it go quietly here.
        warnings.simplefilter("ignore", ResourceWarning)
        client, problem = _engine_client()
        if client is None:
            gc.collect()
    if client is None:
        raise SandboxError(f"connect to Docker: {ENGINE_FIX} ({problem})")
    return client


def _engine_client() -> tuple[docker.DockerClient | None, str]:
    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except (docker.errors.DockerException, requests.RequestException) as exc:
        return None, str(exc)
    return client, ""


def chown_tree(root: Path, uid: int, gid: int) -> None:
    """lchown `root` and everything under it; never follows a symlink out of the tree."""
    os.lchown(root, uid, gid)
    for directory, dirnames, filenames in os.walk(root, followlinks=False):
        for name in (*dirnames, *filenames):
            with contextlib.suppress(FileNotFoundError):
                os.lchown(Path(directory, name), uid, gid)


# ---------------------------------------------------------------- the sandbox


class DockerSandbox:
    """One job's container: runs commands over the workspace through the runner's one connection."""

    def __init__(
        self,
        client: docker.DockerClient,
        config: SandboxConfig,
        spec: ContainerSpec,
        restore_owner: tuple[int, int] | None,
    ) -> None:
        self._client = client
        self._config = config
        self._spec = spec
        self._restore_owner = restore_owner
        self._container: Container | None = None
        self._channel: RunnerChannel | None = None
        self._closed = False
        self._stopped = ""
        self._lock = threading.Lock()

    @property
    def workspace(self) -> Path:
        """The host path mounted at /workspace."""
        return self._spec.workspace

    @property
    def container_id(self) -> str:
        """The Docker id of this sandbox's container."""
        if self._container is None:
            raise SandboxError("the sandbox has no container (not started)")
        return str(self._container.id)

    @property
    def owner(self) -> tuple[int, int]:
        """The uid:gid commands run as; files agentd writes for them should belong to it."""
        return self._spec.uid, self._spec.gid

    def start(self) -> None:
        """Listen, create the container, and keep the one connection its runner makes."""
        owner, mode, group, dir_mode = socket_access(os.geteuid(), self._spec.uid, self._spec.gid)
        listener = RunnerListener(self._spec.run_dir / SOCKET_NAME, owner, mode)
        try:
            if group is not None:
                os.chown(self._spec.run_dir, -1, group)
            self._spec.run_dir.chmod(dir_mode)
            with docker_errors(f"start sandbox {self._spec.name}"):
                self._container = self._client.containers.run(**container_options(self._config, self._spec))
            self._channel = self._connect(listener, time.monotonic() + self._config.start_timeout_s)
        finally:
            listener.close()  # nothing else may ever connect

    def seed_go_cache(self) -> None:
        """Link the image's read-only standard-library Go build cache into GOCACHE; only a speed-up, never fatal."""
        with trace.span("go cache seed"):
            try:
                seeded = self.run(SEED_GO_CACHE, timeout_s=60)
                why = "" if seeded.ok else (seeded.stderr.strip()[-300:] or f"exit {seeded.exit_code}")
            except DiskLimitExceeded:
                raise
            except SandboxError as exc:
                why = str(exc)
        if why:
            log.warning("the Go build cache was not seeded; builds start cold", sandbox=self._spec.name, why=why)

    def _connect(self, listener: RunnerListener, deadline: float) -> RunnerChannel:
        polls = 0

        def waiting() -> None:
            nonlocal polls
            polls += 1
            if polls % 20 == 0 and self._container_status() in {"exited", "dead"}:
                raise SandboxError(self._not_started(f"its container exited; an image older than agentd? {BUILD_FIX}"))

        try:
            sock = listener.accept(self._admit, deadline, waiting)
        except TimeoutError:
            raise SandboxError(self._not_started(f"no connection within {self._config.start_timeout_s:.0f}s")) from None
        channel = RunnerChannel(sock, self._spec.name)
        try:
            channel.hello(max(deadline - time.monotonic(), 1.0))
        except (OSError, ValueError) as exc:
            channel.close()
            raise SandboxError(self._not_started(f"{exc}; {BUILD_FIX}")) from exc
        return channel

    def _admit(self, peer: Peer) -> bool:
        """Only the container's init running as the sandbox user may be the runner."""
        assert self._container is not None
        with docker_errors(f"inspect sandbox {self._spec.name}"):
            self._container.reload()
        init_pid = int(self._container.attrs.get("State", {}).get("Pid") or 0)
        return is_the_runner(peer, init_pid, self._spec.uid)

    def _not_started(self, why: str) -> str:
        return f"sandbox {self._spec.name}: the runner did not start ({why}); container log:\n{self._logs()}"

    def _container_status(self) -> str:
        assert self._container is not None
        with docker_errors(f"inspect sandbox {self._spec.name}"):
            self._container.reload()
        return str(self._container.status)

    def _logs(self) -> str:
        if self._container is None:
            return "(no container)"
        try:
            return bytes(self._container.logs(tail=40)).decode(errors="replace").strip() or "(empty)"
        except (docker.errors.DockerException, requests.RequestException) as exc:
            return f"(cannot read the log: {exc})"

    def _request(self, payload: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        if self._closed:
            raise SandboxError(f"sandbox {self._spec.name} is closed")
        if self._stopped:
            raise DiskLimitExceeded(self._stopped)
        assert self._channel is not None
        try:
            answer = self._channel.request(payload, timeout_s)
        except OSError as exc:
            raise SandboxError(
                f"sandbox {self._spec.name}: the runner did not answer ({exc}); container log:\n{self._logs()}"
            ) from exc
        if answer.get("stopped"):
            self._stopped = str(answer["stopped"])
            raise DiskLimitExceeded(f"sandbox {self._spec.name}: {self._stopped}")
        return answer

    def run(
        self, argv: list[str], cwd: str = ".", timeout_s: float = 300.0, env: dict[str, str] | None = None
    ) -> CommandResult:
        """Run argv (no shell) in `cwd` relative to the workspace, within the deadline.

        Raises DiskLimitExceeded once the lane held more disk than its limit (then always).
        """
        if not argv:
            raise SandboxError("argv is empty: name a program to run")
        # Agents' commands are capped by execute_command; agentd's own test runs use test_timeout_s.
        if timeout_s <= 0:
            raise SandboxError(f"timeout_s = {timeout_s}: must be positive")
        request = {
            "op": "run",
            "argv": list(argv),
            "cwd": container_cwd(cwd),
            "env": {**self._spec.env, **(env or {})},
            "timeout_ms": int(timeout_s * 1000),
            "max_output": self._config.output_limit,
        }
        return result_from_answer(self._request(request, timeout_s + ANSWER_MARGIN_S))

    def freeze(self) -> int:
        """Kill every process in the sandbox but its runner (running commands too); return how many.

        When it returns nothing runs that could change the workspace until the next `run`; raises
        DiskLimitExceeded when the lane holds more disk than its limit.
        """
        return int(self._request({"op": "freeze"}, FREEZE_TIMEOUT_S)["killed"])

    def close(self) -> None:
        """Remove the container and the run directory, give the workspace back; idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        try:
            if self._container is not None:
                with docker_errors(f"remove {self._spec.name}"), contextlib.suppress(docker.errors.NotFound):
                    self._container.remove(force=True)
        finally:
            if self._channel is not None:
                self._channel.close()
            shutil.rmtree(self._spec.run_dir, ignore_errors=True)
            if self._restore_owner is not None:
                with contextlib.suppress(FileNotFoundError):  # the worktree may already be removed
                    chown_tree(self._spec.workspace, *self._restore_owner)

    def __enter__(self) -> DockerSandbox:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class DockerSandboxFactory:
    """Opens hardened sandboxes over workspaces; `reap` removes what a crashed daemon left."""

    def __init__(
        self,
        config: SandboxConfig,
        run_dir: Path,
        client: docker.DockerClient | None = None,
        host_env: Mapping[str, str] | None = None,
    ) -> None:
        """`host_env` is where the allowlisted names are read from (agentd's own environment by default)."""
        self._config = config
        self._run_dir = run_dir.absolute()
        self._client = client or connect_docker()
        self._host_env = host_env

    def check_image(self) -> None:
        """Raise SandboxError (saying to run `agentd sandbox build`) when the image is missing."""
        with docker_errors(f"sandbox image {self._config.image}"):
            self._client.images.get(self._config.image)

    def check_network(self) -> None:
        """Raise SandboxError naming the fix when sandbox.network would give the host away."""
        check_network(self._client, self._config.network)

    def open(
        self, workspace: Path, job_id: str, *, read_only: bool = False, cache_dir: Path | None = None
    ) -> DockerSandbox:
        """Start a sandbox with `workspace` at /workspace (read-only if asked); the caller closes it.

        `cache_dir` shares a Go build cache between the sandboxes of one job (same trust domain);
        the gate never gets one, so a poisoned cache cannot make a published tree look green.
        """
        spec = replace(self._spec(workspace, job_id, read_only), cache_dir=cache_dir)
        if cache_dir is not None:
            cache_dir.mkdir(parents=True, exist_ok=True)
            if os.geteuid() == 0:
                os.chown(cache_dir, spec.uid, spec.gid)
        self.check_image()
        self.check_network()  # again at every open: containers join networks after agentd started
        sandbox = DockerSandbox(self._client, self._config, spec, self._owner_to_restore(spec))
        try:
            if not spec.read_only and os.geteuid() == 0:
                chown_tree(spec.workspace, spec.uid, spec.gid)  # so the sandbox user can write
            spec.run_dir.mkdir(mode=0o700, parents=True)  # agentd's own: the sandbox never owns it
            sandbox.start()
            sandbox.seed_go_cache()
        except BaseException:
            sandbox.close()
            raise
        return sandbox

    def _spec(self, workspace: Path, job_id: str, read_only: bool) -> ContainerSpec:
        workspace = workspace.resolve()
        if not workspace.is_dir():
            raise SandboxError(f"workspace {workspace}: not a directory")
        git = workspace / ".git"
        if git.is_symlink():
            raise SandboxError(f"{git} is a symlink: agentd mounts a workspace's .git only as itself")
        uid, gid = resolve_user(self._config.user, os.geteuid(), os.getegid())
        name = f"agentd-{_JOB_NAME.sub('-', job_id)[:40].strip('-.') or 'job'}-{secrets.token_hex(4)}"
        return ContainerSpec(
            name=name,
            job_id=job_id,
            workspace=workspace,
            run_dir=self._run_dir / name,
            uid=uid,
            gid=gid,
            env=sandbox_env(self._config.env_allowlist, os.environ if self._host_env is None else self._host_env),
            read_only=read_only,
            git_path=git if git.exists() else None,
        )

    @staticmethod
    def _owner_to_restore(spec: ContainerSpec) -> tuple[int, int] | None:
        """The workspace's owner, when open() hands the workspace to another uid (root only)."""
        if spec.read_only or os.geteuid() != 0:
            return None
        info = spec.workspace.stat()
        owner = (info.st_uid, info.st_gid)
        return None if owner == (spec.uid, spec.gid) else owner

    def reap(self, *, everything: bool = False) -> int:
        """Remove the sandbox containers a crashed daemon left; return how many.

        By default only those whose run directory lies in this factory's run_dir, so another
        agentd on the same engine keeps its sandboxes; `everything` removes every container
        labelled agentd.managed=1.
        """
        with docker_errors("list sandbox containers"):
            # ignore_removed: on a shared engine a listed container may be gone before it is inspected
            labelled: dict[str, str | list[str] | bool] = {"label": f"{MANAGED_LABEL}=1"}
            containers = self._client.containers.list(all=True, filters=labelled, ignore_removed=True)
        reaped = 0
        for container in containers:
            run_dir = Path(container.labels.get(RUN_DIR_LABEL, "/nonexistent"))
            mine = run_dir.parent == self._run_dir
            if not (mine or everything):
                continue
            with docker_errors(f"remove {container.name}"), contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True)
            reaped += 1
            if mine:
                shutil.rmtree(run_dir, ignore_errors=True)
        return reaped
