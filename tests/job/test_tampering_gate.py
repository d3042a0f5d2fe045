"""The gate's tampering check (a change that weakens the tests is refused unless the task is about them), and the
purpose a job reads from its event."""

from __future__ import annotations

import threading

import structlog

from agentd.job import gate
from agentd.job.context import JobContext, purpose_of
from agentd.job.trust import Trust
from agentd.kernel.events import PullRequestCommand
from agentd.kernel.purpose import Purpose, classify


def context_with(purpose: Purpose) -> JobContext:
    """Just enough of a job's context for the tampering check: the task's purpose."""
    trusted = Trust(True, "a person's task")
    log = structlog.get_logger()
    return JobContext(None, None, "", "agentd/task-1", threading.Event(), log, trusted, purpose=purpose)  # type: ignore[arg-type]


WEAKENED = """diff --git a/cart/cart_test.go b/cart/cart_test.go
--- a/cart/cart_test.go
+++ b/cart/cart_test.go
@@ -5,6 +5,5 @@ import "testing"
 func TestTotal(t *testing.T) {
 \tif got := Total(); got != 6 {
-\t\tt.Fatalf("Total() = %d, want 6", got)
 \t}
 }
"""


def test_the_gate_refuses_a_change_that_weakens_the_tests() -> None:
    """A diff that removes a t.Fatalf is refused, with the finding, when the task is a plain fix."""
    ctx = context_with(classify("fix", "Total ignores the quantity"))
    verdict = gate.untampered(ctx, WEAKENED)
    assert not verdict.passed
    assert verdict.reason.startswith("the change deletes or weakens tests and the task is not about the tests")
    assert "cart/cart_test.go (TestTotal): removes a failure check" in verdict.reason


def test_the_gate_lets_a_task_about_the_tests_change_them() -> None:
    """When the task asks for work on the tests ("the test is wrong"), the same diff passes and is noted."""
    ctx = context_with(classify("fix", "The test is wrong: Total has no quantity yet."))
    verdict = gate.untampered(ctx, WEAKENED)
    assert verdict.passed
    assert "removes a failure check" in verdict.measured


def test_a_pull_request_command_to_optimize_gets_the_speed_gate() -> None:
    """`/agentd optimize` on a pull request is an optimization (the speed gate applies); another command is a fix."""
    command = {"repo": "r", "number": 7, "author": "alice", "comment_id": 9}
    optimize = purpose_of(PullRequestCommand(verb="optimize", argument="Dedup", **command))
    assert (optimize.kind, optimize.optimizing, optimize.about_tests) == ("optimize", True, False)
    assert purpose_of(PullRequestCommand(verb="fix", **command)).kind == "fix"
