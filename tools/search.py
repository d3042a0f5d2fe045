"""The `code` tool's search: a model's pattern run with RE2 (linear time, no backtracking) under caps.

Python's `re` backtracks: `(a+)+$` against forty `a`s and a `!` never returns, and it holds the GIL
while it tries, so one hostile pattern would stop every thread of the daemon (API, webhook, lease
heartbeat, watchdog). RE2 matches in time linear in the text and releases the GIL while it does;
on top of that a search stops at a deadline, a number of files, a number of bytes read and a
number of matches, and says which limit stopped it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import re2

from agentd.kernel.worktree_files import WorktreeFiles, read_regular

MAX_PATTERN_CHARS = 1000
_MULTILINE_OFF = re.compile(r"\(\?[a-zA-Z]*-[a-zA-Z]*m")
_UNSUPPORTED = (
    "RE2 has no backreferences (\\1), lookahead or lookbehind ((?=, (?!, (?<=, (?<!), atomic groups or "
    "possessive quantifiers, and spells end-of-text \\z (not \\Z)"
)


@dataclass(frozen=True)
class SearchLimits:
    """When a search stops: whichever limit comes first."""

    deadline_s: float = 5.0
    max_files: int = 20_000
    max_bytes: int = 64 * 1024 * 1024
    max_matches: int = 200


@dataclass(frozen=True)
class LinePattern:
    """A compiled pattern matched line by line; the whole text is scanned in one pass and only the lines
    around a hit are looked at again, so a file costs one RE2 scan plus a little per matching line."""

    line: Any  # re2._Regexp (private in the stubs)
    whole: Any | None  # the same pattern with (?m), or None when it cannot stand in for the lines

    def lines(self, data: bytes) -> Iterator[tuple[int, bytes]]:
        """(line number, line) of each line of `data` (UTF-8, \n-separated) the pattern matches."""
        data = data.removesuffix(b"\n")  # a final newline ends the last line; it starts no empty one
        if self.whole is None:
            for number, line in enumerate(data.split(b"\n"), 1):
                if self.line.search(line):
                    yield number, line
            return
        position, number, counted = 0, 1, 0
        while position <= len(data):
            hit = self.whole.search(data, position)
            if hit is None:
                return
            first = data.rfind(b"\n", 0, hit.start()) + 1
            last = data.find(b"\n", max(hit.start(), hit.end() - 1))
            last = len(data) if last < 0 else last
            number += data.count(b"\n", counted, first)
            counted = first
            block = data[first:last].split(b"\n")
            # a hit inside one line is that line's match; one taking in a line break says nothing per line
            within = b"\n" not in data[hit.start() : hit.end()]
            for offset, line in enumerate(block):
                if within or self.line.search(line):
                    yield number + offset, line
            number, counted, position = number + len(block) - 1, last, last + 1


def compile_pattern(pattern: str) -> LinePattern:
    """The pattern compiled with RE2; ValueError with a message for the model when RE2 cannot take it."""
    options = re2.Options()
    options.log_errors = False  # a bad pattern is the model's error, not a line on agentd's stderr
    try:
        line = re2.compile(pattern, options)
    except re2.error as exc:
        raise ValueError(_refusal(pattern, exc)) from None
    # In (?m) mode ^ and $ match at line breaks, so a line that matches makes the whole text match;
    # \A, \z and a flag group turning m off would not, so such a pattern is tried line by line only.
    per_line_only = "\\A" in pattern or "\\z" in pattern or _MULTILINE_OFF.search(pattern)
    whole = None if per_line_only else re2.compile("(?m)" + pattern, options)
    return LinePattern(line, whole)


def _refusal(pattern: str, exc: Exception) -> str:
    detail = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
    try:
        re.compile(pattern)  # compiling never runs the pattern, so Python's engine is safe here
    except re.error:
        return f"pattern is not a valid regular expression: {detail}. Fix the pattern."
    return (
        f"pattern uses syntax the search engine (RE2) does not support: {detail}. {_UNSUPPORTED}; "
        "rewrite the pattern without it, or search for a simpler pattern and read the files."
    )


def search_files(
    files: WorktreeFiles, relative: str, pattern: str, limits: SearchLimits, max_file_bytes: int
) -> dict[str, Any]:
    """Lines matching `pattern` in the file `relative` or every file under it; files over max_file_bytes are skipped.

    ValueError (for the model) when the pattern does not compile or there is no such file or directory.
    """
    compiled = compile_pattern(pattern)
    deadline = time.monotonic() + limits.deadline_s
    matches: list[dict[str, Any]] = []
    searched = read = 0
    for path, name, dir_fd in _candidates(files, relative):
        if time.monotonic() > deadline:
            return _result(matches, "deadline", limits)
        if searched >= limits.max_files:
            return _result(matches, "files", limits)
        if read >= limits.max_bytes:
            return _result(matches, "bytes", limits)
        try:
            data = read_regular(name, dir_fd, max_file_bytes)
        except OSError:
            continue  # a link, FIFO, device or a file gone since it was listed: nothing to search
        searched, read = searched + 1, read + len(data)
        if len(data) > max_file_bytes:
            continue
        for number, line in compiled.lines(data.replace(b"\r\n", b"\n")):
            matches.append({"file": path, "line": number, "text": line.decode("utf-8", errors="replace")[:300]})
            if len(matches) >= limits.max_matches:
                return _result(matches, "matches", limits)
    return _result(matches, None, limits)


def _candidates(files: WorktreeFiles, relative: str) -> Iterator[tuple[str, str, int]]:
    """(path, name, dir fd) of the file `relative`, or of every file under the directory `relative`."""
    if files.kind(relative) == "directory":
        return ((entry.path, entry.name, entry.dir_fd) for entry in files.walk(relative) if entry.regular)
    return _one_file(files, relative)


def _one_file(files: WorktreeFiles, relative: str) -> Iterator[tuple[str, str, int]]:
    try:
        with files.parent(relative) as (fd, name):
            yield relative, name, fd
    except (FileNotFoundError, NotADirectoryError):
        raise ValueError(f"{relative}: no such file or directory") from None


def _result(matches: list[dict[str, Any]], stopped: str | None, limits: SearchLimits) -> dict[str, Any]:
    result: dict[str, Any] = {"matches": matches, "truncated": stopped is not None}
    if stopped is not None:
        result["stopped"] = stopped
        result["note"] = {
            "deadline": f"the search stopped after {limits.deadline_s:g} s; search a narrower directory or pattern",
            "files": f"the search stopped after {limits.max_files} files; search a narrower directory",
            "bytes": f"the search stopped after reading {limits.max_bytes // (1024 * 1024)} MiB; search a narrower "
            "directory",
            "matches": f"only the first {limits.max_matches} matches are shown; make the pattern more specific",
        }[stopped]
    return result
