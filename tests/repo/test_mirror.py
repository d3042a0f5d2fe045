"""Git at the edge, with real repositories: agentd's clone, worktrees, commits and agentd/ branches."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from agentd.kernel.errors import RepositoryError
from agentd.repo.mirror import Mirror, check_repository, clean_nested_git
from tests.conftest import git


def mirror_of(repo: Path, tmp_path: Path) -> Mirror:
    """agentd's clone of `repo`, fetched."""
    mirror = Mirror(repo, tmp_path / "state" / "repo.git")
    mirror.ensure()
    mirror.fetch()
    return mirror


def test_not_a_repository_is_a_clear_error(tmp_path: Path) -> None:
    """A path that is no git repository, or does not exist, is refused with what to do."""
    with pytest.raises(RepositoryError, match="not a git repository"):
        check_repository(tmp_path)
    with pytest.raises(RepositoryError, match="does not exist"):
        check_repository(tmp_path / "missing")


def test_commit_in_worktree_and_publish_leaves_user_branches(sample_repo: Path, tmp_path: Path) -> None:
    """A change committed in a job worktree lands only on an agentd/ branch; main does not move."""
    mirror = mirror_of(sample_repo, tmp_path)
    main_before = git(sample_repo, "rev-parse", "main")
    worktree = mirror.add_worktree(tmp_path / "state" / "worktrees" / "t1", main_before)
    (worktree / "NOTES.md").write_text("hello\n")
    diff = mirror.stage(worktree)
    assert "+hello" in diff
    sha = mirror.commit(worktree, "agentd: notes\n\nAgentd-Task: 1\n", tmp_path / "msg")
    mirror.publish(sha, "agentd/task-1")
    assert git(sample_repo, "rev-parse", "agentd/task-1") == sha
    assert git(sample_repo, "rev-parse", "main") == main_before
    assert git(sample_repo, "rev-parse", "--abbrev-ref", "HEAD") == "main"
    assert git(sample_repo, "status", "--porcelain") == ""
    mirror.fetch()
    assert mirror.published("agentd/task-1") == sha
    mirror.remove_worktree(worktree)
    assert not worktree.exists()


def test_publish_refuses_non_agentd_branches(sample_repo: Path, tmp_path: Path) -> None:
    """publish() never writes a branch outside agentd/."""
    mirror = mirror_of(sample_repo, tmp_path)
    with pytest.raises(RepositoryError, match="only writes agentd/"):
        mirror.publish(git(sample_repo, "rev-parse", "main"), "main")


def test_planted_nested_git_is_removed_before_staging(sample_repo: Path, tmp_path: Path) -> None:
    """A `.git` a sandbox planted below the workspace (hooks, fsmonitor) is removed, never staged or run."""
    mirror = mirror_of(sample_repo, tmp_path)
    worktree = mirror.add_worktree(tmp_path / "wt", git(sample_repo, "rev-parse", "main"))
    evil = worktree / "cart" / ".git"
    evil.mkdir()
    (evil / "config").write_text("[core]\n\tfsmonitor = touch /tmp/agentd-pwned\n")
    assert clean_nested_git(worktree) == ["cart/.git"]
    assert not evil.exists()
    assert (worktree / ".git").is_file()


def test_hooks_in_the_clone_never_run(sample_repo: Path, tmp_path: Path) -> None:
    """agentd's git commands run with hooks disabled, so a hook planted in the clone does nothing."""
    mirror = mirror_of(sample_repo, tmp_path)
    hook = mirror.path / "hooks" / "pre-commit"
    marker = tmp_path / "hook-ran"
    hook.parent.mkdir(exist_ok=True)
    hook.write_text(f"#!/bin/sh\ntouch {marker}\n")
    hook.chmod(0o755)
    worktree = mirror.add_worktree(tmp_path / "wt", git(sample_repo, "rev-parse", "main"))
    (worktree / "x.txt").write_text("x")
    mirror.stage(worktree)
    mirror.commit(worktree, "m", tmp_path / "msg")
    assert not marker.exists()


def test_fetches_never_fail_while_worktrees_come_and_go(sample_repo: Path, tmp_path: Path) -> None:
    """Scans (fetch) in a loop while lanes' worktrees are made, committed in and removed: no git call fails."""
    mirror = mirror_of(sample_repo, tmp_path)
    base = git(sample_repo, "rev-parse", "main")
    failures: list[str] = []
    stop = threading.Event()

    def scan() -> None:
        while not stop.is_set():
            try:
                mirror.fetch()
            except RepositoryError as exc:
                failures.append(f"fetch: {exc}")

    def lanes(name: str) -> None:
        for i in range(12):
            try:
                worktree = mirror.add_worktree(tmp_path / "state" / "worktrees" / f"{name}-{i}", base)
                (worktree / f"{name}.txt").write_text(f"{i}\n")
                mirror.stage(worktree)
                mirror.commit(worktree, f"agentd: {name} {i}\n", tmp_path / f"{name}.msg")
                mirror.remove_worktree(worktree)
            except RepositoryError as exc:
                failures.append(f"{name}: {exc}")

    scanner = threading.Thread(target=scan)
    scanner.start()
    workers = [threading.Thread(target=lanes, args=(f"lane{n}",)) for n in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    stop.set()
    scanner.join()
    assert failures == []


def commit_on(mirror: Mirror, base: str, tmp_path: Path, name: str) -> str:
    """A commit agentd made in a worktree of `base`, adding one file."""
    worktree = mirror.add_worktree(tmp_path / "state" / "worktrees" / name, base)
    (worktree / f"{name}.txt").write_text(f"{name}\n")
    mirror.stage(worktree)
    sha = mirror.commit(worktree, f"agentd: {name}\n", tmp_path / f"{name}.msg")
    mirror.remove_worktree(worktree)
    return sha


def remote_with_clone(sample_repo: Path, tmp_path: Path) -> tuple[Path, Mirror]:
    """A bare remote of the sample repository, and agentd's clone of it that pushes."""
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "--quiet", "--bare", str(sample_repo), str(remote))
    mirror = Mirror(str(remote), tmp_path / "state" / "repo.git", push=True)
    mirror.ensure()
    mirror.fetch()
    return remote, mirror


def test_a_second_fix_moves_agentds_own_branch_over_what_it_published(sample_repo: Path, tmp_path: Path) -> None:
    """A later fix built on another base replaces agentd's earlier publish (not a fast-forward) when agentd names it."""
    remote, mirror = remote_with_clone(sample_repo, tmp_path)
    base = git(remote, "rev-parse", "main")
    first = mirror.publish(commit_on(mirror, base, tmp_path, "first"), "agentd/pr-7")
    second = commit_on(mirror, base, tmp_path, "second")  # a sibling of `first`: the push is not a fast-forward
    mirror.publish(second, "agentd/pr-7", replaces=first)
    assert git(remote, "rev-parse", "agentd/pr-7") == second


def test_a_branch_someone_else_moved_is_never_overwritten(sample_repo: Path, tmp_path: Path) -> None:
    """When the remote's agentd/ branch no longer holds what agentd published, the publish fails and leaves it."""
    remote, mirror = remote_with_clone(sample_repo, tmp_path)
    base = git(remote, "rev-parse", "main")
    first = mirror.publish(commit_on(mirror, base, tmp_path, "first"), "agentd/pr-7")
    other = commit_on(mirror, base, tmp_path, "someone-else")
    git(tmp_path / "state" / "repo.git", "push", "--quiet", "--force", "origin", f"{other}:refs/heads/agentd/pr-7")
    with pytest.raises(RepositoryError, match="refusing to overwrite"):
        mirror.publish(commit_on(mirror, base, tmp_path, "second"), "agentd/pr-7", replaces=first)
    assert git(remote, "rev-parse", "agentd/pr-7") == other


def test_a_branch_agentd_did_not_publish_is_not_taken_over(sample_repo: Path, tmp_path: Path) -> None:
    """An existing agentd/ branch that agentd has no record of publishing is left alone."""
    remote, mirror = remote_with_clone(sample_repo, tmp_path)
    base = git(remote, "rev-parse", "main")
    git(remote, "branch", "agentd/task-9", base)
    with pytest.raises(RepositoryError, match="refusing to overwrite"):
        mirror.publish(commit_on(mirror, base, tmp_path, "mine"), "agentd/task-9")
    assert git(remote, "rev-parse", "agentd/task-9") == base
