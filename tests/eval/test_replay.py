"""`agentd eval replay` on a real Go repository with a history of fixes, through the command line."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from agentd.eval.replay import split_change
from tests.conftest import git
from tests.eval.conftest import agentd

CALC = """package calc

// Add is a plus b.
func Add(a, b int) int { return a + b }

// Sub is a minus b.
func Sub(a, b int) int { return b - a }

// Mul is a times b.
func Mul(a, b int) int { return a + b }
"""
ADD_TEST = """package calc

import "testing"

func TestAdd(t *testing.T) {
	if Add(2, 3) != 5 {
		t.Fatal("Add(2, 3)")
	}
}
"""


def commit(repo: Path, message: str, files: dict[str, str]) -> str:
    """Write files and commit them; returns the new commit's hash."""
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)
    return git(repo, "rev-parse", "HEAD")


def case(name: str, call: str, want: int) -> str:
    """A Go test function asserting one call's result."""
    check = f'\tif got := {call}; got != {want} {{\n\t\tt.Fatalf("{call} = %d", got)\n\t}}\n'
    return f"\nfunc Test{name}(t *testing.T) {{\n{check}}}\n"


@pytest.fixture
def history(tmp_path: Path) -> dict[str, str]:
    """A Go repository: two real fix commits among commits replay must skip; the hashes by what they are."""
    repo = tmp_path / "calc"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    shas = {
        "initial": commit(
            repo,
            "calc: Add, Sub, Mul",
            {"go.mod": "module example.com/calc\n\ngo 1.19\n", "calc/calc.go": CALC, "calc/calc_test.go": ADD_TEST},
        )
    }
    fixed_sub = CALC.replace("return b - a", "return a - b")
    shas["fix-sub"] = commit(
        repo,
        "calc: Sub subtracted the wrong way round\n\nSub(5, 3) gave -2.",
        {"calc/calc.go": fixed_sub, "calc/calc_test.go": ADD_TEST + case("Sub", "Sub(5, 3)", 2)},
    )
    shas["no-test"] = commit(repo, "calc: comment", {"calc/calc.go": fixed_sub.replace("a minus b", "a minus b.")})
    passing = ADD_TEST + case("Sub", "Sub(5, 3)", 2) + case("AddZero", "Add(7, 0)", 7)
    shas["already-passes"] = commit(
        repo,
        "calc: test Add with zero",
        {"calc/calc_test.go": passing, "calc/calc.go": fixed_sub + "\n// Version 2.\n"},
    )
    shas["not-go"] = commit(repo, "docs: readme", {"README.md": "# calc\n"})
    shas["tests-only"] = commit(
        repo, "calc: one more case", {"calc/calc_test.go": passing + case("Sub2", "Sub(2, 2)", 0)}
    )
    fixed_mul = (fixed_sub + "\n// Version 2.\n").replace(
        "return a + b }\n\n// Version", "return a * b }\n\n// Version"
    )
    shas["fix-mul"] = commit(
        repo,
        "calc: Mul added instead of multiplying",
        {
            "calc/calc.go": fixed_mul,
            "calc/calc_test.go": passing + case("Sub2", "Sub(2, 2)", 0) + case("Mul", "Mul(3, 4)", 12),
        },
    )
    shas["repo"] = str(repo)
    return shas


def test_split_change_sorts_commits() -> None:
    """Test files and testdata are tests; a commit without Go, without tests, with only tests, or deleting a
    test file is no task, and says why."""
    assert split_change([("M", "a.go"), ("M", "a_test.go"), ("A", "testdata/x.json")]) == (
        ("a_test.go", "testdata/x.json"),
        ("a.go",),
        "",
    )
    assert split_change([("M", "README.md")])[2] == "changes no Go file"
    assert split_change([("M", "a.go")])[2] == "changes no test"
    assert split_change([("M", "a_test.go")])[2] == "changes only tests: nothing to fix"
    assert split_change([("M", "a.go"), ("D", "b_test.go")])[2].startswith("deletes test files")


@pytest.mark.docker
def test_replay_makes_exactly_the_valid_tasks_and_check_accepts_them(
    history: dict[str, str], tmp_path: Path, sandbox_image: str
) -> None:
    """Of seven commits, the two fixes become tasks (parent tree, test files hidden, the rest the solution, the
    message the description); the others are skipped with their reason; `eval check` accepts both tasks."""
    out = tmp_path / "tasks"
    done = agentd("eval", "replay", history["repo"], "--out", out, "--jobs", "2", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert sorted(path.name for path in out.iterdir()) == sorted(
        [
            f"{history['fix-mul'][:10]}-calc-mul-added-instead-of-multiplying",
            f"{history['fix-sub'][:10]}-calc-sub-subtracted-the-wrong-way-round",
        ]
    )
    skipped = {line.split()[1].rstrip(":"): line for line in lines if line.startswith("skip")}
    assert "changes no test" in skipped[history["no-test"][:10]]
    assert "the tests pass on repo/ with hidden/ laid over it" in skipped[history["already-passes"][:10]]
    assert "changes no Go file" in skipped[history["not-go"][:10]]
    assert "changes only tests" in skipped[history["tests-only"][:10]]
    assert "no parent" in skipped[history["initial"][:10]]
    sub = out / f"{history['fix-sub'][:10]}-calc-sub-subtracted-the-wrong-way-round"
    spec = tomllib.loads((sub / "task.toml").read_text())
    assert spec["description"] == "calc: Sub subtracted the wrong way round\n\nSub(5, 3) gave -2."
    assert "return b - a" in (sub / "repo" / "calc" / "calc.go").read_text()
    assert "TestSub" in (sub / "hidden" / "calc" / "calc_test.go").read_text()
    assert "calc_test.go" not in (sub / "solution.patch").read_text()
    checked = agentd("eval", "check", out, "--jobs", "2", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.splitlines()[-1].startswith("checked 2 tasks") and "2 valid" in checked.stdout


@pytest.mark.docker
def test_replay_since_limit_and_blind(history: dict[str, str], tmp_path: Path, sandbox_image: str) -> None:
    """--since bounds the history, --limit stops at the newest valid tasks, --blind leaves the description empty."""
    out = tmp_path / "blind"
    done = agentd(
        "eval",
        "replay",
        history["repo"],
        "--out",
        out,
        "--since",
        history["fix-sub"],
        "--limit",
        "1",
        "--blind",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (task,) = out.iterdir()
    assert task.name.startswith(history["fix-mul"][:10])
    assert tomllib.loads((task / "task.toml").read_text())["description"] == ""
    assert history["fix-sub"][:10] not in done.stdout  # before --since: never looked at


def test_replay_refuses_a_non_empty_output_directory(history: dict[str, str], tmp_path: Path) -> None:
    """Replay writes only into a new or empty directory, so it never mixes with or overwrites earlier tasks."""
    out = tmp_path / "used"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    done = agentd("eval", "replay", history["repo"], "--out", out, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().startswith("agentd: error:") and "not an empty directory" in done.stderr
    assert (out / "keep.txt").read_text() == "mine"
