"""Delivery to the forge from a task's record, against the GitHub stand-in and a real store and git clone."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from agentd.app import job_settings
from agentd.config import parse_config
from agentd.forge.base import Finding
from agentd.forge.summary import MARKER
from agentd.job.context import JobDeps
from agentd.job.delivery import deliver, start_check
from agentd.job.review import ReviewState, load, save
from agentd.kernel.events import PullRequestUpdated
from agentd.kernel.policy import load_policy
from agentd.kernel.redact import Redactor
from agentd.models.pool import ModelPool
from agentd.repo.mirror import Mirror
from agentd.store.sqlite import SQLiteStore
from sandbox.config import SandboxConfig
from sandbox.docker import DockerSandboxFactory
from tests.conftest import git
from tests.forge.conftest import connect
from tests.support.github_api import GitHubStandIn, Pull


def pr_setup(tmp_path: Path, sample_repo: Path) -> tuple[str, str, GitHubStandIn, SQLiteStore, JobDeps]:
    """PR #7 adding cart/note.go on the stand-in, agentd's clone of it, a store, and job deps with the forge:
    (base, head, stand-in, store, deps)."""
    base = git(sample_repo, "rev-parse", "HEAD")
    (sample_repo / "cart" / "note.go").write_text("package cart\n\n// Note is new.\nconst Note = 1\n")
    git(sample_repo, "add", "-A")
    git(sample_repo, "commit", "-qm", "note")
    head = git(sample_repo, "rev-parse", "HEAD")
    github = GitHubStandIn(tokens={"ghp_test0123456789abcdefTOKEN"})
    github.state.pulls[7] = Pull(7, head, "feature", "main", "alice", "acme/shop")
    mirror = Mirror(sample_repo, tmp_path / "repo.git")
    mirror.ensure()
    mirror.fetch()
    store = SQLiteStore(str(tmp_path / "agentd.db"))
    config = parse_config(
        f'[daemon]\nstate_dir = "{tmp_path}"\n[repository]\npath = "{sample_repo}"\n'
        '[models.default]\nprovider = "scripted"\nmodel = "m"\nscript = "demo"\n',
        env={},
    )
    deps = JobDeps(
        job_settings(config),
        store,
        mirror,
        DockerSandboxFactory(SandboxConfig(), tmp_path / "run"),  # never opened here
        ModelPool(config.models, config.roles),
        load_policy(),
        Redactor(),
        forge=connect(github),
    )
    return base, head, github, store, deps


def reviewed_task(
    store: SQLiteStore, deps: JobDeps, sample_repo: Path, base: str, head: str
) -> tuple[int, ReviewState]:
    """PR #7's head as a task with one finding, its check started on the forge: (task id, review record)."""
    event = PullRequestUpdated(repo=str(sample_repo), number=7, head_sha=head, base_branch="main")
    task_id, _ = store.enqueue(event, "PR #7", head)
    state = ReviewState(head, pr=7, base=base)
    state.set_findings([Finding("cart/note.go", 4, "Note is unused", "Nothing reads Note.", "warning")])
    save(store, task_id, state)
    start_check(deps, task_id, state)
    store.add_code_version(task_id, {"kind": "base", "sha": head, "tests_passed": True, "test_output": "ok"})
    return task_id, state


def test_a_refused_step_is_skipped_and_the_others_still_run(tmp_path: Path, sample_repo: Path) -> None:
    """GitHub refusing the inline review (422) loses that step only: the summary comment is posted, the check is
    completed, and the findings stay unremembered so the next head posts them."""
    base, head, github, store, deps = pr_setup(tmp_path, sample_repo)
    try:
        task_id, state = reviewed_task(store, deps, sample_repo, base, head)
        store.update_task(task_id, status="reviewed", summary="Looked at the note.")
        github.fail_next["pulls/create-review"] = (422, {"message": "Validation Failed"})
        task = store.get_task(task_id)
        assert task is not None
        deliver(deps, task, "the report")
        (run,) = github.state.check_runs.values()
        assert (run["status"], run["conclusion"]) == ("completed", "success")
        assert [c["body"].startswith(MARKER) for c in github.state.issue_comments.values()] == [True]
        assert github.state.review_comments == {}
        assert store.posted_findings(str(sample_repo), 7) == set()
        saved = load(store, task_id)
        assert saved is not None and dataclasses.asdict(saved)["check"] == state.check
    finally:
        store.close()
        github.close()
    assert github.violations == []


def test_a_superseded_head_only_has_its_check_cancelled(tmp_path: Path, sample_repo: Path) -> None:
    """A head superseded mid-review gets its check completed as cancelled, and neither inline findings nor a
    summary comment: those belong to the newer head's job."""
    base, head, github, store, deps = pr_setup(tmp_path, sample_repo)
    try:
        task_id, _ = reviewed_task(store, deps, sample_repo, base, head)
        store.update_task(task_id, status="superseded", summary="superseded by a newer head before it finished")
        task = store.get_task(task_id)
        assert task is not None
        deliver(deps, task, "the report")
        (run,) = github.state.check_runs.values()
        assert (run["status"], run["conclusion"]) == ("completed", "cancelled")
        assert github.state.issue_comments == {}
        assert github.state.review_comments == {}
    finally:
        store.close()
        github.close()
    assert github.violations == []
