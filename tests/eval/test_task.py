"""The task format: task.toml parsed strictly, task directories checked, and the built-in suite well-formed."""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from agentd.eval.task import BUILTIN_SUITE, TaskError, load_task, parse_spec, task_dirs
from agentd.eval.trees import scoring_tree, solution_text
from tests.eval.conftest import TASK_TOML, write_task

COMMAND = 'description = "d"\ntest_command = ["go", "test", "./..."]\n'
MINIMAL = 'kind = "fix"\n' + COMMAND


def test_minimal_spec_gets_the_default_limits() -> None:
    """kind, description and test_command are enough; the test deadline defaults to 300 s and no database."""
    spec = parse_spec(MINIMAL, "task.toml")
    assert spec.kind == "fix"
    assert spec.test_command == ["go", "test", "./..."]
    assert spec.limits.test_timeout_s == 300
    assert spec.database is None


def test_unknown_keys_are_errors_naming_the_key() -> None:
    """A typo at the top level or inside a table is refused, and the message names the key."""
    with pytest.raises(TaskError, match=r"task\.toml: test_comand: unknown key"):
        parse_spec(MINIMAL + 'test_comand = ["x"]\n', "task.toml")
    with pytest.raises(TaskError, match=r"limits\.timeout: unknown key"):
        parse_spec(MINIMAL + "[limits]\ntimeout = 3\n", "task.toml")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('kind = "sql"\n' + COMMAND, "a sql task needs a \\[database\\] table"),
        ('kind = "optimize"\n' + COMMAND, "an optimize task names its benchmark package"),
        ('kind = "fix"\nmin_gain = 0.5\n' + COMMAND, "belong to optimize tasks only"),
        ('kind = "optimize"\nmin_gain = 0.5\nbenchmark = "pkg"\n' + COMMAND, "name a package directory"),
        ('kind = "refactor"\n' + COMMAND, "kind"),
        ('kind = "fix"\n' + COMMAND + '[database]\nfixture = "f.sql"\ndsn_env = "NOT-A-NAME"\n', "variable name"),
        ('kind = "fix"\ndescription = "d"\ntest_command = []\n', "test_command"),
    ],
)
def test_inconsistent_specs_are_refused(text: str, message: str) -> None:
    """Each rule of the format (sql needs a fixture, optimize a benchmark and min_gain, …) has its own message."""
    with pytest.raises(TaskError, match=message):
        parse_spec(text, "task.toml")


def test_not_toml_is_an_error_saying_so() -> None:
    """A file that is not TOML says so with the parser's position."""
    with pytest.raises(TaskError, match="not valid TOML"):
        parse_spec("kind = fix", "task.toml")


def test_load_task_names_what_is_missing(tmp_path: Path) -> None:
    """A task directory without repo/, solution.patch or its fixture file is refused, naming the missing part."""
    task = write_task(tmp_path / "t")
    assert load_task(task).spec.description == "Add subtracts."
    (task / "solution.patch").unlink()
    with pytest.raises(TaskError, match=r"no solution\.patch"):
        load_task(task)
    with pytest.raises(TaskError, match=r"no task\.toml"):
        load_task(tmp_path / "elsewhere")
    sql = write_task(tmp_path / "s", toml=TASK_TOML.replace('"fix"', '"sql"') + '[database]\nfixture = "../x.sql"\n')
    with pytest.raises(TaskError, match="lies outside the task"):
        load_task(sql)


def test_task_dirs_lists_a_suite_or_one_task(tmp_path: Path) -> None:
    """A suite is a directory of task directories (sorted); a task directory is a suite of one; --task picks."""
    write_task(tmp_path / "suite" / "b")
    write_task(tmp_path / "suite" / "a")
    assert [p.name for p in task_dirs(tmp_path / "suite")] == ["a", "b"]
    assert [p.name for p in task_dirs(tmp_path / "suite" / "b")] == ["b"]
    assert [p.name for p in task_dirs(tmp_path / "suite", ["b"])] == ["b"]
    with pytest.raises(TaskError, match="no task named c"):
        task_dirs(tmp_path / "suite", ["c"])
    with pytest.raises(TaskError, match="no such suite directory"):
        task_dirs(tmp_path / "none")


def test_builtin_suite_has_the_promised_tasks() -> None:
    """'builtin' is the shipped suite: at least 24 fix, 6 optimize and 4 sql tasks, every one of them loading."""
    tasks = [load_task(root) for root in task_dirs("builtin")]
    counts = Counter(task.spec.kind for task in tasks)
    assert counts["fix"] >= 24
    assert counts["optimize"] >= 6
    assert counts["sql"] >= 4
    assert all(task.root.is_relative_to(BUILTIN_SUITE) for task in tasks)
    assert all(task.spec.min_gain for task in tasks if task.spec.kind == "optimize")


def test_builtin_solutions_apply_and_descriptions_keep_the_hidden_tests_hidden(tmp_path: Path) -> None:
    """Every reference patch applies to its repo/ (as eval check applies it), and no description names a hidden test."""
    for root in task_dirs("builtin"):
        task = load_task(root)
        tree = scoring_tree(task, tmp_path / task.name, solution_text(task))
        changed = subprocess.run(["git", "status", "--porcelain"], cwd=tree, capture_output=True, text=True, check=True)
        assert changed.stdout.strip(), f"{task.name}: solution.patch and hidden/ change nothing"
        hidden_tests = {
            name
            for path in task.hidden.rglob("*_test.go")
            for name in re.findall(r"^func (Test\w+)", path.read_text(), re.MULTILINE)
        }
        assert hidden_tests, f"{task.name}: hidden/ holds no test"
        assert task.spec.description.strip(), f"{task.name}: no description"
        named = [name for name in hidden_tests if name in task.spec.description]
        assert not named, f"{task.name}: the description names hidden tests {named}"
