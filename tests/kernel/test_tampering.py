"""Test tampering found in plain diffs of Go test files (the diffs are as `git diff` writes them)."""

from __future__ import annotations

from agentd.kernel.tampering import Tampering, find_tampering

ASSERTION_REMOVED_AND_SKIP_ADDED = """\
diff --git a/calc/calc_test.go b/calc/calc_test.go
index 7dca428..821ea30 100644
--- a/calc/calc_test.go
+++ b/calc/calc_test.go
@@ -6,12 +6,10 @@ func TestAdd(t *testing.T) {
 \tif got := Add(1, 2); got != 3 {
 \t\tt.Fatalf("Add(1, 2) = %d", got)
 \t}
-\tif got := Add(-1, 1); got != 0 {
-\t\tt.Errorf("Add(-1, 1) = %d", got)
-\t}
 }
\x20
 func TestSub(t *testing.T) {
+\tt.Skip("flaky")
 \tif got := Sub(3, 1); got != 2 {
 \t\tt.Fatalf("Sub(3, 1) = %d", got)
 \t}
"""

TEST_REMOVED_AND_CONDITION_DISABLED = """\
diff --git a/calc/calc_test.go b/calc/calc_test.go
index 7dca428..8e9db79 100644
--- a/calc/calc_test.go
+++ b/calc/calc_test.go
@@ -3,16 +3,10 @@ package calc
 import "testing"
\x20
 func TestAdd(t *testing.T) {
-\tif got := Add(1, 2); got != 3 {
+\tif got := Add(1, 2); false {
 \t\tt.Fatalf("Add(1, 2) = %d", got)
 \t}
 \tif got := Add(-1, 1); got != 0 {
 \t\tt.Errorf("Add(-1, 1) = %d", got)
 \t}
 }
-
-func TestSub(t *testing.T) {
-\tif got := Sub(3, 1); got != 2 {
-\t\tt.Fatalf("Sub(3, 1) = %d", got)
-\t}
-}
"""

TEST_MOVED_TO_ANOTHER_FILE = """\
diff --git a/calc/calc_test.go b/calc/calc_test.go
index 7dca428..1b2c3d4 100644
--- a/calc/calc_test.go
+++ b/calc/calc_test.go
@@ -11,9 +11,3 @@ func TestAdd(t *testing.T) {
 \t\tt.Errorf("Add(-1, 1) = %d", got)
 \t}
 }
-
-func TestSub(t *testing.T) {
-\tif got := Sub(3, 1); got != 2 {
-\t\tt.Fatalf("Sub(3, 1) = %d", got)
-\t}
-}
diff --git a/calc/sub_test.go b/calc/sub_test.go
new file mode 100644
index 0000000..5e6f7a8
--- /dev/null
+++ b/calc/sub_test.go
@@ -0,0 +1,9 @@
+package calc
+
+import "testing"
+
+func TestSub(t *testing.T) {
+\tif got := Sub(3, 1); got != 2 {
+\t\tt.Fatalf("Sub(3, 1) = %d, want 2", got)
+\t}
+}
"""

FIX_WITH_A_STRONGER_TEST = """\
diff --git a/calc/calc.go b/calc/calc.go
index 1111111..2222222 100644
--- a/calc/calc.go
+++ b/calc/calc.go
@@ -4,5 +4,5 @@ package calc
 // Sub is a minus b.
 func Sub(a, b int) int {
-\treturn b - a
+\treturn a - b
 }
diff --git a/calc/calc_test.go b/calc/calc_test.go
index 7dca428..3333333 100644
--- a/calc/calc_test.go
+++ b/calc/calc_test.go
@@ -14,6 +14,9 @@ func TestAdd(t *testing.T) {
 func TestSub(t *testing.T) {
-\tif got := Sub(3, 1); got != 2 {
-\t\tt.Fatalf("Sub(3, 1) = %d", got)
+\tfor _, c := range []struct{ a, b, want int }{{3, 1, 2}, {1, 3, -2}} {
+\t\tif got := Sub(c.a, c.b); got != c.want {
+\t\t\tt.Errorf("Sub(%d, %d) = %d, want %d", c.a, c.b, got, c.want)
+\t\t}
 \t}
 }
"""

TEST_FILE_DELETED = """\
diff --git a/calc/calc_test.go b/calc/calc_test.go
deleted file mode 100644
index 7dca428..0000000
--- a/calc/calc_test.go
+++ /dev/null
@@ -1,18 +0,0 @@
-package calc
-
-import "testing"
-
-func TestAdd(t *testing.T) {
-\tif got := Add(1, 2); got != 3 {
-\t\tt.Fatalf("Add(1, 2) = %d", got)
-\t}
-}
-
-func TestSub(t *testing.T) {
-\tif got := Sub(3, 1); got != 2 {
-\t\tt.Fatalf("Sub(3, 1) = %d", got)
-\t}
-}
"""

TEST_FILE_RENAMED_AWAY = """\
diff --git a/calc/calc_test.go b/calc/calc_test.go.orig
similarity index 100%
rename from calc/calc_test.go
rename to calc/calc_test.go.orig
"""

BUILD_CONSTRAINT_ADDED = """\
diff --git a/calc/calc_test.go b/calc/calc_test.go
index 7dca428..4444444 100644
--- a/calc/calc_test.go
+++ b/calc/calc_test.go
@@ -1,3 +1,5 @@
+//go:build never
+
 package calc
\x20
 import "testing"
"""

ASSERTION_COMMENTED_OUT_AND_ERROR_TEXT_CHANGED = """\
diff --git a/calc/calc_test.go b/calc/calc_test.go
index 7dca428..5555555 100644
--- a/calc/calc_test.go
+++ b/calc/calc_test.go
@@ -6,7 +6,7 @@ func TestDivide(t *testing.T) {
 \t_, err := Divide(1, 0)
-\tif err.Error() != "divide by zero" {
-\t\tt.Fatalf("got %v", err)
+\tif err.Error() != "calc: divide by zero" {
+\t\t// t.Fatalf("got %v", err)
 \t}
 }
"""

TESTIFY_ASSERTION_REMOVED = """\
diff --git a/calc/calc_test.go b/calc/calc_test.go
index 7dca428..6666666 100644
--- a/calc/calc_test.go
+++ b/calc/calc_test.go
@@ -8,6 +8,5 @@ func TestMul(t *testing.T) {
 \trequire.NoError(t, err)
-\tassert.Equal(t, 6, Mul(2, 3))
 \tassert.Equal(t, 0, Mul(0, 3))
 }
"""


def kinds(findings: list[Tampering]) -> list[tuple[str, str]]:
    """(kind, test) of each finding, in order."""
    return [(finding.kind, finding.test) for finding in findings]


def test_removed_assertion_and_added_skip_are_flagged() -> None:
    """A failure check dropped from TestAdd and a t.Skip added to TestSub are both reported, in their tests."""
    findings = find_tampering(ASSERTION_REMOVED_AND_SKIP_ADDED)
    assert kinds(findings) == [("assertion_removed", "TestAdd"), ("skip_added", "TestSub")]
    assert findings[0].file == "calc/calc_test.go"
    assert "t.Errorf" in findings[0].describe()


def test_removed_test_and_disabled_condition_are_flagged() -> None:
    """Deleting TestSub and turning a checked condition into `false` are reported; the removed test's own
    t.Fatalf is not reported a second time."""
    findings = find_tampering(TEST_REMOVED_AND_CONDITION_DISABLED)
    assert kinds(findings) == [("test_removed", "TestSub"), ("condition_disabled", "TestAdd")]


def test_test_moved_to_another_file_is_not_flagged() -> None:
    """A test deleted from one file and added to another (same name, same checks) is a move, not tampering."""
    assert find_tampering(TEST_MOVED_TO_ANOTHER_FILE) == []


def test_fix_with_a_rewritten_stronger_test_is_not_flagged() -> None:
    """A fix whose test trades its t.Fatalf for a table of t.Errorf checks keeps as many checks: nothing flagged."""
    assert find_tampering(FIX_WITH_A_STRONGER_TEST) == []


def test_deleted_test_file_flags_every_test() -> None:
    """Deleting a test file removes each of its tests."""
    assert kinds(find_tampering(TEST_FILE_DELETED)) == [("test_removed", "TestAdd"), ("test_removed", "TestSub")]


def test_test_file_renamed_out_of_go_test_is_flagged() -> None:
    """Renaming x_test.go to a name `go test` ignores counts as removing its tests."""
    findings = find_tampering(TEST_FILE_RENAMED_AWAY)
    assert kinds(findings) == [("test_removed", "")]
    assert findings[0].file == "calc/calc_test.go"
    assert "calc_test.go.orig" in findings[0].line


def test_build_constraint_added_to_a_test_file_is_flagged() -> None:
    """A //go:build line added to a test file (which can leave the whole file out) is reported."""
    assert kinds(find_tampering(BUILD_CONSTRAINT_ADDED)) == [("build_constraint_added", "")]


def test_commented_out_failure_counts_as_removed_but_err_error_does_not() -> None:
    """A t.Fatalf turned into a comment is a removed check; the changed err.Error() comparison is not a check."""
    findings = find_tampering(ASSERTION_COMMENTED_OUT_AND_ERROR_TEXT_CHANGED)
    assert kinds(findings) == [("assertion_removed", "TestDivide")]
    assert "t.Fatalf" in findings[0].line


def test_removed_testify_assertion_is_flagged() -> None:
    """Dropping an assert.Equal line is a removed check, like dropping t.Errorf."""
    assert kinds(find_tampering(TESTIFY_ASSERTION_REMOVED)) == [("assertion_removed", "TestMul")]


def test_changes_outside_go_test_files_are_ignored() -> None:
    """Removing t.Fatal-looking lines from a non-test file or a Markdown file is none of the check's business."""
    diff = (
        "diff --git a/calc/calc.go b/calc/calc.go\n--- a/calc/calc.go\n+++ b/calc/calc.go\n"
        "@@ -1,3 +1,2 @@ func must() {\n-\tlog.Fatal(err)\n+\tt.Skip()\n"
        "diff --git a/README.md b/README.md\n--- a/README.md\n+++ b/README.md\n@@ -1 +1 @@\n-t.Fatal(x)\n"
    )
    assert find_tampering(diff) == []
