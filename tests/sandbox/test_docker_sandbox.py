"""The Docker sandbox, proven against a real engine and the real image (no mocks)."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

import docker
import docker.errors
import pytest

from agentd.kernel.errors import SandboxError
from sandbox.config import SandboxConfig
from sandbox.docker import DockerSandbox, DockerSandboxFactory

pytestmark = pytest.mark.docker

CANARY = "AGENTD_TEST_CANARY_SECRET"
NO_NETWORK_GO = """package main

import (
	"fmt"
	"net"
	"os"
	"time"
)

func main() {
	conn, err := net.DialTimeout("tcp", "192.0.2.1:443", 3*time.Second)
	if err != nil {
		fmt.Println("dial failed:", err)
		os.Exit(1)
	}
	conn.Close()
	fmt.Println("connected")
}
"""


def commands_in(client: docker.DockerClient, sandbox: DockerSandbox) -> list[str]:
    """The command lines of every process in the sandbox's container, seen from the host."""
    top = client.containers.get(sandbox.container_id).top(ps_args="-eo pid,args")
    return [row[-1] for row in top.get("Processes") or []]


def wait_until_gone(client: docker.DockerClient, sandbox: DockerSandbox, word: str, within_s: float) -> list[str]:
    """Poll the container's processes until none mentions `word`; return what is left."""
    deadline = time.monotonic() + within_s
    left = [c for c in commands_in(client, sandbox) if word in c]
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = [c for c in commands_in(client, sandbox) if word in c]
    return left


def test_container_is_hardened(
    docker_client: docker.DockerClient, factory: DockerSandboxFactory, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docker inspect shows a non-root, read-only, capless, networkless, limited container."""
    monkeypatch.setenv(CANARY, "leaked")
    with factory.open(workspace, "hardening") as sandbox:
        info = docker_client.api.inspect_container(sandbox.container_id)
    host, cfg = info["HostConfig"], info["Config"]
    assert cfg["User"] == "10001:10001"
    assert host["ReadonlyRootfs"] is True
    assert host["CapDrop"] == ["ALL"]
    assert host["CapAdd"] in (None, [])
    assert host["Privileged"] is False
    assert "no-new-privileges" in host["SecurityOpt"]
    assert not any("unconfined" in opt for opt in host["SecurityOpt"])
    assert host["NetworkMode"] == "none"
    assert host["Memory"] == 2 * 1024**3
    assert host["MemorySwap"] == host["Memory"]
    assert host["NanoCpus"] == 1_000_000_000
    assert host["PidsLimit"] == 256
    assert set(host["Tmpfs"]) == {"/tmp", "/home/sandbox"}
    assert {u["Name"]: u["Hard"] for u in host["Ulimits"]}["core"] == 0
    assert {m["Destination"] for m in info["Mounts"]} == {"/workspace", "/workspace/.git", "/run/agentd"}
    assert {m["Destination"]: m["RW"] for m in info["Mounts"]}["/run/agentd"] is False
    assert host["Init"] is False  # the runner is PID 1
    assert not any("docker.sock" in m["Source"] for m in info["Mounts"])
    assert not any(e.startswith(CANARY) for e in cfg["Env"])
    assert cfg["Labels"]["agentd.managed"] == "1"
    assert cfg["Labels"]["agentd.job"] == "hardening"


def test_host_environment_does_not_leak(
    factory: DockerSandboxFactory, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A variable in agentd's environment is invisible to commands unless allowlisted."""
    monkeypatch.setenv(CANARY, "leaked")
    with factory.open(workspace, "env") as sandbox:
        env = sandbox.run(["env"]).stdout
    assert CANARY not in env
    assert "leaked" not in env
    assert "GOPROXY=off" in env
    assert "HOME=/home/sandbox" in env


def test_allowlisted_variable_is_copied(
    docker_client: docker.DockerClient,
    sandbox_image: str,
    workspace: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A name listed in env_allowlist is copied from agentd's environment, nothing more."""
    monkeypatch.setenv("AGENTD_TEST_ALLOWED", "yes")
    monkeypatch.setenv(CANARY, "leaked")
    config = SandboxConfig(env_allowlist=["AGENTD_TEST_ALLOWED", "AGENTD_TEST_UNSET"])
    factory = DockerSandboxFactory(config, tmp_path / "run2", docker_client)
    with factory.open(workspace, "allow") as sandbox:
        env = sandbox.run(["env"]).stdout
    assert "AGENTD_TEST_ALLOWED=yes" in env
    assert "AGENTD_TEST_UNSET" not in env
    assert CANARY not in env


def test_command_writes_into_the_workspace(sandbox: DockerSandbox, workspace: Path) -> None:
    """A file a command writes under /workspace appears on the host, in a relative cwd too."""
    made = sandbox.run(["sh", "-c", "mkdir -p sub && echo hello > sub/made.txt"])
    assert made.ok, made.stderr
    assert (workspace / "sub" / "made.txt").read_text() == "hello\n"
    where = sandbox.run(["pwd"], cwd="sub")
    assert where.stdout == "/workspace/sub\n"


def test_git_pointer_is_read_only(sandbox: DockerSandbox, workspace: Path) -> None:
    """The worktree's .git file cannot be rewritten, removed or renamed from the sandbox."""
    pointer = (workspace / ".git").read_text()
    for argv in (["sh", "-c", "echo 'gitdir: /evil' > .git"], ["rm", "-f", ".git"], ["mv", ".git", "moved"]):
        result = sandbox.run(argv)
        assert result.exit_code != 0, argv
    assert (workspace / ".git").read_text() == pointer


def test_go_toolchain_works(sandbox: DockerSandbox) -> None:
    """`go version` runs in the sandbox and reports the Debian Go."""
    result = sandbox.run(["go", "version"])
    assert result.ok, result.stderr
    assert result.stdout.startswith("go version go1.")


def test_no_network(sandbox: DockerSandbox, workspace: Path) -> None:
    """Only the loopback interface exists and a Go program cannot connect out."""
    interfaces = sandbox.run(["ls", "/sys/class/net"])
    assert interfaces.stdout.split() == ["lo"]
    (workspace / "dial.go").write_text(NO_NETWORK_GO)
    result = sandbox.run(["go", "run", "dial.go"], timeout_s=120)
    assert result.exit_code == 1, result.stdout + result.stderr
    assert "dial failed" in result.stdout
    assert "unreachable" in result.stdout


def test_timeout_kills_the_process_group(docker_client: docker.DockerClient, sandbox: DockerSandbox) -> None:
    """A command past its deadline is reported timed out and its whole group dies within ~1 s."""
    started = time.monotonic()
    result = sandbox.run(["sh", "-c", "sleep 100 & sleep 30"], timeout_s=1)
    assert result.timed_out
    assert not result.ok
    assert time.monotonic() - started < 3
    assert wait_until_gone(docker_client, sandbox, "sleep", within_s=1.0) == []


def test_plain_sleep_times_out(sandbox: DockerSandbox) -> None:
    """`sleep 30` with a 1 s deadline comes back after about a second, timed out."""
    result = sandbox.run(["sleep", "30"], timeout_s=1)
    assert result.timed_out
    assert 900 <= result.duration_ms < 2500


def test_stragglers_die_with_their_leader(docker_client: docker.DockerClient, sandbox: DockerSandbox) -> None:
    """A background child outliving a successful command is killed when the leader exits."""
    started = time.monotonic()
    result = sandbox.run(["sh", "-c", "sleep 100 & echo started"])
    assert result.ok
    assert result.stdout == "started\n"
    assert time.monotonic() - started < 2
    assert wait_until_gone(docker_client, sandbox, "sleep", within_s=1.0) == []


def test_huge_output_is_capped(sandbox: DockerSandbox, config: SandboxConfig) -> None:
    """200 MB of output come back capped, with the cut marked, and the runner stays small."""
    result = sandbox.run(["head", "-c", "200000000", "/dev/zero"])
    assert result.ok
    assert result.truncated
    cut = 200_000_000 - config.output_limit
    assert f"\n[agentd: {cut} bytes cut]\n" in result.stdout
    assert len(result.stdout) <= config.output_limit + 64
    status = sandbox.run(["cat", "/proc/1/status"]).stdout
    peak_kb = int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1])
    assert peak_kb < 64 * 1024


def test_invalid_utf8_is_replaced(sandbox: DockerSandbox) -> None:
    """Bytes that are not UTF-8 arrive as U+FFFD instead of breaking the answer."""
    result = sandbox.run(["printf", "\\377\\376ok"])
    assert result.stdout.endswith("ok")
    assert "\ufffd" in result.stdout


def test_missing_executable_is_127(sandbox: DockerSandbox) -> None:
    """An unknown program gives exit code 127 and says so on stderr."""
    result = sandbox.run(["no-such-program-xyz"])
    assert result.exit_code == 127
    assert "no-such-program-xyz" in result.stderr
    assert "not found" in result.stderr


def test_escaping_cwd_is_refused(sandbox: DockerSandbox) -> None:
    """Absolute and '..' working directories raise SandboxError before reaching the runner."""
    for cwd in ("/etc", "../etc", "sub/../../etc"):
        with pytest.raises(SandboxError, match="relative"):
            sandbox.run(["true"], cwd=cwd)


def test_commands_run_concurrently(sandbox: DockerSandbox) -> None:
    """Two commands on one sandbox run side by side, not one after the other."""
    results: list[bool] = []
    workers = [threading.Thread(target=lambda: results.append(sandbox.run(["sleep", "1"]).ok)) for _ in range(2)]
    started = time.monotonic()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert results == [True, True]
    assert time.monotonic() - started < 1.8


def test_answers_reach_the_request_that_asked(sandbox: DockerSandbox) -> None:
    """Two commands in flight at once get their own answers, though the second one finishes first."""
    slow: list[str] = []
    worker = threading.Thread(target=lambda: slow.append(sandbox.run(["sh", "-c", "sleep 1; echo slow"]).stdout))
    worker.start()
    time.sleep(0.2)
    fast = sandbox.run(["echo", "fast"]).stdout
    worker.join()
    assert (slow, fast) == (["slow\n"], "fast\n")


def test_commands_cannot_leave_their_process_group(sandbox: DockerSandbox) -> None:
    """setsid and setpgid report success but change nothing: a child stays in its command's group."""
    result = sandbox.run(["sh", "-c", "echo $$; setsid sh -c 'cut -d\" \" -f5,6 /proc/self/stat'"])
    assert result.ok, result.stderr
    shell, groups = result.stdout.split("\n")[:2]
    assert groups == f"{shell} 1"  # pgid is the command's shell, session still the runner's


def test_a_dead_container_fails_the_running_command_at_once(
    docker_client: docker.DockerClient, sandbox: DockerSandbox
) -> None:
    """When the container dies mid-command, run() raises SandboxError right away, not at the deadline."""
    killer = threading.Timer(0.5, lambda: docker_client.containers.get(sandbox.container_id).kill())
    started = time.monotonic()
    killer.start()
    with pytest.raises(SandboxError, match="did not answer"):
        sandbox.run(["sleep", "60"], timeout_s=60)
    killer.join()
    assert time.monotonic() - started < 10


def test_fork_bomb_is_contained(docker_client: docker.DockerClient, sandbox: DockerSandbox) -> None:
    """A fork bomb hits the pids limit, is killed at its deadline, and the sandbox keeps working."""
    result = sandbox.run(["sh", "-c", "b() { b | b & }; b; sleep 5"], timeout_s=5)
    assert result.exit_code != 0 or result.timed_out
    assert "Cannot fork" in result.stderr  # the pids limit stopped it, not the deadline alone
    assert subprocess.run(["true"], check=False).returncode == 0  # the host still forks
    assert wait_until_gone(docker_client, sandbox, "sh -c", within_s=3.0) == []
    after = sandbox.run(["echo", "alive"])
    assert after.stdout == "alive\n"


def test_read_only_sandbox_cannot_write(factory: DockerSandboxFactory, workspace: Path) -> None:
    """A read-only sandbox can read the workspace but not change it, nor its ownership."""
    before = workspace.stat()
    with factory.open(workspace, "gate", read_only=True) as sandbox:
        assert sandbox.run(["cat", "go.mod"]).ok
        assert not sandbox.run(["touch", "new.txt"]).ok
        assert workspace.stat().st_uid == before.st_uid
    assert not (workspace / "new.txt").exists()


def test_close_removes_everything_and_is_idempotent(
    docker_client: docker.DockerClient, factory: DockerSandboxFactory, workspace: Path
) -> None:
    """close() removes the container and run dir, gives the workspace back, and may repeat."""
    owner = workspace.stat().st_uid
    sandbox = factory.open(workspace, "closing")
    sandbox.run(["touch", "made-inside"])
    container_id = sandbox.container_id
    sandbox.close()
    sandbox.close()
    with pytest.raises(docker.errors.NotFound):
        docker_client.containers.get(container_id)
    assert not list((factory_run_dir := workspace.parent / "run").glob("*")), factory_run_dir
    assert (workspace / "made-inside").stat().st_uid == owner
    with pytest.raises(SandboxError, match="closed"):
        sandbox.run(["true"])


def test_reap_removes_what_this_daemon_left(
    docker_client: docker.DockerClient,
    factory: DockerSandboxFactory,
    config: SandboxConfig,
    workspace: Path,
    tmp_path: Path,
) -> None:
    """reap() removes the labelled containers of its own run dir and spares another daemon's."""
    other = DockerSandboxFactory(config, tmp_path / "other-daemon", docker_client)
    forgotten = factory.open(workspace, "crashed")
    neighbour = other.open(workspace, "neighbour", read_only=True)
    try:
        assert factory.reap() == 1
        with pytest.raises(docker.errors.NotFound):
            docker_client.containers.get(forgotten.container_id)
        assert not (tmp_path / "run").exists() or not list((tmp_path / "run").iterdir())
        assert neighbour.run(["true"]).ok
        labels = docker_client.containers.get(neighbour.container_id).labels
        assert labels["agentd.managed"] == "1"
    finally:
        forgotten.close()
        neighbour.close()


def test_reap_survives_a_container_removed_between_listing_and_inspecting(
    docker_client: docker.DockerClient, config: SandboxConfig, workspace: Path, tmp_path: Path
) -> None:
    """Another agentd removing its sandbox while this one reaps (a shared engine) does not fail the reap.

    The removal is made to happen exactly between Docker's list and its inspect of that container,
    by removing it (for real) just before the first inspect.
    """
    other = DockerSandboxFactory(config, tmp_path / "other-daemon", docker_client)
    neighbour = other.open(workspace, "neighbour", read_only=True)
    real_inspect = docker_client.api.inspect_container
    removed: list[str] = []

    def inspect_after_removal(container: str) -> dict[str, object]:
        if not removed:
            removed.append(neighbour.container_id)
            docker_client.api.remove_container(neighbour.container_id, force=True)
        return real_inspect(container)  # type: ignore[no-any-return]

    docker_client.api.inspect_container = inspect_after_removal  # type: ignore[method-assign]
    try:
        assert DockerSandboxFactory(config, tmp_path / "run", docker_client).reap() == 0
    finally:
        docker_client.api.inspect_container = real_inspect  # type: ignore[method-assign]
        neighbour.close()
    assert removed == [neighbour.container_id]


def test_missing_image_says_how_to_build(docker_client: docker.DockerClient, workspace: Path, tmp_path: Path) -> None:
    """Opening a sandbox on an image that does not exist tells the user to build it."""
    config = SandboxConfig(image="agentd-sandbox-missing:never")
    factory = DockerSandboxFactory(config, tmp_path / "run3", docker_client)
    with pytest.raises(SandboxError, match="agentd sandbox build"):
        factory.open(workspace, "missing")


def test_runs_as_sandbox_user_not_root(sandbox: DockerSandbox) -> None:
    """Commands run as uid 10001 (agentd is root here) with no capabilities at all."""
    assert os.geteuid() == 0 or sandbox.owner == (os.geteuid(), os.getegid())
    ids = sandbox.run(["id", "-u"]).stdout.strip()
    assert ids == str(sandbox.owner[0])
    caps = sandbox.run(["grep", "CapEff", "/proc/self/status"]).stdout
    assert caps.split()[-1] == "0000000000000000"


def test_a_new_sandbox_builds_with_the_images_standard_library_cache(
    factory: DockerSandboxFactory, workspace: Path
) -> None:
    """A fresh sandbox's GOCACHE links the image's read-only entries: `go test` vets only the package itself."""
    (workspace / "fine_test.go").write_text(
        'package demo\n\nimport (\n\t"fmt"\n\t"testing"\n)\n\n'
        'func TestFine(t *testing.T) {\n\tif fmt.Sprint(1) != "1" {\n\t\tt.Fatal("fmt")\n\t}\n}\n'
    )
    with factory.open(workspace, "seeded") as sandbox:
        links = sandbox.run(["sh", "-c", 'find "$GOCACHE" -type l -lname "/opt/agentd/gocache/*" | wc -l'])
        tested = sandbox.run(["go", "test", "-x", "./..."], timeout_s=120)
    assert int(links.stdout) > 1000
    assert tested.ok, tested.stderr[-2000:]
    assert tested.stderr.count("/vet ") == 1  # fmt's and testing's vet facts came from the image
