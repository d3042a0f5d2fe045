"""`[repository]`: the repository agentd watches and how its tests run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class RepositoryConfig(BaseModel):
    """The repository agentd watches and how its tests run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: Path | None = Field(None, description="A local clone to watch.")
    url: str | None = Field(None, description="Instead of path: any git URL or a bare repository agentd clones.")
    default_branch: str = Field("main", description="Base of pull requests when no webhook names one.")
    pull_requests: bool = Field(False, description="Review pull-request heads (refs/pull/N/head, GitLab's too).")
    poll_interval_s: float = Field(30.0, gt=0, description="url mode: how often to fetch the remote.")
    push: bool = Field(False, description="url mode: push agentd/ branches to the remote (never anything else).")
    watch_branches: list[str] = Field(default_factory=lambda: ["main"], min_length=1)
    test_command: list[str] = Field(default_factory=lambda: ["go", "test", "./..."], min_length=1)
    test_timeout_s: int = Field(600, ge=1, description="Deadline for one run of test_command.")
    trusted_authors: list[str] = Field(
        default_factory=list,
        description="Forge logins whose pull requests are trusted, besides PRs from the repository itself and "
        "authors the forge reports with write access.",
    )
    trust_pull_requests: bool = Field(
        False,
        description="Trust every pull request (only for a repository where everyone who can open one may also push "
        "to it, e.g. a private one without forks). Untrusted PRs are reviewed and fixed, never pushed.",
    )

    @model_validator(mode="before")
    @classmethod
    def _moved_settings(cls, data: Any) -> Any:
        if isinstance(data, dict) and "max_concurrent_jobs" in data:
            raise ValueError(
                "repository.max_concurrent_jobs moved: set daemon.max_concurrent_jobs (jobs one daemon runs at "
                "once; each daemon adds as many) and, to cap all daemons together, daemon.max_concurrent_jobs_total"
            )
        return data

    @model_validator(mode="after")
    def _needs_a_source(self) -> RepositoryConfig:
        if (self.path is None) == (self.url is None):
            raise ValueError("set exactly one of repository.path (a local clone) or repository.url (a remote)")
        return self

    @property
    def source(self) -> str:
        """Where commits come from: the local path or the remote URL."""
        return str(self.path) if self.path is not None else str(self.url)
