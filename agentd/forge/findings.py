"""Findings in the shapes forges want: fingerprints, check annotations, review comments with suggestions.

Pure functions over plain data. A comment carries its finding's fingerprint in a hidden marker, so what
agentd already posted can be read back from the forge itself.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from typing import Literal, TypeVar

from agentd.forge.base import Annotation, Finding, InlineComment
from agentd.forge.diff import FileDiff, anchor

ANNOTATIONS_PER_REQUEST = 50  # the Checks API takes at most 50 annotations per request
MAX_CHECK_TEXT = 65_535  # summary and text of a check run's output
MAX_COMMENT = 65_536  # GitHub refuses longer comment bodies
FINGERPRINT_MARKER = "<!-- agentd-finding: {} -->"
_FINGERPRINT = re.compile(r"<!-- agentd-finding: ([0-9a-f]{16}) -->")
_LEVELS: dict[str, Literal["notice", "warning", "failure"]] = {
    "info": "notice",
    "warning": "warning",
    "error": "failure",
}
_ICONS = {"info": "ℹ️", "warning": "⚠️", "error": "🛑"}  # noqa: RUF001 - the emoji are the point
_T = TypeVar("_T")
Dialect = Literal["github", "gitlab", "plain"]


def fingerprint(finding: Finding) -> str:
    """A stable id for the finding: path, rule, title and the flagged code, never its line numbers.

    Whitespace is folded so re-indenting does not make a finding new; without code the line stands in.
    """
    code = " ".join(finding.code.split()) or f"line {finding.line}"
    title = " ".join(finding.title.lower().split())
    key = "\x1f".join((finding.path, finding.rule, title, code))
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def fingerprints_in(body: str) -> set[str]:
    """The fingerprints a comment body carries."""
    return set(_FINGERPRINT.findall(body))


def clip(text: str, limit: int, note: str = "\n\n… (truncated)") -> str:
    """`text` cut to `limit` characters, with a note saying it was cut."""
    return text if len(text) <= limit else text[: limit - len(note)] + note


def to_annotation(finding: Finding) -> Annotation:
    """The finding as a check annotation at its file and lines."""
    return Annotation(
        path=finding.path,
        start_line=finding.line,
        end_line=finding.last_line,
        level=_LEVELS[finding.severity],
        title=finding.title[:255],
        message=clip(finding.message or finding.title, 64_000),
    )


def batches(items: Sequence[_T], size: int = ANNOTATIONS_PER_REQUEST) -> Iterator[Sequence[_T]]:
    """`items` in consecutive slices of at most `size` (none when there are none)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def to_inline_comment(finding: Finding, diff: FileDiff | None) -> InlineComment | None:
    """The finding anchored on the PR's diff, with its suggestion only when the gate passed it and the
    whole range is on one hunk; None when the diff does not show the finding's last line."""
    place = anchor(diff, finding.line, finding.end_line)
    if place is None:
        return None
    suggestion = finding.suggestion if finding.suggestion_passed_gate and place.whole_range else None
    return InlineComment(
        path=place.path,
        line=place.line,
        start_line=place.start_line,
        old_line=place.old_line,
        title=finding.title,
        message=finding.message,
        fingerprint=fingerprint(finding),
        suggestion=suggestion,
        severity=finding.severity,
    )


def _fence(text: str) -> str:
    """A backtick fence longer than any run of backticks in `text`, so the block cannot end early."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def suggestion_block(comment: InlineComment, dialect: Dialect) -> str:
    """The comment's suggestion as the forge's one-click block (GitLab counts the lines above the anchor)."""
    if comment.suggestion is None or dialect == "plain":
        return ""
    replacement = comment.suggestion.rstrip("\n")
    fence = _fence(replacement)
    info = "suggestion"
    if dialect == "gitlab":
        above = comment.line - comment.start_line if comment.start_line is not None else 0
        info = f"suggestion:-{above}+0"
    lines = [f"{fence}{info}", *([replacement] if replacement else []), fence]
    return "\n".join(lines) + "\n"


def comment_body(comment: InlineComment, dialect: Dialect) -> str:
    """The Markdown of an inline comment: severity, title, message, suggestion, and the hidden fingerprint."""
    message = clip(comment.message.strip(), 30_000)  # the suggestion and the marker must survive whole
    parts = [f"{_ICONS[comment.severity]} **{comment.title.strip()[:300]}**", "", message, ""]
    block = suggestion_block(comment, dialect)
    if block:
        parts += ["agentd's gate passed with this change applied:", "", block]
    parts.append(FINGERPRINT_MARKER.format(comment.fingerprint))
    return "\n".join(parts)
