"""Where a finding's file:line sits on a pull request's diff: pure parsing of unified diffs, no I/O.

A forge accepts a review comment only on a line the diff shows (added or context, new side) and a
multi-line comment only inside one hunk; `anchor` maps a finding onto such lines or says it cannot.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# A hunk's header; groups: old start, old count, new start, new count.
HUNK_HEADER = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_NEW_FILE = re.compile(r"^\+\+\+ (?:b/)?(.*?)\t?$")
_OLD_FILE = re.compile(r"^--- (?:a/)?(.*?)\t?$")


@dataclass(frozen=True)
class DiffLine:
    """A new-side line the diff shows: its hunk (0-based), and its base-side number when unchanged."""

    hunk: int
    old_line: int | None


@dataclass
class FileDiff:
    """One file's hunks as new-side line number → DiffLine."""

    path: str
    old_path: str | None = None
    lines: dict[int, DiffLine] = field(default_factory=dict)


@dataclass(frozen=True)
class Anchor:
    """Where a comment goes: new-side lines `start_line`..`line` (start None: one line), all in one hunk."""

    path: str
    line: int
    start_line: int | None
    old_line: int | None
    whole_range: bool  # False when only the range's last line is on the diff (no suggestion then)


def parse_patch(path: str, patch: str, old_path: str | None = None) -> FileDiff:
    """One file's hunks (GitHub's `patch` field, GitLab's `diff`, or a `git diff` section) as a FileDiff."""
    diff = FileDiff(path, old_path)
    hunk = -1
    old = new = 0
    for raw in patch.splitlines():
        header = HUNK_HEADER.match(raw)
        if header:
            hunk += 1
            old, new = int(header.group(1)), int(header.group(3))
            continue
        if hunk < 0 or raw.startswith("\\"):
            continue  # file headers, "\ No newline at end of file"
        if raw.startswith("+"):
            diff.lines[new] = DiffLine(hunk, None)
            new += 1
        elif raw.startswith("-"):
            old += 1
        else:
            diff.lines[new] = DiffLine(hunk, old)
            old += 1
            new += 1
    return diff


def parse_unified_diff(text: str) -> dict[str, FileDiff]:
    """Every file of a `git diff` (new path → FileDiff); deleted files are left out."""
    files: dict[str, FileDiff] = {}
    sections = re.split(r"^diff --git .*$", text, flags=re.MULTILINE)
    for section in sections:
        old_path = new_path = None
        for raw in section.splitlines():
            if raw.startswith("@@"):
                break
            if (match := _OLD_FILE.match(raw)) is not None:
                old_path = None if match.group(1) == "/dev/null" else match.group(1)
            elif (match := _NEW_FILE.match(raw)) is not None:
                new_path = None if match.group(1) == "/dev/null" else match.group(1)
        if new_path is not None:
            files[new_path] = parse_patch(new_path, section, old_path)
    return files


def anchor(diff: FileDiff | None, line: int, end_line: int | None = None) -> Anchor | None:
    """Where a finding on lines `line`..`end_line` can be commented, or None when the diff shows none of it."""
    if diff is None:
        return None
    last = max(line, end_line or line)
    end = diff.lines.get(last)
    if end is None:
        return None
    span = range(line, last + 1)
    whole = all(n in diff.lines and diff.lines[n].hunk == end.hunk for n in span)
    start = line if whole and last > line else None
    return Anchor(diff.path, last, start, end.old_line, whole)
