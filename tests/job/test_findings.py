"""The reviewer's findings as the forge takes them, and a gate-passed fix as a one-click suggestion (pure)."""

from __future__ import annotations

import dataclasses

from agentd.demo import BROKEN_CART_GO, CART_GO
from agentd.engine.verdicts import ReviewFinding
from agentd.forge.base import Finding
from agentd.forge.findings import fingerprint
from agentd.job.config import RepositoryReviewSettings
from agentd.job.findings import (
    LocalFix,
    failing_tests_finding,
    from_review,
    local_fix,
    reportable,
    title_of,
    with_suggestion,
)

FIX = (
    "diff --git a/cart/cart.go b/cart/cart.go\n"
    "index 1111111..2222222 100644\n"
    "--- a/cart/cart.go\n"
    "+++ b/cart/cart.go\n"
    "@@ -12,7 +12,6 @@ func Total(items []Item) int {\n"
    " \ttotal := 0\n"
    " \tfor _, it := range items {\n"
    "-\t\t// quantities are applied at checkout\n"
    "-\t\ttotal += it.Price\n"
    "+\t\ttotal += it.Price * it.Qty\n"
    " \t}\n"
    " \treturn total\n"
    " }\n"
)


def lines_of(text: str) -> dict[str, list[str]]:
    """A head holding cart/cart.go as `text`."""
    return {"cart/cart.go": text.splitlines()}


def test_a_review_finding_keeps_its_place_severity_and_the_flagged_code() -> None:
    """file:line, the forge's severity, a title from the first sentence and the head's text of the line."""
    found = ReviewFinding(severity="major", file="./cart/cart.go", line=15, message="Drops the quantity. Fix it.")
    finding = from_review(found, lines_of(BROKEN_CART_GO).get)
    assert finding == Finding(
        "cart/cart.go",
        15,
        "Drops the quantity.",
        "Drops the quantity. Fix it.",
        "error",
        rule="agentd/review",
        code="\t\ttotal += it.Price",
    )
    assert from_review(ReviewFinding(severity="minor", message="no file"), lines_of(CART_GO).get) is None
    whole = from_review(ReviewFinding(severity="info", file="cart/cart.go", message="Style."), lines_of(CART_GO).get)
    assert whole is not None and (whole.line, whole.severity) == (1, "info")
    assert whole.message.startswith("(about the whole file)")


def test_titles_are_the_first_sentence_cut_to_size() -> None:
    """A title is the message's first sentence or line, never longer than its limit."""
    assert title_of("Total ignores qty. It should not.") == "Total ignores qty."
    assert title_of("line one\nline two") == "line one"
    assert len(title_of("x" * 300)) == 100


def test_the_repositorys_threshold_and_skipped_paths_drop_findings() -> None:
    """severity = major keeps only errors; skip globs drop findings on those paths."""
    findings = [
        Finding("cart/cart.go", 3, "a", "a", "error"),
        Finding("cart/cart.go", 4, "b", "b", "warning"),
        Finding("docs/x.md", 1, "c", "c", "error"),
    ]
    settings = RepositoryReviewSettings(skip=["docs/**"], severity="major")
    assert [f.title for f in reportable(findings, settings)] == ["a"]
    assert len(reportable(findings, RepositoryReviewSettings())) == 3


def test_a_one_hunk_fix_is_the_head_lines_it_replaces() -> None:
    """The demo's fix replaces head lines 14-15 with one line; context lines are not part of the range."""
    assert local_fix(FIX, 20) == LocalFix("cart/cart.go", 14, 15, ("\t\ttotal += it.Price * it.Qty",))


def test_a_pure_insertion_also_replaces_the_line_above_it() -> None:
    """A fix that only adds lines becomes a suggestion on the line above, repeated, then the new lines."""
    insertion = FIX.replace(
        "-\t\t// quantities are applied at checkout\n-\t\ttotal += it.Price\n+\t\ttotal += it.Price * it.Qty\n",
        "+\t\tif it.Qty < 0 {\n+\t\t\tcontinue\n+\t\t}\n",
    )
    fix = local_fix(insertion, 20)
    assert fix == LocalFix(
        "cart/cart.go", 13, 13, ("\tfor _, it := range items {", "\t\tif it.Qty < 0 {", "\t\t\tcontinue", "\t\t}")
    )


def test_fixes_that_are_not_small_and_local_are_no_suggestion() -> None:
    """Two files, two hunks, a new file, or more lines than allowed: no suggestion."""
    other = FIX.replace("cart/cart.go", "cart/other.go")
    assert local_fix(FIX + other, 20) is None
    two_hunks = FIX + "@@ -30,1 +29,1 @@\n-a\n+b\n"
    assert local_fix(two_hunks, 20) is None
    new_file = "diff --git a/x.go b/x.go\nnew file mode 100644\n--- /dev/null\n+++ b/x.go\n@@ -0,0 +1 @@\n+package x\n"
    assert local_fix(new_file, 20) is None
    assert local_fix(FIX, 1) is None


def test_the_fix_goes_on_the_most_severe_finding_near_it_and_keeps_its_fingerprint() -> None:
    """The suggestion moves the error at line 15 onto lines 14-15; the info far away is untouched; fingerprints stay."""
    near = Finding("cart/cart.go", 15, "drops qty", "m", "error", code="\t\ttotal += it.Price")
    minor = Finding("cart/cart.go", 14, "comment lies", "m", "warning", code="\t\t// quantities")
    far = Finding("cart/cart.go", 3, "doc", "m", "info")
    fix = LocalFix("cart/cart.go", 14, 15, ("\t\ttotal += it.Price * it.Qty",))
    out = with_suggestion([far, minor, near], fix, None)
    assert out[0] == far and out[1] == minor
    assert dataclasses.replace(out[2], line=15, end_line=None, suggestion=None, suggestion_passed_gate=False) == near
    assert (out[2].line, out[2].end_line, out[2].suggestion, out[2].suggestion_passed_gate) == (
        14,
        15,
        "\t\ttotal += it.Price * it.Qty",
        True,
    )
    assert fingerprint(out[2]) == fingerprint(near)


def test_without_a_finding_near_it_the_fix_goes_on_agentds_own_failing_tests_finding() -> None:
    """No finding near the fix: the fallback (the failing tests) carries it, on the fix's lines."""
    fix = LocalFix("cart/cart.go", 14, 15, ("\t\ttotal += it.Price * it.Qty",))
    own = failing_tests_finding(fix, BROKEN_CART_GO.splitlines(), "TestTotal")
    out = with_suggestion([Finding("cart/cart.go", 3, "doc", "m", "info")], fix, own)
    assert len(out) == 2
    assert (out[1].rule, out[1].line, out[1].end_line, out[1].suggestion_passed_gate) == ("agentd/tests", 14, 15, True)
    assert "TestTotal" in out[1].message
    assert with_suggestion([], fix, None) == []
