"""What a diff changes, read on the host: the files it names, confined to the worktree, and the Go
packages among them that have benchmarks (for the optimization gate)."""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

from agentd.kernel.worktree_files import WorktreeFiles, confine

# git writes a TAB after a name holding a space; a name with special characters comes quoted ("b/…"), skipped here
_NEW_NAME = re.compile(r"^\+\+\+ b/(.+?)\t?$", re.MULTILINE)


def changed_files(diff: str) -> list[str]:
    """The worktree-relative paths a unified git diff adds or changes; a path leaving the worktree is dropped."""
    found = {confine(name) for name in _NEW_NAME.findall(diff)}
    return sorted(path for path in found if path is not None)


def benchmark_packages(diff: str, worktree: Path) -> list[str]:
    """Packages (./dir) a diff changes that have Go benchmarks, read through no symlink and no FIFO."""
    files = WorktreeFiles(worktree)
    directories = sorted({posixpath.dirname(path) or "." for path in changed_files(diff) if path.endswith(".go")})
    found = []
    for directory in directories:
        if files.kind(directory) != "directory":
            continue
        tests = files.texts(directory, suffix="_test.go", max_depth=0)
        if any("func Benchmark" in text for _path, text in tests):
            found.append("." if directory == "." else f"./{directory}")
    return found
