"""The Docker sandbox: one hardened container per job; commands go through its runner.

The container runs `sandbox/runner` as its only process. agentd talks to it over a unix socket
in a per-sandbox host directory mounted at /run/agentd: one JSON request, one JSON answer.
Everything an agent runs is a child of that runner, so deadlines, output caps and killing
stragglers happen next to the process, not across the Docker API.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import json
import os
import re
import secrets
import shutil
import socket
import threading
import time
import warnings
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any

import docker
import docker.errors
import requests
from docker.models.containers import Container
from docker.types import Mount, Ulimit

from agentd.kernel.errors import SandboxError
from agentd.kernel.seams import CommandResult
from sandbox.build import IMAGE_PATH, RUNNER_PATH, RUNNER_SOCKET, SANDBOX_GID, SANDBOX_UID
from sandbox.config import SandboxConfig

WORKSPACE = "/workspace"
HOME = "/home/sandbox"
RUN_MOUNT = str(PurePosixPath(RUNNER_SOCKET).parent)
POSTGRES_SOCKET_MOUNT = "/run/postgresql"
SOCKET_NAME = PurePosixPath(RUNNER_SOCKET).name
MANAGED_LABEL = "agentd.managed"
JOB_LABEL = "agentd.job.job"
RUN_DIR_LABEL = "agentd.run_dir"
ANSWER_MARGIN_S = 10.0
MAX_ANSWER_BYTES = 64 << 20
BASE_ENV = {
    "HOME": HOME,
    "PATH": IMAGE_PATH,
    "LANG": "C.UTF-8",
    "GOFLAGS": "-buildvcs=false",
    "GOCACHE": f"{HOME}/.cache/go-build",
    "GOPATH": f"{HOME}/go",
    "GOPROXY": "off",
    "GOTOOLCHAIN": "local",
    "CGO_ENABLED": "0",
}
ENGINE_FIX = (
    "the Docker engine is not answering (DOCKER_HOST or /var/run/docker.sock): start it with "
    "`systemctl start docker` (or `dockerd &` where there is no systemd) and make sure agentd "
    "may use its socket"
)
BUILD_FIX = "run `agentd sandbox build`"
_JOB_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


# ---------------------------------------------------------------- pure parts


def resolve_user(setting: str, euid: int, egid: int) -> tuple[int, int]:
    """The sandbox's uid:gid: 'auto' is 10001 under a root agentd, else agentd's own ids."""
    if setting == "auto":
        return (SANDBOX_UID, SANDBOX_GID) if euid == 0 else (euid, egid)
    uid_text, _, gid_text = setting.partition(":")
    if not uid_text.isdigit() or (gid_text and not gid_text.isdigit()):
        raise SandboxError(f"sandbox.user = {setting!r}: expected 'auto', 'UID' or 'UID:GID' (numbers)")
    uid = int(uid_text)
    gid = int(gid_text) if gid_text else uid
    if uid == 0 or gid == 0:
        raise SandboxError(f"sandbox.user = {setting!r}: the sandbox never runs as root; use 'auto'")
    return uid, gid


def sandbox_env(allowlist: Iterable[str], host_env: Mapping[str, str]) -> dict[str, str]:
    """The sandbox's environment: fixed values plus the allowlisted names agentd has set."""
    env = dict(BASE_ENV)
    env.update({name: host_env[name] for name in allowlist if name in host_env})
    return env


def container_cwd(cwd: str) -> str:
    """Map a workspace-relative directory to its path in the container; refuse escapes."""
    path = PurePosixPath(cwd or ".")
    if "\x00" in cwd or path.is_absolute() or ".." in path.parts:
        raise SandboxError(f"cwd {cwd!r}: must be relative to the workspace, without '..'")
    return str(PurePosixPath(WORKSPACE) / path)


def result_from_answer(answer: Mapping[str, Any]) -> CommandResult:
    """Turn the runner's JSON answer into a CommandResult; an error answer raises."""
    if "error" in answer:
        raise SandboxError(f"the sandbox runner refused the request: {answer['error']}")
    try:
        return CommandResult(
            exit_code=int(answer["exit_code"]),
            stdout=str(answer["stdout"]),
            stderr=str(answer["stderr"]),
            duration_ms=float(answer["duration_ms"]),
            truncated=bool(answer["truncated"]),
            timed_out=bool(answer["timed_out"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise SandboxError(f"the sandbox runner answered something unexpected: {exc!r}") from exc


@dataclass(frozen=True)
class ContainerSpec:
    """What one sandbox container is made of, besides the config."""

    name: str
    job_id: str
    workspace: Path
    run_dir: Path
    uid: int
    gid: int
    env: dict[str, str]
    read_only: bool = False
    git_path: Path | None = None
    cache_dir: Path | None = None  # a Go build cache shared by the sandboxes of one job (never the gate's)


GO_BUILD_CACHE = f"{HOME}/.cache/go-build"


def container_options(config: SandboxConfig, spec: ContainerSpec) -> dict[str, Any]:
    """The keyword arguments of `containers.run` for a hardened sandbox."""
    mounts = [
        Mount(WORKSPACE, str(spec.workspace), type="bind", read_only=spec.read_only),
        Mount(RUN_MOUNT, str(spec.run_dir), type="bind"),
    ]
    if spec.git_path is not None:
        mounts.append(Mount(f"{WORKSPACE}/.git", str(spec.git_path), type="bind", read_only=True))
    if spec.cache_dir is not None:
        mounts.append(Mount(GO_BUILD_CACHE, str(spec.cache_dir), type="bind"))
    if config.postgres_socket_dir is not None:
        mounts.append(Mount(POSTGRES_SOCKET_MOUNT, str(config.postgres_socket_dir), type="bind", read_only=True))
    tmpfs_flags = "rw,exec,nosuid,nodev"  # exec: `go test` runs its binaries from /tmp
    return {
        "image": config.image,
        "name": spec.name,
        "command": [
            RUNNER_PATH,
            "-socket",
            RUNNER_SOCKET,
            "-max-file-size",
            str(config.max_file_size),
            "-max-open-files",
            str(config.max_open_files),
        ],
        "user": f"{spec.uid}:{spec.gid}",
        "environment": spec.env,
        "working_dir": WORKSPACE,
        "hostname": "sandbox",
        "labels": {MANAGED_LABEL: "1", JOB_LABEL: spec.job_id, RUN_DIR_LABEL: str(spec.run_dir)},
        "read_only": True,
        "tmpfs": {
            "/tmp": f"{tmpfs_flags},size={config.tmp_size},mode=1777",  # noqa: S108 - in the container
            HOME: f"{tmpfs_flags},size={config.home_size},uid={spec.uid},gid={spec.gid},mode=0700",
        },
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "network_mode": config.network or "none",
        "mem_limit": config.memory,
        "memswap_limit": config.memory,
        "nano_cpus": int(config.cpus * 1e9),
        "pids_limit": config.pids_limit,
        "ulimits": [
            Ulimit(name="nofile", soft=config.max_open_files, hard=config.max_open_files),
            Ulimit(name="nproc", soft=config.max_processes, hard=config.max_processes),
            Ulimit(name="core", soft=0, hard=0),
            Ulimit(name="fsize", soft=config.max_file_size, hard=config.max_file_size),
        ],
        "mounts": mounts,
        "detach": True,
    }


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


def call_runner(socket_path: Path, request: Mapping[str, Any], timeout_s: float) -> dict[str, Any]:
    """Send one request to the runner and return its answer; OSError/ValueError on failure."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout_s)
        _connect(sock, socket_path)
        sock.sendall(json.dumps(request).encode() + b"\n")
        chunks: list[bytes] = []
        size = 0
        while not chunks or not chunks[-1].endswith(b"\n"):
            chunk = sock.recv(1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_ANSWER_BYTES:
                raise ValueError(f"runner answer longer than {MAX_ANSWER_BYTES} bytes")
    answer = json.loads(b"".join(chunks))
    if not isinstance(answer, dict):
        raise ValueError("runner answer is not a JSON object")  # noqa: TRY004 - malformed, like bad JSON
    return answer


def _connect(sock: socket.socket, path: Path) -> None:
    if len(os.fsencode(path)) < 100:
        sock.connect(str(path))
        return
    # sun_path holds ~107 bytes: reach a socket in a deep directory through a directory fd.
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        sock.connect(f"/proc/self/fd/{fd}/{path.name}")
    finally:
        os.close(fd)


# ---------------------------------------------------------------- the sandbox


class DockerSandbox:
    """One job's container: runs commands over the workspace through the runner's socket."""

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
        self._socket = spec.run_dir / SOCKET_NAME
        self._container: Container | None = None
        self._closed = False
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
        """Create the container and wait until its runner answers."""
        with docker_errors(f"start sandbox {self._spec.name}"):
            self._container = self._client.containers.run(**container_options(self._config, self._spec))
        self._wait_ready(self._config.start_timeout_s)
        # The runner made its socket; from now on the sandbox may not swap it for something else.
        if os.geteuid() == 0:
            os.chown(self._spec.run_dir, 0, 0)
        self._spec.run_dir.chmod(0o555)

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        for attempt in itertools.count():
            with contextlib.suppress(OSError, ValueError):
                if call_runner(self._socket, {"op": "ping"}, timeout_s=1.0).get("ok"):
                    return
            # The runner usually listens within milliseconds: poll fast, ask Docker only now and then.
            if attempt % 20 != 19 and time.monotonic() <= deadline:
                time.sleep(0.005)
                continue
            status = self._container_status()
            if status in {"exited", "dead"} or time.monotonic() > deadline:
                why = f"its container {status}" if status in {"exited", "dead"} else "no answer"
                raise SandboxError(
                    f"sandbox {self._spec.name}: the runner did not start ({why} "
                    f"within {timeout_s:.0f}s); container log:\n{self._logs()}"
                )
            time.sleep(0.05)

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

    def run(
        self, argv: list[str], cwd: str = ".", timeout_s: float = 300.0, env: dict[str, str] | None = None
    ) -> CommandResult:
        """Run argv (no shell) in `cwd` relative to the workspace, within the deadline."""
        if self._closed:
            raise SandboxError(f"sandbox {self._spec.name} is closed")
        if not argv:
            raise SandboxError("argv is empty: name a program to run")
        # Agents' commands are capped by execute_command; agentd's own test runs use test_timeout_s.
        deadline = timeout_s
        if deadline <= 0:
            raise SandboxError(f"timeout_s = {timeout_s}: must be positive")
        request = {
            "op": "run",
            "argv": list(argv),
            "cwd": container_cwd(cwd),
            "env": {**self._spec.env, **(env or {})},
            "timeout_ms": int(deadline * 1000),
            "max_output": self._config.output_limit,
        }
        try:
            answer = call_runner(self._socket, request, deadline + ANSWER_MARGIN_S)
        except (OSError, ValueError) as exc:
            raise SandboxError(
                f"sandbox {self._spec.name}: the runner did not answer ({exc}); container log:\n{self._logs()}"
            ) from exc
        return result_from_answer(answer)

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
            with contextlib.suppress(OSError):  # start() made it read-only; a non-root agentd must undo that
                self._spec.run_dir.chmod(0o700)
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
        sandbox = DockerSandbox(self._client, self._config, spec, self._owner_to_restore(spec))
        try:
            if not spec.read_only and os.geteuid() == 0:
                chown_tree(spec.workspace, spec.uid, spec.gid)  # so the sandbox user can write
            spec.run_dir.mkdir(mode=0o700, parents=True)
            if os.geteuid() == 0:
                os.chown(spec.run_dir, spec.uid, spec.gid)
            sandbox.start()
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
            containers = self._client.containers.list(all=True, filters={"label": f"{MANAGED_LABEL}=1"})
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
