"""`[forge]`: where agentd posts its reviews (GitHub, GitLab, Gitea, Forgejo) and how it authenticates."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ForgeKind = Literal["github", "gitea", "forgejo", "gitlab"]
DEFAULT_API_URLS: dict[str, str] = {"github": "https://api.github.com", "gitlab": "https://gitlab.com"}


class ForgeConfig(BaseModel):
    """Where agentd posts check runs, inline reviews, its summary comment and fix PRs; off unless `kind` is set.

    Secrets never live in the file: the fields ending in `_env` name the environment variables that hold them.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: ForgeKind | None = Field(None, description="Which forge: github, gitea, forgejo or gitlab.")
    api_url: str | None = Field(
        None,
        description="The API's base URL: GitHub's by default, https://HOST/api/v3 for GitHub Enterprise, "
        "https://HOST/api/v1 for Gitea and Forgejo, https://HOST for GitLab.",
    )
    repository: str | None = Field(None, description="owner/name on the forge (GitLab: the project's full path).")
    token_env: str = Field("GITHUB_TOKEN", description="Environment variable holding the API token.")
    app_id: int | None = Field(None, ge=1, description="GitHub App id; set it to authenticate as the App.")
    app_private_key_env: str = Field(
        "AGENTD_GITHUB_APP_KEY", description="Environment variable holding the App's PEM private key."
    )
    app_installation_id: int | None = Field(
        None, ge=1, description="The App's installation on the repository; looked up from the repository if unset."
    )
    checks: Literal["auto", "check_run", "commit_status"] = Field(
        "auto",
        description="How the verdict shows on a head: a check run (GitHub, needs an App or Actions' token) or a "
        "commit status; auto picks the check run for a GitHub App and the commit status otherwise.",
    )
    check_name: str = Field("agentd", min_length=1, max_length=100, description="The check's (or status') name.")
    fix_pull_requests: Literal["off", "draft", "ready"] = Field(
        "draft", description="Offer a trusted PR's fix as a pull request from agentd/pr-N into the PR's branch."
    )
    commit_fix_pull_requests: Literal["off", "draft", "ready"] = Field(
        "off", description="Offer a failing commit's fix as a pull request from agentd/commit-<sha7> into its branch."
    )
    timeout_s: float = Field(10.0, gt=0, description="Seconds one API request may take.")

    @model_validator(mode="after")
    def _app_only_on_github(self) -> ForgeConfig:
        if self.app_id is not None and self.kind != "github":
            raise ValueError("forge.app_id: GitHub Apps exist only on GitHub; use token_env for this forge")
        if self.checks == "check_run" and self.kind not in (None, "github"):
            raise ValueError(f"forge.checks = 'check_run': {self.kind} has no check runs; use 'commit_status'")
        return self

    @property
    def base_url(self) -> str:
        """The API base URL, the forge's public one when `api_url` is unset."""
        if self.api_url:
            return self.api_url.rstrip("/")
        if self.kind in DEFAULT_API_URLS:
            return DEFAULT_API_URLS[self.kind]
        raise ValueError(f"forge.api_url: set it to your {self.kind} server's API, e.g. https://HOST/api/v1")

    @property
    def uses_check_runs(self) -> bool:
        """Whether the verdict goes into a GitHub check run (else into a commit status)."""
        if self.checks == "auto":
            return self.kind == "github" and self.app_id is not None
        return self.checks == "check_run"

    def secret_envs(self) -> set[str]:
        """The environment variables holding this section's secrets, for the redactor."""
        if self.kind is None:
            return set()
        return {self.app_private_key_env} if self.app_id is not None else {self.token_env}
