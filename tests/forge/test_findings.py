"""The pure shapes of the forge layer: diff anchoring, fingerprints, annotations, comments with suggestions."""

from __future__ import annotations

import subprocess
from pathlib import Path

from agentd.forge.base import Finding, InlineComment
from agentd.forge.diff import FileDiff, anchor, parse_patch, parse_unified_diff
from agentd.forge.findings import (
    ANNOTATIONS_PER_REQUEST,
    batches,
    comment_body,
    fingerprint,
    fingerprints_in,
    suggestion_block,
    to_annotation,
    to_inline_comment,
)

# GitHub's own example of a file's `patch` field (GET /pulls/{n}/files, components/examples/diff-entry-items)
GITHUB_PATCH = "@@ -132,7 +132,7 @@ module Test @@ -1000,7 +1000,7 @@ module Test"
PATCH = """@@ -1,4 +1,5 @@
 package cart
-func Total() int {
+// Total sums the cart.
+func Total(items []int) int {
 \treturn 0
@@ -10,3 +11,4 @@ func Other() {
 \tx := 1
+\ty := 2
 \treturn x
"""


def test_parse_patch_maps_new_lines_to_hunks_and_old_lines() -> None:
    """Added lines have no base-side number, context lines keep theirs, removed lines take no new number."""
    diff = parse_patch("cart.go", PATCH)
    assert sorted(diff.lines) == [1, 2, 3, 4, 11, 12, 13]
    assert diff.lines[1].old_line == 1 and diff.lines[1].hunk == 0
    assert diff.lines[2].old_line is None and diff.lines[3].old_line is None
    assert diff.lines[4].old_line == 3
    assert diff.lines[11].old_line == 10 and diff.lines[11].hunk == 1
    assert diff.lines[12].old_line is None
    assert diff.lines[13].old_line == 11


def test_parse_patch_reads_githubs_example_patch_headers() -> None:
    """The hunk headers of GitHub's documented patch example parse without a line body (no lines shown)."""
    assert parse_patch("file1.txt", GITHUB_PATCH).lines == {}


def test_anchor_places_a_range_inside_one_hunk_and_refuses_lines_off_the_diff() -> None:
    """A range within a hunk anchors whole; across hunks only the last line; off the diff not at all."""
    diff = parse_patch("cart.go", PATCH)
    whole = anchor(diff, 2, 3)
    assert whole is not None and (whole.start_line, whole.line, whole.whole_range) == (2, 3, True)
    single = anchor(diff, 4)
    assert single is not None and (single.start_line, single.line, single.old_line) == (None, 4, 3)
    across = anchor(diff, 4, 11)
    assert across is not None and (across.start_line, across.line, across.whole_range) == (None, 11, False)
    assert anchor(diff, 7) is None
    assert anchor(None, 1) is None


def test_parse_unified_diff_reads_real_git_output(tmp_path: Path) -> None:
    """Every changed file of a real `git diff` is parsed under its new path; deleted files are left out."""
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    (tmp_path / "a.go").write_text("one\ntwo\nthree\n")
    (tmp_path / "gone.txt").write_text("bye\n")
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "base"], check=True)
    (tmp_path / "a.go").write_text("one\nTWO\nthree\nfour\n")
    (tmp_path / "gone.txt").unlink()
    (tmp_path / "new dir").mkdir()
    (tmp_path / "new dir" / "b.go").write_text("fresh\n")
    subprocess.run([*git, "add", "-A"], check=True)
    text = subprocess.run([*git, "diff", "--cached"], check=True, capture_output=True, text=True).stdout
    files = parse_unified_diff(text)
    assert set(files) == {"a.go", "new dir/b.go"}
    assert sorted(files["a.go"].lines) == [1, 2, 3, 4]
    assert files["a.go"].lines[2].old_line is None and files["a.go"].lines[3].old_line == 3
    assert files["new dir/b.go"].lines[1].old_line is None


def finding(**overrides: object) -> Finding:
    """A finding on cart.go lines 2-3 with a gate-passed suggestion (fields overridable)."""
    fields: dict[str, object] = {
        "path": "cart.go",
        "line": 2,
        "end_line": 3,
        "title": "Total ignores its items",
        "message": "The total is always 0.",
        "severity": "error",
        "rule": "logic",
        "code": "// Total sums the cart.\nfunc Total(items []int) int {",
        "suggestion": "// Total sums the cart.\nfunc Total(items []int) (sum int) {",
        "suggestion_passed_gate": True,
    }
    fields.update(overrides)
    return Finding(**fields)  # type: ignore[arg-type]


def test_fingerprint_survives_moves_and_reindent_but_not_other_code() -> None:
    """Line numbers and whitespace do not change a fingerprint; the flagged code, title or path do."""
    base = fingerprint(finding())
    assert fingerprint(finding(line=40, end_line=41)) == base
    assert fingerprint(finding(code="  // Total sums the cart.\n\tfunc Total(items []int) int {  ")) == base
    assert fingerprint(finding(code="func Other() {}")) != base
    assert fingerprint(finding(title="Something else")) != base
    assert fingerprint(finding(path="other.go")) != base
    assert len(base) == 16


def test_annotation_carries_level_and_lines_and_batches_respect_the_limit() -> None:
    """Severity maps to the Checks API's levels and 120 annotations go out as 50, 50, 20."""
    note = to_annotation(finding(severity="info", end_line=None))
    assert (note.level, note.start_line, note.end_line) == ("notice", 2, 2)
    assert to_annotation(finding()).level == "failure"
    sizes = [len(chunk) for chunk in batches(list(range(120)))]
    assert sizes == [ANNOTATIONS_PER_REQUEST, ANNOTATIONS_PER_REQUEST, 20]
    assert list(batches([])) == []


def test_inline_comment_offers_a_suggestion_only_when_the_gate_passed_and_the_range_is_whole() -> None:
    """A gate-passed fix on a whole hunk range is offered; an unchecked one or a split range is not."""
    diff = parse_patch("cart.go", PATCH)
    offered = to_inline_comment(finding(), diff)
    assert offered is not None and offered.suggestion is not None
    assert (offered.start_line, offered.line) == (2, 3)
    unchecked = to_inline_comment(finding(suggestion_passed_gate=False), diff)
    assert unchecked is not None and unchecked.suggestion is None
    split = to_inline_comment(finding(line=4, end_line=11), diff)
    assert split is not None and split.suggestion is None and split.line == 11
    assert to_inline_comment(finding(line=7, end_line=None), diff) is None
    assert to_inline_comment(finding(path="elsewhere.go"), FileDiff("elsewhere.go")) is None


def test_comment_body_has_a_committable_suggestion_block_and_the_fingerprint() -> None:
    """GitHub's block replaces the anchored lines as-is; GitLab's counts the lines above; both carry the marker."""
    comment = to_inline_comment(finding(), parse_patch("cart.go", PATCH))
    assert comment is not None
    github = comment_body(comment, "github")
    assert "```suggestion\n// Total sums the cart.\nfunc Total(items []int) (sum int) {\n```" in github
    assert fingerprints_in(github) == {fingerprint(finding())}
    assert "```suggestion:-1+0\n" in comment_body(comment, "gitlab")
    assert "suggestion" not in comment_body(comment, "plain").split("-->")[0].split("\n", 1)[1]


def test_suggestion_fence_outgrows_backticks_in_the_fix() -> None:
    """A fix holding a ``` run gets a longer fence, so the block cannot close early."""
    comment = InlineComment("doc.md", 3, "t", "m", "0" * 16, suggestion="```go\nx\n```")
    block = suggestion_block(comment, "github")
    assert block.startswith("````suggestion\n") and block.endswith("\n````\n")
    deletion = InlineComment("doc.md", 3, "t", "m", "0" * 16, suggestion="")
    assert suggestion_block(deletion, "github") == "```suggestion\n```\n"
