"""An agentd in root mode (this process) and in non-root mode (a process of another uid), and the attack program.

Both open a real sandbox over a fresh workspace holding a known main.go and the attacker binary,
play the same steps (tests/hostile/scenario.py), and hand back what they observed plus the
workspace, so a test judges by state: files, processes, what agentd received.
"""

from __future__ import annotations

import grp
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import pytest

from sandbox.config import SandboxConfig
from tests.conftest import need
from tests.hostile.scenario import Step, open_and_play

REPO = Path(__file__).resolve().parents[2]
ATTACKER_SOURCE = Path(__file__).resolve().parent / "attacker"
NON_ROOT_UID = 43_210  # agentd's uid in non-root mode: no user of this machine, not the image's 10001/10002
MAIN_GO = "package main\n\nfunc main() {}\n"
RUNNER = "/opt/agentd/runner"


@dataclass
class Played:
    """What one agentd observed, step by step, and the workspace it played on."""

    observed: list[dict[str, Any]]
    workspace: Path

    def main_go(self) -> str:
        """main.go as it is on the host now."""
        return (self.workspace / "main.go").read_text()

    def disk_used(self) -> int:
        """Bytes the workspace really holds on the host (allocated blocks, links not followed)."""
        return sum(path.lstat().st_blocks * 512 for path in self.workspace.rglob("*"))


class Agentd:
    """Opens a sandbox as agentd does in one mode and plays steps on it."""

    def __init__(self, mode: str, root: Path, attacker: Path) -> None:
        self.mode = mode
        self._root = root
        self._attacker = attacker
        self._plays = 0

    def play(self, steps: list[Step], config: SandboxConfig | None = None) -> Played:
        """A fresh workspace and sandbox; the steps played on it; the sandbox closed again."""
        self._plays += 1
        base = self._root / f"play-{self._plays}"
        workspace, run_dir = base / "workspace", base / "run"
        workspace.mkdir(parents=True)
        (workspace / ".git").write_text("gitdir: /srv/repo/.git/worktrees/trust\n")
        (workspace / "go.mod").write_text("module example.com/trust\n\ngo 1.19\n")
        (workspace / "main.go").write_text(MAIN_GO)
        shutil.copy(self._attacker, workspace / "attacker")
        config = config or SandboxConfig()
        if self.mode == "root":
            return Played(open_and_play(workspace, run_dir, config, steps), workspace)
        for path in (base, *base.rglob("*")):
            os.lchown(path, NON_ROOT_UID, NON_ROOT_UID)
        return Played(self._as_non_root(workspace, run_dir, config, steps), workspace)

    def _as_non_root(self, workspace: Path, run_dir: Path, config: SandboxConfig, steps: list[Step]) -> Any:
        docker_group = grp.getgrnam("docker").gr_gid
        args = [str(workspace), str(run_dir), config.model_dump_json(), json.dumps(steps)]
        paths = sysconfig.get_paths()
        env = {
            "PATH": os.environ["PATH"],
            "HOME": str(self._root),
            "PYTHONPATH": os.pathsep.join([str(REPO), paths["purelib"], paths["platlib"]]),
        }
        if "DOCKER_HOST" in os.environ:
            env["DOCKER_HOST"] = os.environ["DOCKER_HOST"]
        done = subprocess.run(
            [other_uid_python(), "-m", "tests.hostile.scenario", *args],
            cwd=REPO,
            env=env,
            user=NON_ROOT_UID,
            group=NON_ROOT_UID,
            extra_groups=[docker_group],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])


def other_uid_python() -> str:
    """An interpreter another uid may run: this one, unless it lives in a private home (then the system's)."""
    system = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
    private = any(not parent.stat().st_mode & 0o001 for parent in Path(sys.executable).resolve().parents)
    return str(system) if private and system.exists() else sys.executable


@pytest.fixture(scope="session")
def attacker(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The attack program, built with the host's Go (static, like the runner)."""
    need(shutil.which("go") is not None, "go is not installed: apt-get install golang-go")
    output = tmp_path_factory.mktemp("attacker") / "attacker"
    env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-buildvcs=false", "GOPROXY": "off"}
    subprocess.run(["go", "build", "-o", str(output), "."], cwd=ATTACKER_SOURCE, env=env, check=True)
    return output


def _non_root_possible() -> bool:
    socket = Path(os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock").removeprefix("unix://"))
    try:
        group = grp.getgrnam("docker").gr_gid
    except KeyError:
        return False
    return os.geteuid() == 0 and socket.is_socket() and socket.stat().st_gid == group


@pytest.fixture(params=["root", "non-root"])
def agentd(
    request: pytest.FixtureRequest, docker_client: docker.DockerClient, sandbox_image: str, attacker: Path
) -> Iterator[Agentd]:
    """agentd in root mode (sandbox uid 10001) and in non-root mode (the sandbox runs as agentd's own uid)."""
    if request.param == "non-root":
        need(_non_root_possible(), "non-root mode needs root here (to become another uid) and a docker group")
    root = Path(tempfile.mkdtemp(prefix="agentd-trust-", dir="/tmp"))
    root.chmod(0o755)
    try:
        yield Agentd(request.param, root, attacker)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def only_the_runner(processes: list[str]) -> bool:
    """Whether the runner is the one process left in a container."""
    return len(processes) == 1 and processes[0].startswith(RUNNER)
