"""The sandbox's pure parts: user, environment, working directory and container options."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentd.kernel.errors import DiskLimitExceeded, SandboxError
from sandbox.build import GO_CACHE_SCRIPT, GO_CACHE_SEED
from sandbox.config import SandboxConfig
from sandbox.plan import (
    BASE_ENV,
    SEED_GO_CACHE,
    ContainerSpec,
    container_cwd,
    container_options,
    resolve_user,
    result_from_answer,
    sandbox_env,
    socket_access,
)


def test_auto_user_is_10001_under_root_else_own_ids() -> None:
    """'auto' maps a root agentd to 10001:10001 and any other agentd to its own uid:gid."""
    assert resolve_user("auto", 0, 0) == (10001, 10001)
    assert resolve_user("auto", 1000, 100) == (1000, 100)
    assert resolve_user("2000:3000", 0, 0) == (2000, 3000)
    assert resolve_user("2000", 0, 0) == (2000, 2000)


@pytest.mark.parametrize("setting", ["0", "0:0", "1000:0", "root", "1000:x"])
def test_root_or_malformed_user_is_refused(setting: str) -> None:
    """The sandbox never runs as root, and a malformed user setting is named."""
    with pytest.raises(SandboxError, match=r"sandbox\.user"):
        resolve_user(setting, 0, 0)


def test_env_is_an_allowlist() -> None:
    """Only fixed values and allowlisted names that are set reach the sandbox."""
    env = sandbox_env(["WANTED", "ABSENT"], {"WANTED": "1", "OPENAI_API_KEY": "sk-secret", "HOME": "/root"})
    assert env["WANTED"] == "1"
    assert "ABSENT" not in env
    assert "OPENAI_API_KEY" not in env
    assert env["HOME"] == "/home/sandbox"
    assert env["GOPROXY"] == "off"


def test_cwd_maps_into_the_workspace() -> None:
    """Relative directories map under /workspace; absolute and '..' ones are refused."""
    assert container_cwd(".") == "/workspace"
    assert container_cwd("") == "/workspace"
    assert container_cwd("pkg/sub/") == "/workspace/pkg/sub"
    for bad in ("/etc", "..", "a/../../b", "a\x00b"):
        with pytest.raises(SandboxError):
            container_cwd(bad)


def test_options_are_hardened(tmp_path: Path) -> None:
    """The container options carry every hardening item and mount nothing but the three paths."""
    spec = ContainerSpec(
        name="agentd-x-1",
        job_id="x",
        workspace=tmp_path,
        run_dir=tmp_path / "run",
        uid=10001,
        gid=10001,
        env={"HOME": "/home/sandbox"},
        git_path=tmp_path / ".git",
    )
    options = container_options(SandboxConfig(), spec)
    assert options["user"] == "10001:10001"
    assert options["read_only"] is True
    assert options["cap_drop"] == ["ALL"]
    assert options["security_opt"] == ["no-new-privileges"]
    assert options["network_mode"] == "none"
    assert options["memswap_limit"] == options["mem_limit"] == "2g"
    assert options["pids_limit"] == 256
    assert "uid=10001" in options["tmpfs"]["/home/sandbox"]
    assert "mode=1777" in options["tmpfs"]["/tmp"]
    assert options["init"] is False  # the runner is PID 1, whatever the engine's default
    targets = {(m["Target"], m["ReadOnly"]) for m in options["mounts"]}
    assert targets == {("/workspace", False), ("/workspace/.git", True), ("/run/agentd", True)}
    assert options["labels"]["agentd.managed"] == "1"
    assert "privileged" not in options


def test_disk_limit_reaches_the_runner_and_caps_file_size(tmp_path: Path) -> None:
    """The runner gets the disk limit and the roots it covers; RLIMIT_FSIZE is never above the limit."""
    spec = ContainerSpec("agentd-x-1", "x", tmp_path, tmp_path / "run", 10001, 10001, {}, cache_dir=tmp_path / "c")
    options = container_options(SandboxConfig(disk_limit=64 << 20), spec)
    command = options["command"]
    assert command[command.index("-disk-limit") + 1] == str(64 << 20)
    assert command[command.index("-disk-watch") + 1] == "/workspace,/home/sandbox/.cache/go-build"
    assert command[command.index("-max-file-size") + 1] == str(64 << 20)
    assert {u["Name"]: u["Hard"] for u in options["ulimits"]}["fsize"] == 64 << 20


def test_socket_access_keeps_the_run_directory_agentds() -> None:
    """Root hands only the socket to the sandbox user; a non-root agentd keeps everything private."""
    assert socket_access(0, 10001, 10001) == ((10001, 10001), 0o600, 10001, 0o710)
    assert socket_access(1000, 1000, 1000) == (None, 0o600, None, 0o700)
    assert socket_access(1000, 2000, 2000) == (None, 0o666, None, 0o711)


def test_stopped_answer_raises_disk_limit_exceeded() -> None:
    """A runner answer saying the lane was stopped becomes DiskLimitExceeded, whatever else it says."""
    answer = {"exit_code": 137, "stdout": "", "stderr": "", "truncated": False, "timed_out": False, "duration_ms": 1}
    with pytest.raises(DiskLimitExceeded, match="over its limit"):
        result_from_answer({**answer, "stopped": "the lane holds 5 MiB, over its limit"})


def test_runner_error_answer_raises() -> None:
    """A runner 'error' answer becomes SandboxError; a normal one a CommandResult."""
    with pytest.raises(SandboxError, match="bad request"):
        result_from_answer({"error": "bad request: x"})
    result = result_from_answer(
        {"exit_code": 0, "stdout": "a", "stderr": "", "truncated": False, "timed_out": False, "duration_ms": 1.5}
    )
    assert result.ok
    assert result.duration_ms == 1.5


def test_the_images_go_cache_is_baked_under_the_sandboxs_go_settings() -> None:
    """gocache.sh builds with the sandbox's own Go settings (they are in every cache key) into GO_CACHE_SEED."""
    exported = dict(
        word.split("=", 1)
        for line in GO_CACHE_SCRIPT.read_text().splitlines()
        if line.startswith("export ")
        for word in line.split()[1:]
    )
    for name in ("CGO_ENABLED", "GOFLAGS", "GOPROXY", "GOTOOLCHAIN"):
        assert exported[name] == BASE_ENV[name], name
    assert exported["GOCACHE"] == GO_CACHE_SEED
    assert GO_CACHE_SEED in SEED_GO_CACHE[-1]
