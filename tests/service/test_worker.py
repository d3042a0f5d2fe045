"""The worker against real sequences: a lease lost late, a head superseded during its review (real Docker, git;
the GitHub stand-in where the forge is part of it)."""

from __future__ import annotations

import dataclasses
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from agentd.app import App
from agentd.config import load_config
from agentd.forge.summary import MARKER
from agentd.kernel.events import CommitPushed, PullRequestUpdated
from agentd.store.base import Lease
from agentd.store.sqlite import SQLiteStore
from tests.conftest import git
from tests.support.daemons import REVIEWED_QUICKLY, wait_until, write_config
from tests.support.github_api import GitHubStandIn, Pull

pytestmark = pytest.mark.docker
TOKEN = "ghp_worker_test_token"


class LateRenewStore(SQLiteStore):
    """A real store whose first lease renewal answers only once the next job is claimed (a slow round trip).

    That is the race of a heartbeat that read a lease just before its job ended: its answer
    ("lost") arrives while the worker already runs the next job.
    """

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.claims: Counter[int] = Counter()
        self.late_job: int | None = None
        self.next_claimed = threading.Event()

    def claim_job(self, owner: str, lease_s: float, max_running: int | None = None) -> Lease | None:
        """Claim as usual, counting claims per task and noting when a job after the late one is taken."""
        lease = super().claim_job(owner, lease_s, max_running)
        if lease is not None:
            self.claims[lease.task_id] += 1
            if self.late_job is not None and lease.job_id != self.late_job:
                self.next_claimed.set()
        return lease

    def renew_lease(self, lease: Lease, lease_s: float) -> bool:
        """The first renewal waits for the next claim, then answers for its (finished) job: lost."""
        if self.late_job is None:
            self.late_job = lease.job_id
            self.next_claimed.wait(60)
        return super().renew_lease(lease, lease_s)


def commits(repo: Path, names: list[str]) -> list[str]:
    """Commit one file per name on main; their shas."""
    shas = []
    for name in names:
        (repo / f"{name}.md").write_text(f"{name}\n")
        git(repo, "add", f"{name}.md")
        git(repo, "commit", "-qm", f"docs: {name}")
        shas.append(git(repo, "rev-parse", "HEAD"))
    return shas


def run_app(app: App) -> threading.Thread:
    """The daemon on a thread of this process (no signal handlers)."""
    thread = threading.Thread(target=app.run, kwargs={"install_signals": False}, daemon=True)
    thread.start()
    return thread


def test_a_lease_lost_after_its_job_ended_never_cancels_the_next_job(
    tmp_path: Path, sample_repo: Path, sandbox_image: str
) -> None:
    """A heartbeat's late 'lease lost' for a finished job cancels only that job: the next one runs once, to its end."""
    slow = {"reviewer": [{"delay_s": 3, **REVIEWED_QUICKLY["reviewer"][0]}]}
    config = load_config(write_config(tmp_path, f'path = "{sample_repo}"', slow))
    store = LateRenewStore(str(tmp_path / "state" / "agentd.db"))
    first, second = commits(sample_repo, ["a", "b"])
    for sha in (first, second):
        store.enqueue(CommitPushed(repo=str(sample_repo), branch="main", sha=sha), f"commit {sha[:7]}", sha)
    app = App(config, store)
    thread = run_app(app)
    try:
        wait_until(lambda: all(t.done for t in store.list_tasks()), 180, "both reviews")
        ended = [t.status for t in store.list_tasks()]
    finally:
        app.request_stop()  # it closes the store
        thread.join(timeout=30)
    assert store.late_job is not None  # the late answer really came, for the first job
    assert ended == ["reviewed", "reviewed"]
    assert store.claims == {1: 1, 2: 1}  # the second job was never cancelled and handed back


def supersede_during_review(
    tmp_path: Path, sample_repo: Path, extra: str = "", moved: Callable[[str], None] = lambda _: None
) -> tuple[int, int, dict[int, str]]:
    """PR #3's older head reviewed slowly, a newer head enqueued meanwhile (`moved` told of it first);
    the two tasks and how they ended."""
    slow = {"reviewer": [{"delay_s": 4, **REVIEWED_QUICKLY["reviewer"][0]}]}
    config = load_config(write_config(tmp_path, f'path = "{sample_repo}"', slow, extra))
    store = SQLiteStore(str(tmp_path / "state" / "agentd.db"))
    older, newer = commits(sample_repo, ["a", "b"])

    def head(sha: str) -> PullRequestUpdated:
        return PullRequestUpdated(repo=str(sample_repo), number=3, head_sha=sha, base_branch="main")

    first, _ = store.enqueue(head(older), "PR #3 older", older)
    app = App(config, store)
    thread = run_app(app)
    try:
        wait_until(lambda: bool(store.task_record(first).versions), 120, "the older head's baseline test run")
        moved(newer)
        second, _ = store.enqueue(head(newer), "PR #3 newer", newer)  # the reviewer is answering meanwhile
        wait_until(lambda: all(t.done for t in store.list_tasks()), 180, "both heads to end")
        ended = {t.id: t.status for t in store.list_tasks()}
    finally:
        app.request_stop()  # it closes the store
        thread.join(timeout=30)
    return first, second, ended


def test_a_head_superseded_during_its_review_never_ends_reviewed(
    tmp_path: Path, sample_repo: Path, sandbox_image: str
) -> None:
    """A PR head whose review is in flight when a newer head arrives ends superseded; only the newer one is reviewed."""
    first, second, ended = supersede_during_review(tmp_path, sample_repo)
    assert ended == {first: "superseded", second: "reviewed"}


def test_a_head_superseded_during_its_review_has_its_check_cancelled_on_the_forge(
    tmp_path: Path, sample_repo: Path, sandbox_image: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The superseded head's check run ends cancelled instead of staying in progress; only the newer head's job
    writes the PR's one summary comment (the GitHub stand-in checks every request)."""
    github = GitHubStandIn(tokens={TOKEN})
    monkeypatch.setenv("AGENTD_TEST_GITHUB_TOKEN", TOKEN)
    github.state.pulls[3] = Pull(3, git(sample_repo, "rev-parse", "HEAD"), "feature", "main", "alice", "acme/shop")
    forge = (
        f'[forge]\nkind = "github"\napi_url = "{github.url}"\nrepository = "acme/shop"\n'
        'token_env = "AGENTD_TEST_GITHUB_TOKEN"\nchecks = "check_run"\n'
    )

    def moved(newer: str) -> None:
        github.state.pulls[3] = dataclasses.replace(github.state.pulls[3], head_sha=newer)

    try:
        first, second, ended = supersede_during_review(tmp_path, sample_repo, forge, moved)
    finally:
        github.close()
    assert ended == {first: "superseded", second: "reviewed"}
    runs = sorted(github.state.check_runs.items())
    assert [(run["status"], run.get("conclusion")) for _, run in runs] == [
        ("completed", "cancelled"),
        ("completed", "success"),
    ]
    summaries = [c for c in github.state.issue_comments.values() if c["body"].startswith(MARKER)]
    assert len(summaries) == 1 and "superseded" not in summaries[0]["body"]
    assert github.violations == []


@pytest.mark.parametrize(("workers", "total", "at_once"), [(2, None, 2), (2, 1, 1)])
def test_a_daemon_runs_max_concurrent_jobs_at_once_within_the_total_cap(
    workers: int, total: int | None, at_once: int, tmp_path: Path, sample_repo: Path, sandbox_image: str
) -> None:
    """daemon.max_concurrent_jobs workers run jobs side by side; max_concurrent_jobs_total caps them all."""
    slow = {"reviewer": [{"delay_s": 4, **REVIEWED_QUICKLY["reviewer"][0]}]}
    cap = f"max_concurrent_jobs_total = {total}\n" if total else ""
    path = write_config(tmp_path, f'path = "{sample_repo}"', slow)
    path.write_text(path.read_text().replace("lease_s = 6\n", f"lease_s = 6\nmax_concurrent_jobs = {workers}\n{cap}"))
    store = SQLiteStore(str(tmp_path / "state" / "agentd.db"))
    for sha in commits(sample_repo, ["a", "b"]):
        store.enqueue(CommitPushed(repo=str(sample_repo), branch="main", sha=sha), f"commit {sha[:7]}", sha)
    app = App(load_config(path), store)
    thread = run_app(app)
    running: list[int] = []

    def both_done() -> bool:
        running.append(store.counts().get("running", 0))
        return all(t.done for t in store.list_tasks())

    try:
        wait_until(both_done, 180, "both reviews", every_s=0.1)
        ended = [t.status for t in store.list_tasks()]
    finally:
        app.request_stop()
        thread.join(timeout=30)
    assert ended == ["reviewed", "reviewed"]
    assert max(running) == at_once
