"""What a review covers: the change (whole, or since the last reviewed head), the paths the repository
skips, and its instructions for agents, all read from agentd's clone of the base branch.

The base branch is trusted, a pull request's tree is not: `.agentd.toml` and AGENTS.md are read at the
base revision, never at the head.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field

from agentd.job.config import RepositorySettings, ReviewConfig, parse_repository_settings
from agentd.kernel.errors import ConfigError
from agentd.kernel.policy import glob_matches
from agentd.repo.mirror import Mirror

MAX_SETTINGS_BYTES = 64 * 1024
_SECTION = re.compile(r"^diff --git ", re.MULTILINE)
_NEW_PATH = re.compile(r"^\+\+\+ (?:b/)?(.+?)\t?$", re.MULTILINE)
_OLD_PATH = re.compile(r"^--- (?:a/)?(.+?)\t?$", re.MULTILINE)
_GIT_PATHS = re.compile(r"^diff --git a/(.+?) b/(.+?)$", re.MULTILINE)


@dataclass
class ReviewScope:
    """One review's reach: the change the reviewer reads, which paths it covers and skips, and the guidance."""

    head: str
    base: str | None  # the whole change is diffed against it (merge base, or the commit's parent)
    since: str | None  # incremental: the last reviewed head; None for a full review
    change: str
    reviewed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    settings: RepositorySettings = field(default_factory=RepositorySettings)
    settings_error: str = ""
    guidance: str = ""
    instructions: list[str] = field(default_factory=list)  # the AGENTS.md files given, nearest first


def patch_sections(patch: str) -> list[tuple[str, str]]:
    """A `git diff` split into (path, section) per file; the path is the new one (the old one when deleted)."""
    sections: list[tuple[str, str]] = []
    starts = [m.start() for m in _SECTION.finditer(patch)]
    for index, start in enumerate(starts):
        section = patch[start : starts[index + 1] if index + 1 < len(starts) else len(patch)]
        sections.append((_section_path(section), section))
    return sections


def _section_path(section: str) -> str:
    new, old = _NEW_PATH.search(section), _OLD_PATH.search(section)
    if new and new.group(1) != "/dev/null":
        return new.group(1)
    if old and old.group(1) != "/dev/null":
        return old.group(1)
    named = _GIT_PATHS.search(section)  # a binary file or a pure rename has no ---/+++ lines
    return named.group(2) if named else ""


def skipped(path: str, globs: list[str]) -> bool:
    """Whether the repository's settings skip `path`."""
    return any(glob_matches(pattern, path) for pattern in globs)


def without_skipped(patch: str, globs: list[str]) -> tuple[str, list[str], list[str]]:
    """(the patch without the skipped files' sections, the reviewed paths, the skipped paths)."""
    kept, reviewed, left_out = [], [], []
    for path, section in patch_sections(patch):
        if skipped(path, globs):
            left_out.append(path)
        else:
            kept.append(section)
            reviewed.append(path)
    return "".join(kept), reviewed, left_out


def nearest_instructions(paths: list[str], present: set[str], name: str) -> list[str]:
    """For each changed path the nearest `name` file in its directory or a parent; distinct, the most used first."""
    counts: dict[str, int] = {}
    for path in paths or [""]:
        directory = posixpath.dirname(path)
        while True:
            candidate = posixpath.join(directory, name) if directory else name
            if candidate in present:
                counts[candidate] = counts.get(candidate, 0) + 1
                break
            if not directory:
                break
            directory = posixpath.dirname(directory)
    return sorted(counts, key=lambda found: (-counts[found], -found.count("/"), found))


def candidates(paths: list[str], name: str) -> list[str]:
    """Every place a `name` file could govern one of `paths`: each directory up to the root."""
    found: set[str] = {name}
    for path in paths:
        directory = posixpath.dirname(path)
        while directory:
            found.add(posixpath.join(directory, name))
            directory = posixpath.dirname(directory)
    return sorted(found)


def guidance(mirror: Mirror, rev: str, paths: list[str], config: ReviewConfig) -> tuple[str, list[str]]:
    """The instructions governing `paths` at `rev` (nearest first), capped in size; and which files they are."""
    if config.max_instructions_bytes == 0:
        return "", []
    present = mirror.existing_files(rev, candidates(paths, config.instructions))
    files = nearest_instructions(paths, present, config.instructions)
    parts: list[str] = []
    budget = config.max_instructions_bytes
    used: list[str] = []
    for path in files:
        if budget <= 0 or (used and budget < 64):
            break  # the cap is reached: a file further up would only be a stub
        text = (mirror.read_file(rev, path, budget + 1) or "").strip()
        if not text:
            continue
        if len(text) > budget:
            text = text[:budget] + "\n[… cut at agentd's size cap …]"
        parts.append(f"--- {path} ---\n{text}")
        used.append(path)
        budget -= len(text)
    return "\n\n".join(parts), used


def repository_settings(mirror: Mirror, rev: str, config: ReviewConfig) -> tuple[RepositorySettings, str]:
    """The base branch's `.agentd.toml` (defaults when absent); when invalid, the defaults and the error."""
    text = mirror.read_file(rev, config.settings_file, MAX_SETTINGS_BYTES)
    if text is None:
        return RepositorySettings(), ""
    try:
        return parse_repository_settings(text, f"{config.settings_file} at {rev[:12]}"), ""
    except ConfigError as exc:
        return RepositorySettings(), f"{exc}; agentd used the defaults"


def review_scope(
    mirror: Mirror, config: ReviewConfig, head: str, base: str | None, since: str | None, settings_rev: str
) -> ReviewScope:
    """The scope of reviewing `head`: against `since` when incremental, else against `base` (None: a root commit)."""
    settings, error = repository_settings(mirror, settings_rev, config)
    start = since or base
    patch = mirror.patch(start, head) if start else mirror.show(head, max_bytes=4 << 20)
    change, reviewed, left_out = without_skipped(patch, settings.review.skip)
    whole = mirror.changed_paths(base, head) if base and since else [p for p, _ in patch_sections(patch)]
    text, used = guidance(mirror, settings_rev, [p for p in whole if not skipped(p, settings.review.skip)], config)
    return ReviewScope(head, base, since, change, reviewed, left_out, settings, error, text, used)
