"""Fixtures for the eval tests: small Go tasks written into temporary directories, and a harness on real Docker."""

from __future__ import annotations

import difflib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from agentd.eval.harness import Harness
from sandbox.config import SandboxConfig

GO_MOD = "module example.com/calc\n\ngo 1.19\n"
ADD_BUGGY = "package calc\n\n// Add is a plus b.\nfunc Add(a, b int) int {\n\treturn a - b\n}\n"
ADD_FIXED = "package calc\n\n// Add is a plus b.\nfunc Add(a, b int) int {\n\treturn a + b\n}\n"
ADD_TEST = (
    'package calc\n\nimport "testing"\n\nfunc TestAdd(t *testing.T) {\n'
    '\tif got := Add(2, 3); got != 5 {\n\t\tt.Fatalf("Add(2, 3) = %d", got)\n\t}\n}\n'
)
TASK_TOML = 'kind = "fix"\ndescription = "Add subtracts."\ntest_command = ["go", "test", "-count=1", "./..."]\n'


def patch_for(path: str, before: str, after: str) -> str:
    """A git-style patch changing one file's text."""
    lines = difflib.unified_diff(
        before.splitlines(keepends=True), after.splitlines(keepends=True), f"a/{path}", f"b/{path}"
    )
    return f"diff --git a/{path} b/{path}\n" + "".join(lines)


def write_task(
    root: Path,
    *,
    toml: str = TASK_TOML,
    repo: dict[str, str] | None = None,
    hidden: dict[str, str] | None = None,
    solution: str | None = None,
) -> Path:
    """A task directory: task.toml, repo/ (the buggy Add by default), hidden/ (its test), solution.patch (the fix)."""
    files = {
        "task.toml": toml,
        "solution.patch": solution if solution is not None else patch_for("add.go", ADD_BUGGY, ADD_FIXED),
        **{f"repo/{k}": v for k, v in (repo or {"go.mod": GO_MOD, "add.go": ADD_BUGGY}).items()},
        **{f"hidden/{k}": v for k, v in (hidden or {"add_test.go": ADD_TEST}).items()},
    }
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def agentd(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The agentd command line in a fresh process."""
    return subprocess.run(
        [sys.executable, "-m", "agentd", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


@pytest.fixture
def harness(docker_client: docker.DockerClient, sandbox_image: str, tmp_path: Path) -> Iterator[Harness]:
    """A harness over the default sandbox settings, its fixture cluster stopped after the test."""
    opened = Harness(SandboxConfig(), tmp_path / "run", docker_client)
    try:
        yield opened
    finally:
        opened.close()
