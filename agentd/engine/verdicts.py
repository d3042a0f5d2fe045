"""The submit tools that end an agent's turn; agentd defines their schemas and validates them.

No submit tool carries patch text: the patch is the state of the job's worktree, diffed by agentd.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from agentd.kernel.seams import ToolSpec


class Submission(BaseModel):
    """What a submit tool call carries, validated; the turn that made it ends with it."""

    model_config = ConfigDict(extra="forbid")


class SubmitPatch(Submission):
    """The proposer's end of turn: the workspace now holds the proposed change."""

    summary: str = Field(min_length=1, description="What the change does and why, in a few sentences")
    confidence: float = Field(
        0.5, ge=0, le=1, description="How sure you are the change is right: a number from 0 to 1, such as 0.7"
    )


class ReviewFinding(Submission):
    """One issue a reviewer, critic, tester or voter found in a change."""

    severity: Literal["info", "minor", "major", "critical"]
    message: str = Field(min_length=1)
    file: str | None = None
    line: int | None = Field(None, ge=1)

    @property
    def blocking(self) -> bool:
        """Major and critical findings block a commit until resolved."""
        return self.severity in {"major", "critical"}


class SubmitReview(Submission):
    """A critic's or reviewer's end of turn."""

    verdict: Literal["approve", "request_changes"]
    summary: str = Field(min_length=1)
    findings: list[ReviewFinding] = Field(default_factory=list)


class CastVote(Submission):
    """A voter's end of turn: accept or reject (a candidate, when there are several), citing evidence.

    On a ballot (the submit tool lists candidates) `candidate` must name one of them; it may be
    left out only when there is just one, which it then means.
    """

    decision: Literal["accept", "reject"]
    confidence: float = Field(ge=0, le=1, description="How sure you are: a number from 0 to 1, such as 0.7")
    rationale: str = Field(min_length=1, description="Why, citing the test evidence agentd provided")
    candidate: str | None = Field(
        None, validate_default=True, description="The candidate you vote for, when several are shown"
    )
    findings: list[ReviewFinding] = Field(
        default_factory=list,
        description="Defects you found; an unresolved critical finding vetoes any agreement",
    )

    @field_validator("candidate")
    @classmethod
    def _names_a_candidate(cls, value: str | None, info: ValidationInfo) -> str | None:
        candidates: tuple[str, ...] = (info.context or {}).get("candidates", ())
        if not candidates or value in candidates:
            return value
        names = ", ".join(candidates)
        if value is None and len(candidates) == 1:
            return candidates[0]
        if value is None:
            raise ValueError(f"name the candidate you vote for; one of: {names}")
        raise ValueError(f"{value!r} is not a candidate; name one of: {names}")


class PlannedChange(Submission):
    """One change a negotiation proposal makes."""

    file: str
    change: str = Field(min_length=1)


class SubmitProposal(Submission):
    """A panelist's independent proposal, as structured JSON."""

    approach: str = Field(min_length=1, description="The approach in a few sentences")
    changes: list[PlannedChange] = Field(default_factory=list)
    risks: list[str] = Field(default_factory=list)
    estimate_minutes: float | None = Field(None, ge=0, description="Your estimate of the work, in minutes")


class Objection(Submission):
    """An objection to another participant's proposal."""

    participant: str
    reason: str = Field(min_length=1)
    severity: Literal["minor", "major", "critical"] = "minor"


class SubmitCritique(Submission):
    """A panelist's critique of the others' proposals: whom it supports, what it objects to."""

    supports: list[str] = Field(default_factory=list, description="Participants whose proposals you support")
    objections: list[Objection] = Field(default_factory=list)


SUBMIT_TOOLS: dict[str, type[Submission]] = {
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
    "submit_patch": "Finish your turn: the workspace holds your change (made with `code` first: agentd diffs the "
    "workspace, so a submit without an edit proposes nothing). Give a summary; agentd diffs and tests it.",
    "submit_review": "Finish your turn with a verdict and findings (severity, file, line, message).",
    "cast_vote": "Finish your turn with your decision on the candidate patch, citing the evidence.",
    "submit_proposal": "Finish your turn with your proposal: approach, planned changes, risks, estimate.",
    "submit_critique": "Finish your turn with the proposals you support and your objections to the others.",
}


@dataclass(frozen=True)
class SubmitTool:
    """A submit tool as one turn offers it; a ballot (`cast_vote` with candidates) lists whom it may name."""

    name: str
    candidates: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.name not in SUBMIT_TOOLS:
            raise ValueError(f"unknown submit tool {self.name!r}; one of {sorted(SUBMIT_TOOLS)}")
        if self.candidates and self.name != "cast_vote":
            raise ValueError(f"only cast_vote takes candidates, not {self.name}")

    @property
    def submission(self) -> type[Submission]:
        """The pydantic model its arguments validate into."""
        return SUBMIT_TOOLS[self.name]

    def spec(self) -> ToolSpec:
        """The tool spec offered to the model; a ballot's `candidate` is an enum of the candidates."""
        schema = self.submission.model_json_schema()
        if self.candidates:
            schema = _ballot_schema(schema, self.candidates)
        return ToolSpec(self.name, SUBMIT_DESCRIPTIONS[self.name], schema)

    def parse(self, arguments: str) -> Submission:
        """The validated submission; raises pydantic.ValidationError naming what to fix."""
        return self.submission.model_validate_json(arguments or "{}", context={"candidates": self.candidates})

    def restore(self, recorded: dict[str, Any]) -> Submission:
        """A submission read back from the session's record (validated when it was made)."""
        return self.submission.model_validate(recorded)


def _ballot_schema(schema: dict[str, Any], candidates: tuple[str, ...]) -> dict[str, Any]:
    described = schema["properties"]["candidate"].get("description", "")
    candidate = {"type": "string", "enum": list(candidates), "description": described}
    required = [*schema.get("required", []), "candidate"] if len(candidates) > 1 else schema.get("required", [])
    return {**schema, "properties": {**schema["properties"], "candidate": candidate}, "required": required}
