"""The harness's scripted models: what the oracle and the saboteur write, checked on every built-in task."""

from __future__ import annotations

import filecmp
from pathlib import Path

import pytest

from agentd.eval.models import FileEdit, sabotage_edits, script_for, solution_edits
from agentd.eval.task import BUILTIN_SUITE, EvalTask, load_task
from agentd.eval.trees import apply_patch, solution_text, starting_tree
from agentd.kernel.tampering import find_tampering
from agentd.repo.mirror import run_git
from tests.eval.conftest import agentd

TASKS = sorted(path.parent.name for path in BUILTIN_SUITE.glob("*/task.toml"))


def apply_edits(tree: Path, edits: list[FileEdit]) -> None:
    """Do what the `code` tool would do with each edit's arguments."""
    for edit in edits:
        target = tree / edit.path
        if edit.content is None:
            target.unlink()
        else:
            assert target.exists() != edit.new
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(edit.content, encoding="utf-8")


def same_files(left: Path, right: Path) -> bool:
    """Whether two trees hold the same files with the same contents (.git aside)."""
    compared = filecmp.dircmp(left, right, ignore=[".git"])
    pending = [compared]
    while pending:
        current = pending.pop()
        if current.left_only or current.right_only or current.diff_files or current.funny_files:
            return False
        pending.extend(current.subdirs.values())
    return True


def task(name: str) -> EvalTask:
    """A built-in task by name."""
    return load_task(BUILTIN_SUITE / name)


@pytest.mark.parametrize("name", TASKS)
def test_the_oracles_edits_are_the_reference_fix(name: str, tmp_path: Path) -> None:
    """Writing the oracle's files into repo/ gives exactly the tree solution.patch gives."""
    edits = solution_edits(task(name), tmp_path / "scratch")
    by_edits = starting_tree(task(name), tmp_path / "edits")
    apply_edits(by_edits, edits)
    by_patch = starting_tree(task(name), tmp_path / "patch")
    apply_patch(by_patch, solution_text(task(name)), "solution.patch")
    assert edits
    assert same_files(by_edits, by_patch)
    assert not (tmp_path / "scratch").exists()


@pytest.mark.parametrize("name", TASKS)
def test_the_saboteurs_edits_are_caught_by_the_tampering_check(name: str, tmp_path: Path) -> None:
    """The saboteur's change skips every visible test, and agentd's tampering check says so for each one."""
    edits = sabotage_edits(task(name))
    tree = starting_tree(task(name), tmp_path / "tree")
    apply_edits(tree, edits)
    run_git(tree, "add", "-A")
    diff = run_git(tree, "diff", "--cached")
    found = find_tampering(diff)
    assert edits
    assert found
    assert {finding.kind for finding in found} == {"skip_added"}


def test_the_null_model_only_talks() -> None:
    """The null script has no tool call for any role."""
    script = script_for("null", task(TASKS[0]), Path("/nonexistent"))
    assert set(script) == {"*"}
    assert all("tool_calls" not in step for step in script["*"])


def test_the_oracle_proposer_acts_through_the_code_tool_and_submits(tmp_path: Path) -> None:
    """The oracle's proposer makes `code` calls, then submit_patch; its voters vote for a candidate."""
    script = script_for("oracle", task("fix-paginate-off-by-one"), tmp_path / "s")
    calls = [call["name"] for step in script["proposer"] for call in step["tool_calls"]]
    assert calls[-1] == "submit_patch"
    assert set(calls[:-1]) == {"code"}
    assert script["judge@vote"][0]["tool_calls"][0]["name"] == "cast_vote"


def test_an_unknown_builtin_model_is_refused(tmp_path: Path) -> None:
    """Only oracle, null and saboteur are built in."""
    with pytest.raises(ValueError, match="not a built-in model"):
        script_for("gpt", task(TASKS[0]), tmp_path)


def test_eval_run_refuses_bad_choices_before_running_anything(tmp_path: Path) -> None:
    """`agentd eval run`: an unknown protocol or model, or a real model without a config, is one line on stderr
    naming the choices, exit 2, and no output directory."""
    protocol = agentd("eval", "run", "builtin", "--protocols", "vote,chat", "--models", "oracle", cwd=tmp_path)
    assert protocol.returncode == 2
    assert "unknown protocol(s) chat; choose from single, vote, debate, negotiation, auto" in protocol.stderr
    no_config = agentd("eval", "run", "builtin", "--models", "gpt", cwd=tmp_path)
    assert no_config.returncode == 2
    assert "only the built-in models (oracle, null, saboteur) can run; give --config naming [models.gpt]" in (
        no_config.stderr
    )
    assert not (tmp_path / "eval-out").exists()
