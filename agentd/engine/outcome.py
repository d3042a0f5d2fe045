"""What a protocol hands back to the job: the team's decision, the lane it was made on, and why."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from agentd.engine.lanes import Evidence
from agentd.engine.verdicts import ReviewFinding


@dataclass
class Outcome:
    """What the team decided, on which lane (by name), and why; `record` is shown by `agentd show`."""

    accepted: bool
    summary: str
    reason: str
    protocol: str
    lane: str | None = None
    votes: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    findings: list[ReviewFinding] = field(default_factory=list)
    tests: Evidence | None = None
    record: dict[str, Any] = field(default_factory=dict)
    flagged_for_person: bool = False

    @property
    def tests_passed(self) -> bool:
        """Whether agentd's own test run of the decided tree passed."""
        return self.tests is not None and self.tests.ok

    def verdict(self) -> dict[str, Any]:
        """The session's verdict as the store keeps it (plain JSON)."""
        return {
            "accepted": self.accepted,
            "summary": self.summary,
            "reason": self.reason,
            "protocol": self.protocol,
            "votes": self.votes,
            "models": self.models,
            "findings": [finding.model_dump(mode="json") for finding in self.findings],
            **self.record,
        }


def blocking(findings: Sequence[ReviewFinding]) -> list[ReviewFinding]:
    """The findings that block a commit (major and critical)."""
    return [finding for finding in findings if finding.blocking]


def finding_line(finding: ReviewFinding) -> str:
    """One finding as a brief's bullet: severity, file:line, message."""
    return f"- [{finding.severity}] {finding.file or ''}:{finding.line or ''} {finding.message}"
