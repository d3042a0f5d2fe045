"""The trees a task is judged on: repo/ as a git repository, with solution.patch applied, with hidden/ laid over."""

from __future__ import annotations

import shutil
from pathlib import Path

from agentd.eval.task import SOLUTION_FILE, EvalTask, TaskError
from agentd.kernel.errors import RepositoryError
from agentd.repo.mirror import run_git

START_MESSAGE = "eval: starting tree"


def starting_tree(task: EvalTask, dest: Path) -> Path:
    """Copy repo/ to `dest` and commit it, so the tree is a git repository like the ones agentd works on."""
    if dest.exists():
        raise TaskError(f"{dest}: already exists; eval builds every tree in a new directory")
    shutil.copytree(task.repo, dest, symlinks=True)
    if (dest / ".git").exists():
        raise TaskError(f"{task.repo}: holds a .git entry; repo/ is a plain tree, agentd makes it a repository")
    run_git(dest, "init", "-q", "-b", "main")
    run_git(dest, "add", "-A")
    run_git(dest, "commit", "-q", "--allow-empty", "-m", START_MESSAGE)
    return dest


def apply_patch(tree: Path, patch: str, what: str) -> None:
    """Apply a unified diff (git format) to the tree's files; TaskError saying which hunk does not fit."""
    if not patch.strip():
        raise TaskError(f"{what} is empty: it must change the tree")
    try:
        run_git(tree, "apply", "--whitespace=nowarn", "-", timeout_s=60, stdin=patch)
    except RepositoryError as exc:
        raise TaskError(f"{what} does not apply to repo/: {exc}") from None


def lay_over(tree: Path, overlay: Path) -> list[str]:
    """Copy every file under `overlay` into the tree (replacing what is there); the relative paths laid."""
    if not overlay.is_dir():
        return []
    laid = []
    for source in sorted(overlay.rglob("*")):
        if source.is_dir() and not source.is_symlink():
            continue
        relative = source.relative_to(overlay)
        if ".git" in relative.parts:
            raise TaskError(f"{source}: an overlay may not write into .git")
        target = tree / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink() or target.exists():
            target.unlink()
        shutil.copy2(source, target, follow_symlinks=False)
        laid.append(relative.as_posix())
    return laid


def scoring_tree(task: EvalTask, dest: Path, patch: str | None = None, patch_name: str = SOLUTION_FILE) -> Path:
    """repo/ with `patch` applied (none: the starting tree) and hidden/ laid over it, as scoring sees it."""
    starting_tree(task, dest)
    if patch is not None:
        apply_patch(dest, patch, patch_name)
    lay_over(dest, task.hidden)
    return dest


def solution_text(task: EvalTask) -> str:
    """solution.patch as text."""
    return task.solution.read_text(encoding="utf-8")
