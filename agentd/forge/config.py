"""`[forge]`: where agentd posts its reviews."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ForgeConfig(BaseModel):
    """Where agentd posts its one review comment per pull request; off unless `kind` is set."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["github"] | None = None
    api_url: str = "https://api.github.com"
    repository: str | None = Field(None, description="owner/name on the forge.")
    token_env: str = Field("GITHUB_TOKEN", description="Environment variable holding the API token.")
