"""Test tampering in a candidate diff: Go tests deleted, weakened or switched off, found from the diff alone.

A pure function over unified-diff text, so the voters and the gate can both ask it. It flags what
makes failing tests go quiet without fixing anything: a test function removed (and not moved), a
test that loses failure calls (t.Error, t.Fatal, FailNow, testify's assert/require), a skip added,
a condition guarding a failure made `false`, a build constraint or os.Exit(0) added to a
test file. A refactor that moves assertions between functions of the same name is not flagged.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Literal

TamperingKind = Literal[
    "test_removed", "assertion_removed", "skip_added", "condition_disabled", "build_constraint_added", "exit_added"
]

_DIFF_FILE = re.compile(r"^diff --git a/(.+) b/(.+)$")
_RENAME = re.compile(r"^rename (from|to) (.+)$")
_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+\d+(?:,\d+)? @@ ?(.*)$")
_FUNC = re.compile(r"^func\s+(?:\([^)]*\)\s*)?(\w+)\s*[\[(]")
_TEST_FUNC = re.compile(r"^func\s+((?:Test|Benchmark|Fuzz|Example)\w*)\s*\(")
_FAILURE = re.compile(
    r"\.(?:Error|Errorf|Fatal|Fatalf)\((?!\))|\.(?:Fail|FailNow)\(\)|\b(?:assert|require)\.[A-Z]\w*\("
)
_SKIP = re.compile(r"\.(?:Skip|Skipf)\(|\.SkipNow\(\)")
_DISABLED = re.compile(r"^\s*(?:\}\s*else\s+)?if\s+(?:[^{]*;\s*)?(?:false|[^{]*&&\s*false)\s*\{")
_BUILD_TAG = re.compile(r"^\s*//\s*(?:go:build\b|\+build\b)")
_EXIT_ZERO = re.compile(r"\bos\.Exit\(\s*0\s*\)")


@dataclass(frozen=True)
class Tampering:
    """One thing in a diff that weakens the tests: what, in which file and test, and the line."""

    kind: TamperingKind
    file: str
    test: str
    line: str

    def describe(self) -> str:
        """One line for a voter or a report."""
        where = f"{self.file}" + (f" ({self.test})" if self.test else "")
        what = {
            "test_removed": "removes the test",
            "assertion_removed": "removes a failure check",
            "skip_added": "adds a skip",
            "condition_disabled": "disables a condition",
            "build_constraint_added": "adds a build constraint that can leave the file out",
            "exit_added": "adds os.Exit(0)",
        }[self.kind]
        return f"{where}: {what}: {self.line.strip()}"


@dataclass
class _Line:
    sign: str  # '+' or '-'
    file: str
    function: str
    text: str  # without the sign, comments stripped


def _code(text: str) -> str:
    """The line without a trailing // comment (a line that is only a comment becomes empty)."""
    if _BUILD_TAG.match(text):
        return text
    index = text.find("//")
    return text if index < 0 else text[:index]


def parse_test_changes(diff: str) -> tuple[list[_Line], list[Tampering]]:
    """The added and removed lines of Go test files, each with its enclosing function; and test files renamed away."""
    lines: list[_Line] = []
    renamed: list[Tampering] = []
    path = renamed_from = function = ""
    in_hunk = False
    for raw in diff.splitlines():
        header = _DIFF_FILE.match(raw)
        if header:
            path, in_hunk, function = header.group(2), False, ""
            continue
        rename = None if in_hunk else _RENAME.match(raw)
        if rename and rename.group(1) == "from":
            renamed_from = rename.group(2)
        elif rename and renamed_from.endswith("_test.go") and not rename.group(2).endswith("_test.go"):
            renamed.append(Tampering("test_removed", renamed_from, "", f"renamed to {rename.group(2)}"))
        hunk = _HUNK.match(raw)
        if hunk:
            in_hunk = True
            found = _FUNC.match(hunk.group(1))
            function = found.group(1) if found else ""
            continue
        if not in_hunk or not path.endswith("_test.go") or not raw or raw[0] not in " +-":
            continue
        declared = _FUNC.match(raw[1:])
        if declared:
            function = declared.group(1)
        if raw[0] != " ":
            lines.append(_Line(raw[0], path, function, _code(raw[1:])))
    return lines, renamed


def _removed_tests(lines: list[_Line]) -> list[Tampering]:
    added = {m.group(1) for line in lines if line.sign == "+" and (m := _TEST_FUNC.match(line.text))}
    found = []
    for line in lines:
        match = _TEST_FUNC.match(line.text) if line.sign == "-" else None
        if match and match.group(1) not in added:
            found.append(Tampering("test_removed", line.file, match.group(1), line.text))
    return found


def _net_losses(lines: list[_Line], pattern: re.Pattern[str], lost: str, kind: TamperingKind) -> list[Tampering]:
    """Per function: flag the lines of `lost` sign matching pattern beyond those the other sign adds back."""
    counts: Counter[tuple[str, str]] = Counter()
    for line in lines:
        hits = len(pattern.findall(line.text))
        counts[(line.function, line.sign)] += hits
    found = []
    for line in lines:
        if line.sign != lost or not pattern.search(line.text):
            continue
        other = "+" if lost == "-" else "-"
        if counts[(line.function, lost)] > counts[(line.function, other)]:
            found.append(Tampering(kind, line.file, line.function, line.text))
    return found


def find_tampering(diff: str) -> list[Tampering]:
    """Everything in `diff` that deletes, weakens or switches off Go tests (empty: nothing found)."""
    lines, renamed = parse_test_changes(diff)
    removed_tests = _removed_tests(lines)
    gone = {finding.test for finding in removed_tests}
    found = renamed + removed_tests
    # a removed test's own failure calls are already covered by its removal
    kept = [line for line in lines if line.function not in gone]
    found += _net_losses(kept, _FAILURE, "-", "assertion_removed")
    found += _net_losses(lines, _SKIP, "+", "skip_added")
    for line in lines:
        if line.sign != "+":
            continue
        if _DISABLED.match(line.text):
            found.append(Tampering("condition_disabled", line.file, line.function, line.text))
        elif _BUILD_TAG.match(line.text):
            found.append(Tampering("build_constraint_added", line.file, line.function, line.text))
        elif _EXIT_ZERO.search(line.text):
            found.append(Tampering("exit_added", line.file, line.function, line.text))
    return found
