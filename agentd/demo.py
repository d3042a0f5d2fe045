"""`agentd demo`: a sample Go repository, a commit that breaks a test, and agentd fixing it.

Everything runs on the embedded defaults: SQLite, the scripted model served over HTTP (so the
official OpenAI SDK path is the one exercised) and the real Docker sandbox.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from agentd.app import App
from agentd.config import load_config
from agentd.kernel import process
from agentd.kernel.errors import AgentdError
from agentd.repo.mirror import GIT_ENV
from agentd.store import open_store
from agentd.store.base import Store, Task

GO_MOD = "module example.com/shop\n\ngo 1.19\n"
CART_GO = """package cart

// Item is one line of a shopping cart.
type Item struct {
\tName  string
\tPrice int // cents
\tQty   int
}

// Total is the price of all items in cents.
func Total(items []Item) int {
\ttotal := 0
\tfor _, it := range items {
\t\ttotal += it.Price * it.Qty
\t}
\treturn total
}
"""
CART_TEST_GO = """package cart

import "testing"

func TestTotal(t *testing.T) {
\titems := []Item{{"apple", 50, 3}, {"pear", 120, 1}}
\tif got := Total(items); got != 270 {
\t\tt.Fatalf("Total = %d, want 270", got)
\t}
}

func TestTotalEmpty(t *testing.T) {
\tif got := Total(nil); got != 0 {
\t\tt.Fatalf("Total(nil) = %d, want 0", got)
\t}
}
"""
BROKEN_CART_GO = CART_GO.replace(
    "\t\ttotal += it.Price * it.Qty\n", "\t\t// quantities are applied at checkout\n\t\ttotal += it.Price\n"
)
CONFIG = """# agentd demo configuration (written by `agentd demo`)
[daemon]
state_dir = "{state}"
rescan_interval_s = 2.0

[repository]
path = "{repo}"
watch_branches = ["main"]
test_command = ["go", "test", "./..."]

[models.default]
provider = "scripted"
model = "scripted-demo"
script = "demo"

[prices."scripted-demo"]         # dollars per million tokens; the scripted model is free
input_usd_per_mtok = 0.0
output_usd_per_mtok = 0.0
"""


@dataclass(frozen=True)
class DemoResult:
    """What the demo did."""

    repository: str
    branch: str | None
    commit: str | None
    tests_passed: bool
    status: str
    summary: str
    task_id: int


def _git(repo: Path, *args: str) -> str:
    env = {
        **GIT_ENV,
        "PATH": "/usr/bin:/bin:/usr/local/bin",
        "GIT_AUTHOR_NAME": "Demo User",
        "GIT_AUTHOR_EMAIL": "demo@example.com",
        "GIT_COMMITTER_NAME": "Demo User",
        "GIT_COMMITTER_EMAIL": "demo@example.com",
    }
    done = process.run(["git", *args], cwd=repo, env=env, timeout_s=60)
    if not done.ok:
        raise AgentdError(f"git {' '.join(args)} failed: {done.reason()}")
    return done.stdout.strip()


def make_sample_repo(repo: Path) -> None:
    """A small Go module with a passing test, committed on main."""
    (repo / "cart").mkdir(parents=True)
    (repo / "go.mod").write_text(GO_MOD)
    (repo / "cart" / "cart.go").write_text(CART_GO)
    (repo / "cart" / "cart_test.go").write_text(CART_TEST_GO)
    _git(repo, "init", "--quiet", "--initial-branch=main")
    _git(repo, "add", "--all")
    _git(repo, "commit", "--quiet", "-m", "cart: total of a cart")


def break_the_build(repo: Path) -> str:
    """Commit a change that makes TestTotal fail; returns its sha."""
    (repo / "cart" / "cart.go").write_text(BROKEN_CART_GO)
    _git(repo, "commit", "--quiet", "-am", "cart: apply quantities at checkout")
    return _git(repo, "rev-parse", "HEAD")


def _wait(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AgentdError(f"demo: timed out after {timeout_s:.0f}s waiting for {what}")


def run_demo(workdir: Path | None = None, say: Callable[[str], None] = print, timeout_s: float = 600) -> DemoResult:
    """Create the sample repository, run the daemon on it, break a test, wait for the fix."""
    root = workdir or Path(tempfile.mkdtemp(prefix="agentd-demo-"))
    repo, state = root / "shop", root / "state"
    emit = say
    make_sample_repo(repo)
    emit(f"sample Go repository: {repo}")
    config_path = root / "agentd.toml"
    config_path.write_text(CONFIG.format(state=state, repo=repo))
    config = load_config(config_path)
    daemon = App(config)
    thread = threading.Thread(target=daemon.run, kwargs={"install_signals": False}, daemon=True)
    thread.start()
    store = open_store(config.store_url)
    try:
        _wait(lambda: store.branch_head(str(repo), "main") is not None, 60, "the daemon to watch main")
        sha = break_the_build(repo)
        emit(f"committed {sha[:7]} 'cart: apply quantities at checkout' (breaks TestTotal)")
        _wait(lambda: _task_for(store, sha) is not None, 30, "the commit to be picked up")
        emit("agentd saw the commit; the team is at work (independent proposers, agentd tests each, a vote)")
        _wait(lambda: (t := _task_for(store, sha)) is not None and t.done, timeout_s, "the team to finish")
        task = _task_for(store, sha)
        assert task is not None
    finally:
        daemon.request_stop()
        thread.join(timeout=30)
        store.close()
    result = DemoResult(
        str(repo), task.branch, task.commit_sha, bool(task.tests_passed), task.status, task.summary, task.id
    )
    emit(f"task {task.id}: {task.status}")
    if task.branch:
        emit(f"fix committed on {task.branch} ({(task.commit_sha or '')[:7]}); tests pass: {result.tests_passed}")
        emit(f"see it: git -C {repo} log --format=fuller -1 {task.branch}")
        emit(f"the debate: agentd show {task.id} --config {config_path}")
    return result


def _task_for(store: Store, sha: str) -> Task | None:
    for task in store.list_tasks(20):
        if getattr(task.event, "sha", None) == sha:
            return task
    return None
