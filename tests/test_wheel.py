"""The wheel works away from this checkout: built, installed from the lock into a throwaway venv, and run."""

from __future__ import annotations

import json
import os
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
UV = ROOT / ".tools" / "uv" / "bin" / "uv"


def run(argv: list[str | Path], cwd: Path, env: dict[str, str], timeout: float = 600) -> str:
    """Run a command; fail the test with its output when it does not exit 0."""
    done = subprocess.run(
        [str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{argv} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv outside the repository with the runtime lock and the freshly built wheel, nothing else."""
    assert UV.exists(), "make setup bootstraps uv into .tools/uv; run it first"
    where = tmp_path_factory.mktemp("wheel")
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    env |= {"UV_PYTHON_DOWNLOADS": "never", "UV_NO_PROGRESS": "1"}
    dist = where / "dist"
    run([UV, "build", "--wheel", "--build-constraints", "requirements/build.lock", "-o", dist], ROOT, env)
    (wheel,) = dist.glob("agentd-*.whl")
    venv = where / "venv"
    run([UV, "venv", "--quiet", "--python", "python3", venv], where, env)
    python = venv / "bin" / "python"
    run([UV, "pip", "sync", "--python", python, "--require-hashes", ROOT / "requirements/runtime.lock"], where, env)
    run([UV, "pip", "install", "--python", python, "--no-deps", wheel], where, env)
    return venv


def clean_env(home: Path) -> dict[str, str]:
    """An environment with no trace of this checkout: no PYTHONPATH, a home of its own."""
    keep = {k: v for k, v in os.environ.items() if k in {"PATH", "DOCKER_HOST", "LANG"}}
    return {**keep, "HOME": str(home)}


def test_the_wheel_imports_from_its_own_venv(installed: Path, tmp_path: Path) -> None:
    """`agentd --version` names the project's version, and agentd, tools and sandbox load from the venv."""
    env = clean_env(tmp_path)
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert run([installed / "bin" / "agentd", "--version"], tmp_path, env).strip() == f"agentd, version {version}"
    code = "import agentd, tools, sandbox, policies; print(agentd.__file__, tools.__file__, sandbox.__file__)"
    files = run([installed / "bin" / "python", "-c", code], tmp_path, env).split()
    assert all(Path(f).is_relative_to(installed) for f in files), files


def test_the_wheel_ships_the_builtin_eval_suite(installed: Path, tmp_path: Path) -> None:
    """`builtin` resolves inside the installed package, and every shipped task loads (task.toml, repo/, patch)."""
    code = "from agentd.eval.task import load_task as t, task_dirs as d; print(*[t(r).root for r in d('builtin')])"
    roots = run([installed / "bin" / "python", "-c", code], tmp_path, clean_env(tmp_path)).split()
    local = sorted(path.name for path in (ROOT / "agentd" / "eval" / "suite").iterdir())
    assert sorted(Path(root).name for root in roots) == local
    assert all(Path(root).is_relative_to(installed) for root in roots), roots


@pytest.mark.docker
def test_init_sandbox_build_doctor_and_demo_run_from_the_wheel(
    installed: Path, tmp_path: Path, sample_repo: Path, sandbox_image: str
) -> None:
    """From the installed wheel alone: init writes a config, sandbox build finds the image its shipped recipe
    describes, doctor passes, and the demo publishes a fix whose tests pass."""
    agentd = installed / "bin" / "agentd"
    env = clean_env(tmp_path)
    work = tmp_path / "outside"
    work.mkdir()
    run([agentd, "init", sample_repo, "-o", "agentd.toml"], work, env)
    assert (work / "agentd.toml").exists()
    built = run([agentd, "sandbox", "build"], work, env)
    # the wheel ships the Dockerfile and the runner source, so it computes the same recipe version as this checkout
    assert "is up to date" in built, built
    doctor = run([agentd, "doctor", "--config", "agentd.toml"], work, {**env, "OPENAI_API_KEY": "sk-not-used"})
    assert "FAIL" not in doctor, doctor
    result = json.loads(run([agentd, "demo", "--json", "--dir", tmp_path / "demo"], work, env, timeout=900))
    assert result["tests_passed"] is True
    assert result["branch"].startswith("agentd/commit-")
