"""Who agentd trusts with a push, and which changed files it flags: pure decisions over plain data."""

from __future__ import annotations

import pytest

from agentd.job.trust import automation_paths, trust_of
from agentd.kernel.events import CommitPushed, PullRequestUpdated, TaskRequested
from agentd.repo.config import RepositoryConfig

REPO = RepositoryConfig(url="/srv/git/shop.git")


def pr(**fields: object) -> PullRequestUpdated:
    """A PR event with the given trust facts."""
    return PullRequestUpdated(repo="/r", number=7, head_sha="a" * 40, base_branch="main", **fields)  # type: ignore[arg-type]


def test_commits_and_tasks_are_trusted() -> None:
    """A commit on a watched branch and a person's task are agentd's own work to push."""
    assert trust_of(CommitPushed(repo="/r", branch="main", sha="b" * 40), REPO, None).trusted
    assert trust_of(TaskRequested(repo="/r", description="d", base_ref="main", request_id="x"), REPO, None).trusted


@pytest.mark.parametrize(
    ("event", "repository", "writers", "trusted"),
    [
        (pr(), REPO, None, False),
        (pr(author="mallory", head_repo="mallory/shop", base_repo="acme/shop"), REPO, None, False),
        (pr(author="mallory", head_repo="mallory/shop", base_repo="acme/shop"), REPO, {"alice"}, False),
        (pr(author="alice", head_repo="alice/shop", base_repo="acme/shop"), REPO, {"alice"}, True),
        (pr(author="bob", head_repo="acme/shop", base_repo="acme/shop"), REPO, None, True),
        (pr(author="carol"), RepositoryConfig(url="/r.git", trusted_authors=["carol"]), None, True),
        (pr(), RepositoryConfig(url="/r.git", trust_pull_requests=True), None, True),
    ],
    ids=["unknown", "fork", "fork-no-write", "fork-writer", "same-repo", "listed", "trust-all"],
)
def test_a_pr_is_trusted_only_when_its_author_could_push_anyway(
    event: PullRequestUpdated, repository: RepositoryConfig, writers: set[str] | None, trusted: bool
) -> None:
    """Same repository, write access, a listed author or the repository-wide switch trust a PR; nothing else does."""
    check = None if writers is None else writers.__contains__
    decision = trust_of(event, repository, check)
    assert decision.trusted is trusted
    assert decision.why


def test_automation_files_in_a_diff_are_named() -> None:
    """CI and automation paths a diff adds, changes or deletes are listed; ordinary files are not."""
    diff = (
        "--- a/cart/cart.go\n+++ b/cart/cart.go\n@@ -1 +1 @@\n-a\n+b\n"
        "--- /dev/null\n+++ b/.github/workflows/x.yml\n@@ -0,0 +1 @@\n+on: push\n"
        "--- a/.gitlab-ci.yml\n+++ /dev/null\n@@ -1 +0,0 @@\n-x\n"
        "--- a/docs/github.md\n+++ b/docs/github.md\n@@ -1 +1 @@\n-a\n+b\n"
    )
    assert automation_paths(diff) == [".github/workflows/x.yml", ".gitlab-ci.yml"]

