"""The submit tools that end an agent's turn; agentd defines their schemas and validates them.

No submit tool carries patch text: the patch is the state of the job's worktree, diffed by agentd.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from agentd.protocols import ToolSpec


class _Submission(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SubmitPatch(_Submission):
    """The proposer's end of turn: the workspace now holds the proposed change."""

    summary: str = Field(min_length=1, description="What the change does and why, in a few sentences")
    confidence: float = Field(0.5, ge=0, le=1, description="How sure you are the change is right")


class Finding(_Submission):
    """One issue a reviewer found."""

    severity: Literal["info", "minor", "major", "critical"]
    message: str = Field(min_length=1)
    file: str | None = None
    line: int | None = Field(None, ge=1)

    @property
    def blocking(self) -> bool:
        """Major and critical findings block a commit until resolved."""
        return self.severity in {"major", "critical"}


class SubmitReview(_Submission):
    """A critic's or reviewer's end of turn."""

    verdict: Literal["approve", "request_changes"]
    summary: str = Field(min_length=1)
    findings: list[Finding] = Field(default_factory=list)


class CastVote(_Submission):
    """The judge's end of turn: accept or reject, citing evidence."""

    decision: Literal["accept", "reject"]
    confidence: float = Field(ge=0, le=1)
    rationale: str = Field(min_length=1, description="Why, citing the test evidence agentd provided")


SUBMIT_TOOLS: dict[str, type[_Submission]] = {
    "submit_patch": SubmitPatch,
    "submit_review": SubmitReview,
    "cast_vote": CastVote,
}
SUBMIT_DESCRIPTIONS = {
    "submit_patch": "Finish your turn: the workspace holds your change. Give a summary; agentd diffs and tests it.",
    "submit_review": "Finish your turn with a verdict and findings (severity, file, line, message).",
    "cast_vote": "Finish your turn with your decision on the candidate patch, citing the evidence.",
}


def submit_spec(name: str) -> ToolSpec:
    """The tool spec of one submit tool."""
    schema = SUBMIT_TOOLS[name].model_json_schema()
    return ToolSpec(name, SUBMIT_DESCRIPTIONS[name], schema)
