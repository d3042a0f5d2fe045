"""Incremental inline review: post only the findings the pull request has not seen, anchored on its diff.

A finding counts as seen when its fingerprint is in an agentd comment still on the forge (resolved threads
included, so they stay resolved and untouched) or in the store's memory (which also covers comments a
person deleted to dismiss them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from agentd.forge.base import Finding, FindingMemory, Forge, InlineComment
from agentd.forge.diff import FileDiff
from agentd.forge.findings import fingerprint, to_inline_comment


@dataclass
class ReviewOutcome:
    """What one review posted, and which findings it left to the summary and the check's annotations."""

    posted: list[InlineComment] = field(default_factory=list)
    already_posted: list[Finding] = field(default_factory=list)
    off_diff: list[Finding] = field(default_factory=list)
    review_id: str | None = None


def plan_review(findings: Sequence[Finding], diffs: Mapping[str, FileDiff], seen: set[str]) -> ReviewOutcome:
    """Sort findings into new inline comments, already posted ones, and ones the diff does not show."""
    outcome = ReviewOutcome()
    planned: set[str] = set()
    for finding in findings:
        mark = fingerprint(finding)
        if mark in seen or mark in planned:
            outcome.already_posted.append(finding)
            continue
        comment = to_inline_comment(finding, diffs.get(finding.path))
        if comment is None:
            outcome.off_diff.append(finding)
            continue
        planned.add(mark)
        outcome.posted.append(comment)
    return outcome


def publish_review(
    forge: Forge,
    memory: FindingMemory | None,
    repo: str,
    pr: int,
    head_sha: str,
    findings: Sequence[Finding],
    diffs: Mapping[str, FileDiff],
    body: str = "",
) -> ReviewOutcome:
    """Post the pull request's new findings as one review of `head_sha` and remember their fingerprints."""
    seen = forge.posted_fingerprints(pr)
    if memory is not None:
        seen |= memory.posted_findings(repo, pr)
    outcome = plan_review(findings, diffs, seen)
    if outcome.posted:
        outcome.review_id = forge.post_review(pr, head_sha, outcome.posted, body)
        if memory is not None:
            memory.remember_findings(repo, pr, [c.fingerprint for c in outcome.posted])
    return outcome
