"""The sandbox's pure parts: who it runs as, its environment, its container's options, the runner's answers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from docker.types import Mount, Ulimit

from agentd.kernel.errors import DiskLimitExceeded, SandboxError
from agentd.kernel.seams import CommandResult
from sandbox.build import GO_CACHE_SEED, IMAGE_PATH, RUNNER_PATH, RUNNER_SOCKET, SANDBOX_GID, SANDBOX_UID
from sandbox.config import SandboxConfig

WORKSPACE = "/workspace"
HOME = "/home/sandbox"
RUN_MOUNT = str(PurePosixPath(RUNNER_SOCKET).parent)
SOCKET_NAME = PurePosixPath(RUNNER_SOCKET).name
MANAGED_LABEL = "agentd.managed"
JOB_LABEL = "agentd.job"
RUN_DIR_LABEL = "agentd.run_dir"
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
    if answer.get("stopped"):
        raise DiskLimitExceeded(str(answer["stopped"]))
    try:
        return CommandResult(
            exit_code=int(answer["exit_code"]),
            stdout=str(answer["stdout"]),
            stderr=str(answer["stderr"]),
            duration_ms=float(answer["duration_ms"]),
            truncated=bool(answer["truncated"]),
            timed_out=bool(answer["timed_out"]),
            killed=int(answer.get("killed", 0)),
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
# Links every entry of the image's read-only standard-library cache into GOCACHE (once: trim.txt
# marks a seeded cache); new entries stay the sandbox's own. trim.txt is fresh so Go never trims the
# links for the age of the image's files. An image without the cache is left as it is.
SEED_GO_CACHE = [
    "sh",
    "-c",
    f'[ -d {GO_CACHE_SEED} ] || exit 0; [ -e "$GOCACHE/trim.txt" ] && exit 0; mkdir -p "$GOCACHE" '
    f'&& cp -Rsn {GO_CACHE_SEED}/. "$GOCACHE"/ && date +%s > "$GOCACHE/trim.txt"',
]
POSTGRES_SOCKET_MOUNT = "/run/postgresql"  # libpq's default socket directory


def container_options(config: SandboxConfig, spec: ContainerSpec) -> dict[str, Any]:
    """The keyword arguments of `containers.run` for a hardened sandbox."""
    mounts = [
        Mount(WORKSPACE, str(spec.workspace), type="bind", read_only=spec.read_only),
        # Read-only: the sandbox can reach agentd's listener in it, never add, swap or remove a file.
        Mount(RUN_MOUNT, str(spec.run_dir), type="bind", read_only=True),
    ]
    if spec.git_path is not None:
        mounts.append(Mount(f"{WORKSPACE}/.git", str(spec.git_path), type="bind", read_only=True))
    if spec.cache_dir is not None:
        mounts.append(Mount(GO_BUILD_CACHE, str(spec.cache_dir), type="bind"))
    if config.postgres_socket_dir is not None:
        mounts.append(Mount(POSTGRES_SOCKET_MOUNT, str(config.postgres_socket_dir), type="bind", read_only=True))
    tmpfs_flags = "rw,exec,nosuid,nodev"  # exec: `go test` runs its binaries from /tmp
    max_file_size = min(config.max_file_size, config.disk_limit)
    watched = [WORKSPACE] + ([GO_BUILD_CACHE] if spec.cache_dir is not None else [])
    return {
        "image": config.image,
        "name": spec.name,
        "command": [
            RUNNER_PATH,
            "-connect",
            RUNNER_SOCKET,
            "-max-file-size",
            str(max_file_size),
            "-max-open-files",
            str(config.max_open_files),
            "-disk-limit",
            str(config.disk_limit),
            "-disk-watch",
            ",".join(watched),
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
        "init": False,  # the runner must be PID 1 (an engine may default to --init)
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
            Ulimit(name="fsize", soft=max_file_size, hard=max_file_size),
        ],
        "mounts": mounts,
        "detach": True,
    }


def socket_access(euid: int, uid: int, gid: int) -> tuple[tuple[int, int] | None, int, int | None, int]:
    """How agentd shares its run directory with the runner: (socket owner, socket mode, dir group, dir mode).

    Root hands the socket to the sandbox user and lets only its group through the directory; a
    non-root agentd whose sandbox runs as itself keeps both private. Otherwise (a non-root agentd
    told to use another uid) the socket must be open to all: the peer check alone keeps it agentd's.
    """
    if euid == 0:
        return (uid, gid), 0o600, gid, 0o710
    if euid == uid:
        return None, 0o600, None, 0o700
    return None, 0o666, None, 0o711
