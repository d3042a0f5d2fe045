"""`[review]`: how agentd reviews a commit or pull request; and a repository's own `.agentd.toml`.

The repository's file is read from its base branch (never from a pull request's tree) and validated
like agentd.toml: pydantic, an unknown key is an error naming the key.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from agentd.kernel.validation import toml_model

ReviewSeverity = Literal["info", "minor", "major", "critical"]
SEVERITY_ORDER: tuple[ReviewSeverity, ...] = ("info", "minor", "major", "critical")


class ReviewConfig(BaseModel):
    """What agentd reviews on a commit or pull request, and what it hands the team besides the change."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    incremental: bool = Field(
        True,
        description="On a pull request's new head, review only what changed since the last reviewed head; a full "
        "review on `/agentd review`, on the first head, or when the branch was rewritten.",
    )
    instructions: str = Field(
        "AGENTS.md",
        min_length=1,
        description="The repository's instructions for agents, read from the base branch; for each changed path "
        "the nearest such file (its directory, then each parent) is given to every role.",
    )
    max_instructions_bytes: int = Field(16_000, ge=0, description="The instructions given, at most (0: none).")
    settings_file: str = Field(".agentd.toml", min_length=1, description="The repository's own review settings.")
    max_suggestion_lines: int = Field(
        20, ge=1, description="A fix becomes a one-click suggestion only as one hunk of at most this many lines."
    )
    large_table_rows: int = Field(
        100_000, ge=0, description="A migration that would lock a table of at least this many rows is flagged."
    )
    plan_cost_ratio: float = Field(
        1.5, gt=1, description="A changed statement whose plan costs this many times the old one's is flagged."
    )


class RepositoryReviewSettings(BaseModel):
    """The `[review]` table of a repository's `.agentd.toml`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    skip: list[str] = Field(
        default_factory=list,
        description="Path globs agentd does not review ('docs/**', '**/*.pb.go'; '*' also crosses '/').",
    )
    severity: ReviewSeverity = Field("info", description="The least severe finding agentd reports on the forge.")

    def reports(self, severity: str) -> bool:
        """Whether a finding of `severity` is at or above the threshold."""
        known = severity if severity in SEVERITY_ORDER else "info"
        return SEVERITY_ORDER.index(known) >= SEVERITY_ORDER.index(self.severity)


class RepositorySettings(BaseModel):
    """A repository's `.agentd.toml`: its own review settings (everything else stays agentd's)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    review: RepositoryReviewSettings = Field(default_factory=RepositoryReviewSettings)


def parse_repository_settings(text: str, source: str) -> RepositorySettings:
    """The settings in `text`; ConfigError naming the file, the key and the fix when they are not valid."""
    return toml_model(RepositorySettings, text, source)
