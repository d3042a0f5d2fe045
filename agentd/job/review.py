"""A task's review record: what the review covered and found, where it went on the forge; kept in the store.

The job fills it as it goes and saves it at each step, so the report, the SARIF file, `agentd show` and the
forge delivery (which may run in a later attempt, or for a job that failed) all read one record.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from agentd.forge.base import CheckRef, Finding
from agentd.store.base import Store


@dataclass
class ReviewState:
    """What one task's review covered and found, and what agentd did with it on the forge."""

    head: str
    pr: int | None = None
    base: str | None = None  # the whole change is diffed against it (merge base with the target, or the parent)
    since: str | None = None  # incremental review: the last reviewed head
    target_branch: str = ""  # a PR's base branch (or the commit's branch)
    pr_branch: str = ""  # a PR's head branch, when it lives in the base repository
    trusted: bool = True
    trust_reason: str = ""
    reviewed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    instructions: list[str] = field(default_factory=list)
    settings_error: str = ""
    severity: str = "info"  # the repository's threshold for reporting
    findings: list[dict[str, Any]] = field(default_factory=list)  # agentd.forge.base.Finding fields
    notes: list[str] = field(default_factory=list)  # e.g. what the database review could not explain
    check: dict[str, Any] | None = None  # agentd.forge.base.CheckRef fields
    command: str = ""  # for a command job: the verb
    fix_pull_request: str = ""  # where agentd's fix was offered
    inline: dict[str, int] = field(default_factory=dict)  # posted / already_posted / off_diff counts

    def found(self) -> list[Finding]:
        """The findings as the forge layer takes them."""
        return [Finding(**finding) for finding in self.findings]

    def set_findings(self, findings: list[Finding]) -> None:
        """Replace the findings."""
        self.findings = [dataclasses.asdict(finding) for finding in findings]

    def check_ref(self) -> CheckRef | None:
        """The check agentd started on the head, if any."""
        return CheckRef(**self.check) if self.check else None

    def to_json(self) -> dict[str, Any]:
        """Plain JSON for the store."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReviewState:
        """Back from the store (unknown keys, from a newer agentd, are dropped)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in names})


def save(store: Store, task_id: int, state: ReviewState) -> None:
    """Keep the record in the store."""
    store.record_review(task_id, state.to_json())


def load(store: Store, task_id: int) -> ReviewState | None:
    """The task's review record, or None when the task has none."""
    data = store.task_review(task_id)
    return ReviewState.from_json(data) if data is not None else None
