"""`[team]` and `[debate]`: the roles, the team's limits and how it agrees."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ROLES = (
    "proposer",
    "critic",
    "reviewer",
    "optimizer",
    "tester",
    "judge",
    "moderator",
    "panelist",
    "observer",
    "evaluator",
    "supervisor",
    "worker",
)
Stage = Literal["critique", "optimize", "test"]
STAGES: tuple[Stage, ...] = ("critique", "optimize", "test")


class TeamConfig(BaseModel):
    """The team and its limits."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_steps_per_turn: int = Field(16, ge=1, description="Model calls one agent may make in one turn.")


class DebateConfig(BaseModel):
    """How the team agrees: protocol, who speaks when, how votes count."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    protocol: Literal["auto", "vote", "debate", "negotiation", "single"] = Field(
        "auto",
        description="auto: vote first, escalate to debate when the surviving patches disagree or all fail; "
        "single: one proposer, no voters (its change stands when agentd's tests pass).",
    )
    strategy: Literal["broadcast", "round_robin", "moderator_led", "hierarchical", "priority"] = Field(
        "broadcast", description="Who speaks when, inside a phase with several speakers."
    )
    proposers: int = Field(3, ge=1, le=8, description="Independent proposers in the vote protocol.")
    max_rounds: int = Field(3, ge=1, description="Debate rounds (propose → … → judge) before giving up.")
    consensus: Literal["majority", "supermajority", "unanimous", "weighted"] = "supermajority"
    voters: list[str] = Field(default_factory=lambda: ["critic", "judge"], min_length=1)
    panel: list[str] = Field(
        default_factory=lambda: ["proposer", "critic", "optimizer"],
        min_length=2,
        description="Participants of the negotiation protocol.",
    )
    stages: list[Stage] = Field(
        default_factory=lambda: list(STAGES),
        description="Debate stages between propose/revise and judge.",
    )
    priorities: dict[str, int] = Field(default_factory=dict, description="Role -> priority (highest speaks first).")
