"""A head's check, from the task's record (pure): the conclusion is about the head, the summary says what was
reviewed and skipped, the tests on the base branch, the head and the fix, the verdict and the cost."""

from __future__ import annotations

import time

import pytest

from agentd.forge.base import Finding
from agentd.job.checks import conclusion, report
from agentd.job.review import ReviewState
from agentd.kernel.events import PullRequestUpdated
from agentd.store.records import CodeVersion, Task, TaskRecord, Usage

HEAD, BASE = "a" * 40, "b" * 40


def task(status: str) -> Task:
    """A finished PR task on HEAD."""
    event = PullRequestUpdated(repo="/r", number=7, head_sha=HEAD, base_branch="main")
    return Task(3, "pr", "PR #7", status, HEAD, "Multiply by Qty\n\nmore", "agentd/pr-7", "c" * 40, True, event, 0, 1)


def record(head: bool | None, target: bool | None = None, final: bool | None = None) -> TaskRecord:
    """Versions agentd tested: the head ('base'), the base branch ('target'), the fix ('final')."""
    versions = []
    for kind, sha, passed in (("base", HEAD, head), ("target", BASE, target), ("final", "c" * 40, final)):
        if passed is not None:
            versions.append(CodeVersion(len(versions) + 1, 3, kind, sha, "", passed, "", time.time()))
    return TaskRecord((), tuple(versions), Usage(1200, 340, 5, 0.0123), None)


BLOCKING = Finding("cart/cart.go", 15, "drops qty", "m", "error")
MINOR = Finding("cart/cart.go", 3, "doc", "m", "warning")


@pytest.mark.parametrize(
    ("status", "head", "target", "findings", "expected"),
    [
        ("reviewed", True, None, [], "success"),
        ("reviewed", True, None, [MINOR], "success"),
        ("reviewed", True, None, [BLOCKING], "failure"),
        ("fixed", False, True, [], "failure"),
        ("fixed", False, False, [], "neutral"),
        ("fixed", False, False, [BLOCKING], "failure"),
        ("superseded", True, None, [], "cancelled"),
        ("failed", None, None, [], "failure"),
    ],
)
def test_the_conclusion_judges_the_head_not_agentds_fix(
    status: str, head: bool | None, target: bool | None, findings: list[Finding], expected: str
) -> None:
    """Failing tests the base branch passes, or a blocking finding, fail the head (even when agentd fixed it);
    tests already failing on the base branch are neutral; a superseded head is cancelled; a failed job fails."""
    assert conclusion(task(status), record(head, target), findings) == expected


def test_the_report_says_what_was_reviewed_skipped_tested_found_and_spent() -> None:
    """The summary names the incremental range, the files, the skipped ones, each test run, findings and cost;
    every finding is an annotation at its lines."""
    state = ReviewState(
        HEAD,
        pr=7,
        base=BASE,
        since="d" * 40,
        target_branch="main",
        reviewed=["cart/cart.go"],
        skipped=["docs/a.md"],
        instructions=["AGENTS.md"],
        settings_error=".agentd.toml at bbbb: review.skipp: unknown key (a typo?); remove it; agentd used the defaults",
        inline={"posted": 1, "already_posted": 0, "off_diff": 0},
    )
    fixed = Finding(**{**BLOCKING.__dict__, "end_line": 16, "suggestion": "x", "suggestion_passed_gate": True})
    state.set_findings([fixed, MINOR])
    made = report(task("fixed"), record(False, True, True), state, "the report", "draft pull request #9")
    assert made.conclusion == "failure"
    assert made.title == "Tests fail on this head; 1 blocking finding(s); a fix passed agentd's gate"
    summary = made.summary
    for fragment in (
        "**Verdict:** fixed: Multiply by Qty",
        f"what changed since the last reviewed head `{'d' * 12}` (incremental): `cart/cart.go`",
        "**Skipped:** `docs/a.md`",
        "**Instructions given to the team:** `AGENTS.md`",
        f"`main` at `{BASE[:12]}`: passed; this head `{HEAD[:12]}`: FAILED; agentd's fix `{'c' * 12}`: passed",
        "2 (1 blocking), annotated at file:line; 1 new inline comment(s)",
        "1 with a one-click suggestion that passed agentd's gate",
        "**Fix:** draft pull request #9",
        "1,200 input + 340 output tokens in 5 call(s), $0.0123",
        "> .agentd.toml at bbbb: review.skipp: unknown key",
    ):
        assert fragment in summary, fragment
    assert made.text == "the report"
    assert [(a.path, a.start_line, a.end_line, a.level) for a in made.annotations] == [
        ("cart/cart.go", 15, 16, "failure"),
        ("cart/cart.go", 3, 3, "warning"),
    ]
