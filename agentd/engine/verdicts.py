"""The submit tools that end an agent's turn; agentd defines their schemas and validates them.

No submit tool carries patch text: the patch is the state of the job's worktree, diffed by agentd.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from agentd.kernel.seams import ToolSpec


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
    """A voter's end of turn: accept or reject (a candidate, when there are several), citing evidence."""

    decision: Literal["accept", "reject"]
    confidence: float = Field(ge=0, le=1)
    rationale: str = Field(min_length=1, description="Why, citing the test evidence agentd provided")
    candidate: str | None = Field(None, description="The candidate you vote for, when several are shown")


class PlannedChange(_Submission):
    """One change a negotiation proposal makes."""

    file: str
    change: str = Field(min_length=1)


class SubmitProposal(_Submission):
    """A panelist's independent proposal, as structured JSON."""

    approach: str = Field(min_length=1, description="The approach in a few sentences")
    changes: list[PlannedChange] = Field(default_factory=list)
    risks: list[str] = Field(default_factory=list)
    estimate_minutes: float | None = Field(None, ge=0, description="Your estimate of the work, in minutes")


class Objection(_Submission):
    """An objection to another participant's proposal."""

    participant: str
    reason: str = Field(min_length=1)
    severity: Literal["minor", "major", "critical"] = "minor"


class SubmitCritique(_Submission):
    """A panelist's critique of the others' proposals: whom it supports, what it objects to."""

    supports: list[str] = Field(default_factory=list, description="Participants whose proposals you support")
    objections: list[Objection] = Field(default_factory=list)


SUBMIT_TOOLS: dict[str, type[_Submission]] = {
    "submit_patch": SubmitPatch,
    "submit_review": SubmitReview,
    "cast_vote": CastVote,
    "submit_proposal": SubmitProposal,
    "submit_critique": SubmitCritique,
}
SUBMIT_OF_ROLE = {
    "proposer": "submit_patch",
    "optimizer": "submit_patch",
    "worker": "submit_patch",
    "critic": "submit_review",
    "reviewer": "submit_review",
    "tester": "submit_review",
    "evaluator": "submit_review",
    "observer": "submit_review",
    "judge": "cast_vote",
    "moderator": "cast_vote",
    "supervisor": "cast_vote",
    "panelist": "submit_proposal",
}
SUBMIT_DESCRIPTIONS = {
    "submit_patch": "Finish your turn: the workspace holds your change. Give a summary; agentd diffs and tests it.",
    "submit_review": "Finish your turn with a verdict and findings (severity, file, line, message).",
    "cast_vote": "Finish your turn with your decision on the candidate patch, citing the evidence.",
    "submit_proposal": "Finish your turn with your proposal: approach, planned changes, risks, estimate.",
    "submit_critique": "Finish your turn with the proposals you support and your objections to the others.",
}


def submit_spec(name: str) -> ToolSpec:
    """The tool spec of one submit tool."""
    schema = SUBMIT_TOOLS[name].model_json_schema()
    return ToolSpec(name, SUBMIT_DESCRIPTIONS[name], schema)
