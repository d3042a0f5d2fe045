"""`eval check` on real Docker: valid tasks pass, each way of being invalid is named, and tests run in the sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentd.eval.check import check_task, check_tasks
from agentd.eval.harness import Harness
from tests.eval.conftest import ADD_BUGGY, ADD_TEST, GO_MOD, TASK_TOML, agentd, patch_for, write_task

pytestmark = pytest.mark.docker

IN_SANDBOX_TEST = (
    'package calc\n\nimport (\n\t"net"\n\t"os"\n\t"testing"\n\t"time"\n)\n\n'
    "func TestRunsInTheSandbox(t *testing.T) {\n"
    '\tif name, _ := os.Hostname(); name != "sandbox" {\n\t\tt.Fatalf("hostname %q", name)\n\t}\n'
    '\tif os.Getenv("HOME") != "/home/sandbox" || os.Getuid() == 0 {\n\t\tt.Fatal("not the sandbox user")\n\t}\n'
    '\tif c, err := net.DialTimeout("tcp", "192.0.2.1:80", time.Second); err == nil {\n'
    '\t\tc.Close()\n\t\tt.Fatal("the network is reachable")\n\t}\n}\n'
)
BENCH_TEST = (
    'package calc\n\nimport "testing"\n\n'
    "func BenchmarkAdd(b *testing.B) {\n\tfor i := 0; i < b.N; i++ {\n\t\tAdd(i, i)\n\t}\n}\n"
)
ADD_CORRECT = ADD_BUGGY.replace("a - b", "a + b")


def test_valid_task_fails_before_and_passes_after_in_the_sandbox(tmp_path: Path, harness: Harness) -> None:
    """The hidden test fails on repo/ and passes after solution.patch, and it ran as the sandbox user, offline."""
    task = write_task(tmp_path / "add", hidden={"add_test.go": ADD_TEST, "sandbox_test.go": IN_SANDBOX_TEST})
    verdict = check_task(task, harness, tmp_path / "scratch")
    assert verdict.valid, verdict.reasons
    assert verdict.kind == "fix"
    before, after = verdict.runs
    assert before.startswith("before: exit code 1:") and "Add(2, 3) = -1" in before
    assert "TestRunsInTheSandbox" not in before  # the sandbox checks held before the fix too
    assert after.startswith("after: exit code 0:")
    assert not (tmp_path / "scratch").exists()


def test_each_way_of_being_invalid_is_named(tmp_path: Path, harness: Harness) -> None:
    """Tests that already pass, a fix that does not fix, a patch that does not apply and a bad task.toml are
    each reported with their reason (checked two at a time)."""
    passing_test = ADD_TEST.replace("Add(2, 3); got != 5", "Add(2, 0); got != 2")
    roots = [
        write_task(tmp_path / "already-passes", hidden={"add_test.go": passing_test}),
        write_task(tmp_path / "no-fix", solution=patch_for("add.go", ADD_BUGGY, ADD_BUGGY.replace("plus", "sum of"))),
        write_task(tmp_path / "no-apply", solution=patch_for("add.go", "package other\n", "package calc\n")),
        write_task(tmp_path / "bad-toml", toml='kind = "fix"\ndescription = "x"\ntest_command = ["go"]\nlimit = 1\n'),
    ]
    verdicts = check_tasks(roots, harness, tmp_path / "scratch", jobs=2)
    assert [verdict.task for verdict in verdicts] == ["already-passes", "no-fix", "no-apply", "bad-toml"]
    assert not any(verdict.valid for verdict in verdicts)
    reasons = ["; ".join(verdict.reasons) for verdict in verdicts]
    assert "the tests pass on repo/ with hidden/ laid over it" in reasons[0]
    assert "the tests fail after solution.patch (exit code 1)" in reasons[1]
    assert "Add(2, 3) = -1" in reasons[1]
    assert "solution.patch does not apply to repo/" in reasons[2]
    assert "limit: unknown key" in reasons[3]


def test_hang_before_the_fix_counts_as_failing_with_a_note(tmp_path: Path, harness: Harness) -> None:
    """Tests outliving the task's deadline before the fix count as failing (the bug may be a hang), with a note."""
    hanging = ADD_BUGGY.replace("return a - b", "for {\n\t}")
    toml = TASK_TOML + "[limits]\ntest_timeout_s = 10\n"
    task = write_task(
        tmp_path / "hang",
        toml=toml,
        repo={"go.mod": GO_MOD, "add.go": hanging},
        solution=patch_for("add.go", hanging, ADD_CORRECT),
    )
    verdict = check_task(task, harness, tmp_path / "scratch")
    assert verdict.valid, verdict.reasons
    assert verdict.notes == ["before the fix the tests time out (10s): a hang counts as a failure"]


def test_optimization_needs_passing_behaviour_tests_and_a_measured_gain(tmp_path: Path, harness: Harness) -> None:
    """An optimize task whose 'solution' only edits a comment is refused: agentd's benchmark sees no gain."""
    toml = (
        'kind = "optimize"\ndescription = "Make Add faster."\ntest_command = ["go", "test", "./..."]\n'
        'benchmark = "./"\nmin_gain = 0.3\n'
    )
    task = write_task(
        tmp_path / "no-gain",
        toml=toml,
        repo={"go.mod": GO_MOD, "add.go": ADD_CORRECT, "add_bench_test.go": BENCH_TEST},
        solution=patch_for("add.go", ADD_CORRECT, ADD_CORRECT.replace("plus", "sum of")),
    )
    verdict = check_task(task, harness, tmp_path / "scratch")
    assert not verdict.valid
    (reason,) = verdict.reasons
    assert reason.startswith("agentd's benchmark shows no gain of at least 30%: BenchmarkAdd")
    assert [run.split(":")[0] for run in verdict.runs] == ["before", "after"]


def test_command_line_exit_codes(tmp_path: Path, sandbox_image: str) -> None:
    """`agentd eval check`: a missing suite is one line on stderr and exit 2; an invalid task is a FAIL line, the
    summary names it, and the exit status is 1."""
    missing = agentd("eval", "check", tmp_path / "nowhere", cwd=tmp_path)
    assert missing.returncode == 2
    assert missing.stderr.count("\n") == 1 and "no such suite directory" in missing.stderr
    write_task(tmp_path / "suite" / "typo", toml='kind = "fix"\ndescription = "x"\ntest_command = ["go"]\nlimit = 1\n')
    invalid = agentd("eval", "check", tmp_path / "suite", cwd=tmp_path)
    assert invalid.returncode == 1, invalid.stderr
    first, summary = invalid.stdout.splitlines()
    assert first.startswith("FAIL  typo (?, ") and "limit: unknown key" in first
    assert summary.startswith("checked 1 tasks in ") and summary.endswith("0 valid, 1 not valid (typo)")
