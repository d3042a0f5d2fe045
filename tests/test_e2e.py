"""agentd end to end: real git, the real Docker sandbox, the scripted model over real HTTP."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from agentd.app import App
from agentd.config import load_config
from agentd.demo import break_the_build, run_demo
from agentd.models.scripted import Script, ScriptedModelServer
from agentd.store import open_store
from agentd.store.base import Task
from tests.conftest import git

pytestmark = pytest.mark.docker
CANARY = "sk-canary-5f1e0c9d7b"


def leftovers(client: docker.DockerClient, state_dir: Path) -> list[str]:
    """Containers this test's agentd (its state directory) labelled and did not remove.

    Listed sparse (no inspect of each): on a shared engine another test's container may vanish
    between the listing and its inspection.
    """
    containers = client.containers.list(all=True, filters={"label": "agentd.managed=1"}, sparse=True)
    labelled = [(c.attrs.get("Names") or [c.id], c.attrs.get("Labels") or {}) for c in containers]
    return [names[0] for names, labels in labelled if labels.get("agentd.run_dir", "").startswith(str(state_dir))]


def host_go_test(repo: Path, ref: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Check out `ref` into a scratch tree and run `go test ./...` on the host: an independent check."""
    tree = tmp_path / "verify"
    git(repo, "worktree", "add", "--detach", str(tree), ref)
    env = {
        "PATH": "/usr/bin:/bin:/usr/local/bin",
        "HOME": str(tmp_path),
        "GOFLAGS": "-buildvcs=false",
        "GOCACHE": str(tmp_path / "gocache"),
        "GOPROXY": "off",
    }
    return subprocess.run(["go", "test", "./..."], cwd=tree, env=env, capture_output=True, text=True, check=False)


def test_demo_commits_a_fix_whose_tests_pass(
    tmp_path: Path, sandbox_image: str, docker_client: docker.DockerClient
) -> None:
    """`agentd demo` ends with the fix on agentd/commit-<sha7>; main is untouched; the branch's tests pass."""
    result = run_demo(tmp_path / "demo", say=lambda _line: None, timeout_s=300)
    repo = Path(result.repository)
    broken = git(repo, "rev-parse", "main")
    assert result.status == "fixed"
    assert result.branch == f"agentd/commit-{broken[:7]}"
    assert result.tests_passed
    assert git(repo, "rev-parse", result.branch) == result.commit
    assert git(repo, "rev-parse", f"{result.branch}^") == broken
    message = git(repo, "log", "-1", "--format=%B", result.branch)
    for trailer in ("Agentd-Task: ", "Agentd-Debate: ", "Agentd-Votes: ", "Agentd-Models: "):
        assert trailer in message
    assert host_go_test(repo, "main", tmp_path).returncode != 0
    assert host_go_test(repo, result.branch, tmp_path / "b").returncode == 0
    assert leftovers(docker_client, tmp_path / "demo" / "state") == []
    assert list((tmp_path / "demo" / "state" / "worktrees").iterdir()) == []


@pytest.fixture
def openai_compatible(monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedModelServer]:
    """A scripted OpenAI-compatible server the test points agentd at, as a user points it at vLLM."""
    monkeypatch.setenv("AGENTD_TEST_OPENAI_KEY", CANARY)
    with ScriptedModelServer(Script.load("demo")) as server:
        yield server


def write_config(tmp_path: Path, repo: Path, server: ScriptedModelServer) -> Path:
    """A config using provider "openai" with base_url and a key from the environment."""
    path = tmp_path / "agentd.toml"
    path.write_text(
        f'[daemon]\nstate_dir = "{tmp_path / "state"}"\n'
        f'[repository]\npath = "{repo}"\nwatch_branches = ["main"]\ntest_command = ["go", "test", "./..."]\n'
        f'[models.default]\nprovider = "openai"\nmodel = "my-vllm-model"\nbase_url = "{server.openai_base_url}"\n'
        'api_key_env = "AGENTD_TEST_OPENAI_KEY"\n'
    )
    return path


def run_daemon_until(config_path: Path, done: object, timeout_s: float = 300) -> None:
    """Run the daemon in a thread until `done()` is true, then stop it."""
    daemon = App(load_config(config_path))
    thread = threading.Thread(target=daemon.run, kwargs={"install_signals": False}, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline and not done():  # type: ignore[operator]
            time.sleep(0.2)
    finally:
        daemon.request_stop()
        thread.join(timeout=30)
    assert not thread.is_alive()


def only_task(config_path: Path) -> Task | None:
    """The single task in the store, if any."""
    store = open_store(load_config(config_path).store_url)
    tasks = store.list_tasks()
    store.close()
    return tasks[0] if tasks else None


def test_openai_compatible_server_fixes_a_breaking_commit(
    tmp_path: Path, sample_repo: Path, openai_compatible: ScriptedModelServer, sandbox_image: str
) -> None:
    """Pointed by config at an OpenAI-compatible server, agentd commits the fix of a test-breaking commit."""
    config_path = write_config(tmp_path, sample_repo, openai_compatible)
    state_db = tmp_path / "state" / "agentd.db"

    def watching() -> bool:
        return (
            state_db.exists() and open_store(f"sqlite:///{state_db}").branch_head(str(sample_repo), "main") is not None
        )

    broke: list[str] = []

    def finished() -> bool:
        if not broke and watching():
            broke.append(break_the_build(sample_repo))
        task = only_task(config_path) if broke else None
        return bool(task and task.done)

    run_daemon_until(config_path, finished)
    task = only_task(config_path)
    assert task is not None and task.status == "fixed", task
    assert task.branch == f"agentd/commit-{broke[0][:7]}"
    assert git(sample_repo, "rev-parse", task.branch) == task.commit_sha
    models = git(sample_repo, "log", "-1", "--format=%(trailers:key=Agentd-Models,valueonly)", task.branch)
    assert "default:my-vllm-model" in models
    assert openai_compatible.requests, "the SDK never reached the server"
    assert all(r.path.endswith("/chat/completions") for r in openai_compatible.requests)
    assert all(CANARY not in json.dumps(r.body) for r in openai_compatible.requests)
    assert CANARY.encode() not in state_db.read_bytes()


def test_green_commit_gets_a_review_and_no_branch(
    tmp_path: Path, sample_repo: Path, openai_compatible: ScriptedModelServer, sandbox_image: str
) -> None:
    """A commit whose tests pass is reviewed, the review recorded, and no agentd/ branch made."""
    config_path = write_config(tmp_path, sample_repo, openai_compatible)
    committed: list[str] = []

    def finished() -> bool:
        db = tmp_path / "state" / "agentd.db"
        if not committed and db.exists() and open_store(f"sqlite:///{db}").branch_head(str(sample_repo), "main"):
            (sample_repo / "README.md").write_text("# shop\n")
            git(sample_repo, "add", "README.md")
            git(sample_repo, "commit", "-q", "-m", "docs: readme")
            committed.append(git(sample_repo, "rev-parse", "HEAD"))
        task = only_task(config_path) if committed else None
        return bool(task and task.done)

    run_daemon_until(config_path, finished)
    task = only_task(config_path)
    assert task is not None and task.status == "reviewed"
    assert task.branch is None
    assert git(sample_repo, "branch", "--list", "agentd/*") == ""
    store = open_store(load_config(config_path).store_url)
    (session,) = store.task_record(task.id).sessions
    assert [t.role for t in session.turns] == ["reviewer"]
    assert session.turns[0].submission["verdict"] == "approve"
