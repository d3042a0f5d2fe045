"""The reviewer's findings as the forge takes them, and agentd's fix as a one-click suggestion.

Pure functions over plain data. A fix becomes a suggestion only when it is small and local (one file, one
hunk of at most a few lines) and only after agentd's gate passed with that whole fix applied; the
suggestion then replaces exactly the head lines the fix replaces.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from agentd.engine.verdicts import ReviewFinding
from agentd.forge.base import Finding, Severity
from agentd.forge.diff import HUNK_HEADER
from agentd.job.config import RepositoryReviewSettings
from agentd.job.scope import patch_sections, skipped

REVIEW_RULE = "agentd/review"
FIX_RULE = "agentd/tests"
NEAR_LINES = 3  # a fix this close to a finding's lines is that finding's fix
FORGE_SEVERITY: dict[str, Severity] = {"info": "info", "minor": "warning", "major": "error", "critical": "error"}
REVIEW_SEVERITY = {"info": "info", "warning": "minor", "error": "major"}
_SENTENCE = re.compile(r"(?<=[.!?])\s")


def title_of(message: str, limit: int = 100) -> str:
    """A finding's title: the first sentence (or line) of its message, cut at `limit`."""
    first = _SENTENCE.split(message.strip().splitlines()[0] if message.strip() else "finding", maxsplit=1)[0]
    return first if len(first) <= limit else first[: limit - 1] + "…"


def from_review(found: ReviewFinding, head_lines: Callable[[str], list[str] | None]) -> Finding | None:
    """A reviewer's finding on the head, with the flagged line's text (for its fingerprint); None without a file."""
    if not found.file:
        return None
    path = found.file.removeprefix("./").removeprefix("b/")
    line = found.line or 1
    lines = head_lines(path) or []
    code = lines[line - 1] if 0 < line <= len(lines) else ""
    message = found.message if found.line else f"(about the whole file) {found.message}"
    return Finding(
        path,
        line,
        title_of(found.message),
        message,
        FORGE_SEVERITY[found.severity],
        rule=REVIEW_RULE,
        code=code,
    )


def reportable(findings: Sequence[Finding], settings: RepositoryReviewSettings) -> list[Finding]:
    """The findings the repository wants reported: not on a skipped path, at or above its severity threshold."""
    return [
        f
        for f in findings
        if not skipped(f.path, settings.skip) and settings.reports(REVIEW_SEVERITY.get(f.severity, "info"))
    ]


@dataclass(frozen=True)
class LocalFix:
    """A fix that replaces head lines `start`..`end` of `path` with `replacement` (lines without their newline)."""

    path: str
    start: int
    end: int
    replacement: tuple[str, ...]

    @property
    def text(self) -> str:
        """The replacement as a suggestion block holds it."""
        return "\n".join(self.replacement)


def local_fix(diff: str, max_lines: int) -> LocalFix | None:
    """The fix as one replaced range, when it is one hunk in one existing file of at most `max_lines` lines."""
    sections = patch_sections(diff)
    if len(sections) != 1:
        return None
    path, section = sections[0]
    if "\n--- /dev/null" in section or "\n+++ /dev/null" in section or "\\ No newline" in section:
        return None  # a new or deleted file, or a last line without newline: not a suggestion's shape
    hunks = [line for line in section.splitlines() if line.startswith("@@")]
    if len(hunks) != 1 or (header := HUNK_HEADER.match(hunks[0])) is None:
        return None
    body = section.split(hunks[0], 1)[1].splitlines()[1:]
    return _replaced_range(path, int(header.group(1)), body, max_lines)


def _replaced_range(path: str, old_start: int, body: list[str], max_lines: int) -> LocalFix | None:
    """The hunk's changed lines, context trimmed; a pure insertion also replaces the line above it."""
    rows = [(line[:1], line[1:]) for line in body if line[:1] in {" ", "-", "+"}]
    changed = [i for i, (kind, _) in enumerate(rows) if kind != " "]
    if not changed:
        return None
    first, last = changed[0], changed[-1]
    if not any(kind == "-" for kind, _ in rows[first : last + 1]):
        if first == 0:
            return None  # an insertion at the top of the file has no line above to hang on
        first -= 1
    start = old_start + sum(1 for kind, _ in rows[:first] if kind != "+")
    old = [text for kind, text in rows[first : last + 1] if kind != "+"]
    new = tuple(text for kind, text in rows[first : last + 1] if kind != "-")
    if len(old) > max_lines or len(new) > max_lines:
        return None
    return LocalFix(path, start, start + len(old) - 1, new)


def with_suggestion(findings: Sequence[Finding], fix: LocalFix, fallback: Finding | None) -> list[Finding]:
    """The findings, the one the fix answers carrying it as a gate-passed suggestion on the fix's lines.

    The answered finding is the most severe one on the fix's file within NEAR_LINES of the fixed lines; when
    none is, `fallback` (agentd's own finding, e.g. the tests it fixed) carries it. Fingerprints do not change:
    they hash the finding's own flagged code, not the suggestion's range.
    """
    order = {"error": 0, "warning": 1, "info": 2}
    near = [
        (order[f.severity], i)
        for i, f in enumerate(findings)
        if f.path == fix.path and fix.start - NEAR_LINES <= f.line and f.last_line <= fix.end + NEAR_LINES
    ]
    suggested = list(findings)
    if near:
        index = min(near)[1]
        suggested[index] = _suggesting(suggested[index], fix)
    elif fallback is not None:
        suggested.append(_suggesting(fallback, fix))
    return suggested


def _suggesting(finding: Finding, fix: LocalFix) -> Finding:
    return dataclasses.replace(
        finding,
        line=fix.start,
        end_line=fix.end if fix.end > fix.start else None,
        suggestion=fix.text,
        suggestion_passed_gate=True,
    )


def failing_tests_finding(fix: LocalFix, head_lines: list[str] | None, failing: str) -> Finding:
    """agentd's own finding for a head whose tests fail, placed on the lines its gate-passed fix replaces."""
    lines = head_lines or []
    code = "\n".join(lines[fix.start - 1 : fix.end])
    return Finding(
        fix.path,
        fix.start,
        "The tests fail on this head",
        f"agentd's own test run fails on this head ({failing}); the change suggested here makes it pass, "
        "and agentd's gate re-ran the tests with it applied.",
        "error",
        end_line=fix.end if fix.end > fix.start else None,
        rule=FIX_RULE,
        code=code,
    )
