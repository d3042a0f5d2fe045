"""The layer contracts of docs/architecture.md hold, and a planted upward import breaks them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """Run import-linter over the packages under `root`, with its pyproject's contracts."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=root, env=env, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """A copy of the packages and pyproject.toml, to plant imports in."""
    for package in ("agentd", "tools", "sandbox", "policies"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_tree_keeps_every_contract() -> None:
    """import-linter finds no broken contract in the repository as it is."""
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


@pytest.mark.parametrize(
    ("module", "planted", "complaint"),
    [
        ("sandbox/docker.py", "import agentd.job.job", "sandbox is not allowed to import agentd.job"),
        ("tools/code.py", "import agentd.config", "tools is not allowed to import agentd.config"),
        ("agentd/kernel/policy.py", "import agentd.store.base", "agentd.kernel is not allowed to import agentd.store"),
        ("agentd/engine/consensus.py", "import tools.registry", "agentd.engine is not allowed to import tools"),
    ],
)
def test_a_planted_upward_import_breaks_the_contracts(copy: Path, module: str, planted: str, complaint: str) -> None:
    """An import that points up a layer (or past a seam) makes lint-imports fail and name it."""
    target = copy / module
    target.write_text(target.read_text() + f"\n{planted}  # planted by the test\n")
    done = lint_imports(copy)
    assert done.returncode != 0
    assert complaint in done.stdout, done.stdout
