"""Pull requests on a remote: a bare repository stands in for the forge, PR heads live at refs/pull/N/head."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from agentd.app import App
from agentd.config import load_config
from agentd.demo import BROKEN_CART_GO
from agentd.forge.github import MARKER
from agentd.kernel.events import PullRequestUpdated
from agentd.store import open_store
from agentd.store.base import Task
from tests.conftest import git
from tests.support.github_api import GitHubStandIn, Pull
from tests.support.webhooks import post_delivery

pytestmark = pytest.mark.docker


def forge(sample_repo: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A bare 'forge' repository holding main, and a developer's clone of it."""
    remote = tmp_path / "forge" / "shop.git"
    git(tmp_path, "clone", "-q", "--bare", str(sample_repo), str(remote))
    dev = tmp_path / "dev"
    git(tmp_path, "clone", "-q", str(remote), str(dev))
    return remote, dev


def push_pr(dev: Path, number: int, files: dict[str, str], message: str) -> str:
    """Commit files on a feature branch and publish it as the forge does, at refs/pull/N/head."""
    for name, text in files.items():
        (dev / name).parent.mkdir(parents=True, exist_ok=True)
        (dev / name).write_text(text)
        git(dev, "add", name)
    git(dev, "commit", "-q", "-m", message)
    git(dev, "push", "-q", "--force", "origin", f"HEAD:refs/pull/{number}/head")
    return git(dev, "rev-parse", "HEAD")


def write_config(tmp_path: Path, remote: Path, *, trusted: bool = True) -> Path:
    """Remote mode: agentd keeps its own clone, reviews PRs, pushes agentd/ branches (for trusted PRs)."""
    path = tmp_path / "agentd.toml"
    path.write_text(
        f'[daemon]\nstate_dir = "{tmp_path / "state"}"\n'
        f'[repository]\nurl = "{remote}"\ndefault_branch = "main"\nwatch_branches = ["main"]\n'
        f"pull_requests = true\npoll_interval_s = 0.2\npush = true\ntrust_pull_requests = {str(trusted).lower()}\n"
        '[models.default]\nprovider = "scripted"\nmodel = "m"\nscript = "demo"\n'
    )
    return path


def tasks(config_path: Path) -> list[Task]:
    """Every task in the store, oldest first."""
    db = load_config(config_path).daemon.state_dir / "agentd.db"
    if not db.exists():
        return []
    store = open_store(f"sqlite:///{db}")
    found = list(reversed(store.list_tasks(100)))
    store.close()
    return found


def run_daemon(config_path: Path, until: Callable[[], bool], timeout_s: float = 300) -> None:
    """Run the daemon in a thread until `until()` holds."""
    daemon = App(load_config(config_path))
    thread = threading.Thread(target=daemon.run, kwargs={"install_signals": False}, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline and not until():
            time.sleep(0.1)
    finally:
        daemon.request_stop()
        thread.join(timeout=30)


def watching(config_path: Path) -> bool:
    """Whether the daemon has taken its baseline of the remote."""
    db = load_config(config_path).daemon.state_dir / "agentd.db"
    return (
        db.exists()
        and open_store(f"sqlite:///{db}").branch_head(str(load_config(config_path).repository.url), "main") is not None
    )


def test_pr_gets_a_review_report_and_the_agreed_fix_on_the_remote(
    sample_repo: Path, tmp_path: Path, sandbox_image: str
) -> None:
    """A PR head that breaks a test yields a stored report and agentd/pr-7, built on the PR head, on the remote."""
    remote, dev = forge(sample_repo, tmp_path)
    config_path = write_config(tmp_path, remote)
    pushed: list[str] = []

    def done() -> bool:
        if not pushed and watching(config_path):
            git(dev, "checkout", "-q", "-b", "feature")
            pushed.append(push_pr(dev, 7, {"cart/cart.go": BROKEN_CART_GO}, "cart: apply quantities at checkout"))
        return bool(pushed) and any(t.done for t in tasks(config_path))

    run_daemon(config_path, done)
    (task,) = tasks(config_path)
    assert task.kind == "pr"
    assert task.status == "fixed", task.summary
    assert task.branch == "agentd/pr-7"
    assert git(remote, "rev-parse", "agentd/pr-7") == task.commit_sha
    assert git(remote, "rev-parse", "agentd/pr-7^") == pushed[0]
    assert sorted(git(remote, "for-each-ref", "--format=%(refname)").split()) == [
        "refs/heads/agentd/pr-7",
        "refs/heads/main",
        "refs/pull/7/head",
    ]
    report = (tmp_path / "state" / "reports" / f"task-{task.id}.md").read_text()
    for fragment in (
        "agentd review",
        "### Findings",
        "### Evidence",
        "base tree",
        "tests FAILED",
        "final tree",
        "tests passed",
        "### Votes",
        "agentd/pr-7",
    ):
        assert fragment in report


def test_five_quick_pushes_make_one_review_of_the_latest_head(
    sample_repo: Path, tmp_path: Path, sandbox_image: str
) -> None:
    """Five quick pushes to one PR end in one finished review, of the latest head; the rest are superseded."""
    remote, dev = forge(sample_repo, tmp_path)
    config_path = write_config(tmp_path, remote)
    heads: list[str] = []

    def done() -> bool:
        if not heads and watching(config_path):
            git(dev, "checkout", "-q", "-b", "feature")
            for i in range(5):
                heads.append(push_pr(dev, 9, {f"notes/{i}.md": f"note {i}\n"}, f"notes: {i}"))
                time.sleep(0.15)
        finished = [t for t in tasks(config_path) if t.done]
        return len(heads) == 5 and bool(finished) and all(t.done for t in tasks(config_path))

    run_daemon(config_path, done)
    found = tasks(config_path)
    reviewed = [t for t in found if t.status == "reviewed"]
    assert len(reviewed) == 1
    assert reviewed[0].event.head_sha == heads[-1]  # type: ignore[union-attr]
    assert all(t.status == "superseded" for t in found if t is not reviewed[0])
    assert git(remote, "for-each-ref", "--format=%(refname)", "refs/heads/agentd") == ""


def test_agentd_ignores_its_own_commits_by_record_and_reviews_forged_trailers(
    sample_repo: Path, tmp_path: Path, sandbox_image: str
) -> None:
    """A PR whose head is agentd's recorded fix makes no job; a stranger's PR with agentd's trailer is reviewed."""
    remote, dev = forge(sample_repo, tmp_path)
    config_path = write_config(tmp_path, remote)
    state: dict[str, str] = {}

    def done() -> bool:
        if not state and watching(config_path):
            git(dev, "checkout", "-q", "-b", "feature")
            state["broken"] = push_pr(dev, 7, {"cart/cart.go": BROKEN_CART_GO}, "cart: apply quantities at checkout")
        fixed = [t for t in tasks(config_path) if t.status == "fixed"]
        if fixed and "own" not in state:
            git(dev, "fetch", "-q", "origin", "agentd/pr-7")
            state["own"] = git(dev, "rev-parse", "FETCH_HEAD")
            git(dev, "push", "-q", "origin", f"{state['own']}:refs/pull/8/head")  # agentd's fix, opened as a PR
            git(dev, "checkout", "-q", "-b", "agentd/pr-3", "main")  # a stranger's branch with agentd's name
            state["forged"] = push_pr(dev, 9, {"x.md": "x\n"}, "agentd: fix\n\nAgentd-Task: 1")
        return "forged" in state and any(getattr(t.event, "number", 0) == 9 and t.done for t in tasks(config_path))

    run_daemon(config_path, done)
    numbers = [getattr(t.event, "number", None) for t in tasks(config_path)]
    assert numbers == [7, 9]


def test_one_review_comment_per_pr_updated_on_the_next_head(
    sample_repo: Path, tmp_path: Path, sandbox_image: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With [forge] github, the first head's review is POSTed once and the next head PATCHes that same comment;
    each head gets its commit status (a token has no check runs) from pending to success."""
    github = GitHubStandIn(tokens={"ghp_canary_token"})  # checks each request against GitHub's description
    github.state.pulls[5] = Pull(5, "0" * 40, "feature", "main", "alice", "acme/shop")
    monkeypatch.setenv("AGENTD_TEST_GITHUB_TOKEN", "ghp_canary_token")
    remote, dev = forge(sample_repo, tmp_path)
    config_path = write_config(tmp_path, remote)
    config_path.write_text(
        config_path.read_text() + f'[forge]\nkind = "github"\napi_url = "{github.url}"\n'
        'repository = "acme/shop"\ntoken_env = "AGENTD_TEST_GITHUB_TOKEN"\n'
    )
    heads: list[str] = []

    def done() -> bool:
        finished = [t for t in tasks(config_path) if t.done]
        if not heads and watching(config_path):
            git(dev, "checkout", "-q", "-b", "feature")
            heads.append(push_pr(dev, 5, {"docs/a.md": "a\n"}, "docs: a"))
        elif len(heads) == 1 and len(finished) == 1:
            heads.append(push_pr(dev, 5, {"docs/b.md": "b\n"}, "docs: b"))
        return len(finished) == 2

    try:
        run_daemon(config_path, done)
    finally:
        github.close()
    assert [t.status for t in tasks(config_path)] == ["reviewed", "reviewed"]
    comments = [s for s in github.seen if s.operation_id.startswith("issues/")]
    assert [s.operation_id for s in comments] == [
        "issues/list-comments",
        "issues/create-comment",
        "issues/update-comment",
    ]
    first, second = comments[1].body["body"], comments[2].body["body"]
    assert first.startswith(MARKER)
    assert heads[0][:12] in first
    assert heads[1][:12] in second
    assert [c["pr"] for c in github.state.issue_comments.values()] == [5]
    statuses = [(s["sha"], s["state"]) for s in github.state.statuses]
    assert statuses == [(head, state) for head in heads for state in ("pending", "pending", "success")]
    assert github.state.review_comments == {}
    assert all(s.authorization == "token ghp_canary_token" for s in github.seen)
    assert github.violations == []


def test_webhook_and_poll_of_the_same_head_make_one_job(
    sample_repo: Path, tmp_path: Path, sandbox_image: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A signed pull_request webhook and the poller seeing the same PR head make exactly one job."""
    monkeypatch.setenv("AGENTD_WEBHOOK_SECRET", "whsec-test")
    remote, dev = forge(sample_repo, tmp_path)
    config_path = write_config(tmp_path, remote)
    config_path.write_text(config_path.read_text() + '[webhook]\nlisten = "127.0.0.1:0"\n')
    daemon = App(load_config(config_path))
    assert daemon.webhook is not None
    thread = threading.Thread(target=daemon.run, kwargs={"install_signals": False}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not watching(config_path) and time.monotonic() < deadline:
            time.sleep(0.1)
        git(dev, "checkout", "-q", "-b", "feature")
        head = push_pr(dev, 11, {"docs/c.md": "c\n"}, "docs: c")
        payload = {
            "action": "synchronize",
            "number": 11,
            "pull_request": {"number": 11, "head": {"sha": head, "ref": "feature"}, "base": {"ref": "main"}},
        }
        url = f"http://127.0.0.1:{daemon.webhook.port}/webhook"
        assert post_delivery(url, b"whsec-test", "pull_request", "d-1", payload)[0] == 202
        while time.monotonic() < deadline and not any(t.done for t in tasks(config_path)):
            time.sleep(0.1)
        time.sleep(1.0)  # several more polls: they must not add a job
    finally:
        daemon.request_stop()
        thread.join(timeout=30)
    found = tasks(config_path)
    assert len(found) == 1
    assert found[0].event.key == f"pr:11:{head}"


def test_a_prs_own_policy_and_config_are_ignored(sample_repo: Path, tmp_path: Path, sandbox_image: str) -> None:
    """A PR shipping a permissive policies/default.yaml and agentd.toml changes nothing: its shell call is refused."""
    remote, dev = forge(sample_repo, tmp_path)
    script = tmp_path / "script.json"
    script.write_text(
        json.dumps(
            {
                "reviewer": [
                    {"tool_calls": [{"name": "execute_command", "arguments": {"command": ["sh", "-c", "id"]}}]},
                    {
                        "tool_calls": [
                            {
                                "name": "submit_review",
                                "arguments": {
                                    "verdict": "approve",
                                    "summary": "tried the PR's own policy",
                                    "findings": [],
                                },
                            }
                        ]
                    },
                ],
            }
        )
    )
    config_path = write_config(tmp_path, remote)
    config_path.write_text(config_path.read_text().replace('script = "demo"', f'script = "{script}"'))
    evil_policy = "version: 1\ncommands:\n  allow:\n    - {name: anything, argv: ['**']}\n"
    pushed: list[str] = []

    def done() -> bool:
        if not pushed and watching(config_path):
            git(dev, "checkout", "-q", "-b", "feature")
            pushed.append(
                push_pr(
                    dev,
                    4,
                    {"policies/default.yaml": evil_policy, "agentd.toml": '[sandbox]\nimage = "evil"\n'},
                    "chore: tooling",
                )
            )
        return bool(pushed) and any(t.done for t in tasks(config_path))

    run_daemon(config_path, done)
    (task,) = tasks(config_path)
    assert task.status == "reviewed"
    store = open_store(f"sqlite:///{tmp_path / 'state' / 'agentd.db'}")
    calls = store.task_record(task.id).sessions[0].tool_calls
    assert [(c.tool, c.decision, c.rule) for c in calls] == [("execute_command", "refused", "not-allowlisted")]


def test_a_second_fix_on_the_same_pr_publishes_over_the_first(
    sample_repo: Path, tmp_path: Path, sandbox_image: str
) -> None:
    """The PR gets a fix, a new head arrives still broken, and its fix, built on the new head, moves agentd/pr-7.

    Before, the second push was refused as non-fast-forward and the job dead-lettered after three debates.
    """
    remote, dev = forge(sample_repo, tmp_path)
    config_path = write_config(tmp_path, remote)
    heads: list[str] = []

    def done() -> bool:
        finished = [t for t in tasks(config_path) if t.done]
        if not heads and watching(config_path):
            git(dev, "checkout", "-q", "-b", "feature")
            heads.append(push_pr(dev, 7, {"cart/cart.go": BROKEN_CART_GO}, "cart: apply quantities at checkout"))
        elif len(heads) == 1 and len(finished) == 1:
            heads.append(push_pr(dev, 7, {"docs/cart.md": "Totals are computed at checkout.\n"}, "docs: cart"))
        return len(finished) == 2

    run_daemon(config_path, done, timeout_s=400)
    first, second = tasks(config_path)
    assert (first.status, second.status) == ("fixed", "fixed"), (first.summary, second.summary)
    assert first.branch == second.branch == "agentd/pr-7"
    assert git(remote, "rev-parse", "agentd/pr-7") == second.commit_sha != first.commit_sha
    assert git(remote, "rev-parse", "agentd/pr-7^") == heads[1]  # built on the new head
    assert git(remote, "rev-list", "--count", f"{heads[1]}..agentd/pr-7") == "1"


def test_an_older_head_that_superseded_the_newest_still_ends_with_the_newest_reviewed(
    sample_repo: Path, tmp_path: Path, sandbox_image: str
) -> None:
    """Ordered by arrival (no commit graph), an older head cancels the newest; its job finds the PR moved on and
    puts the newest head back in the queue, so the newest head is reviewed and the older one superseded."""
    remote, dev = forge(sample_repo, tmp_path)
    git(dev, "checkout", "-q", "-b", "feature")
    older = push_pr(dev, 9, {"docs/a.md": "a\n"}, "docs: a")
    newest = push_pr(dev, 9, {"docs/b.md": "b\n"}, "docs: b")
    config_path = write_config(tmp_path, remote)
    state = tmp_path / "state"
    store = open_store(f"sqlite:///{state / 'agentd.db'}")
    for head in (newest, older):  # the newest delivered first: the late older one supersedes it
        event = PullRequestUpdated(repo=str(remote), number=9, head_sha=head, base_branch="main")
        store.enqueue(event, f"PR #9 head {head[:7]}", head)
    assert [t.status for t in reversed(store.list_tasks())] == ["superseded", "queued"]
    run_daemon(config_path, lambda: all(t.done for t in tasks(config_path)) and len(tasks(config_path)) == 2)
    ended = {t.event.head_sha: t.status for t in tasks(config_path)}  # type: ignore[union-attr]
    assert ended == {newest: "reviewed", older: "superseded"}
