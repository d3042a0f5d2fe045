"""`[forge]` settings: what each combination builds, and the errors that name the fix."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from agentd.config import parse_config
from agentd.forge.config import ForgeConfig
from agentd.forge.connect import open_forge
from agentd.forge.github import GitHubForge
from agentd.forge.gitlab import GitLabForge
from agentd.kernel.errors import ConfigError


def test_no_kind_means_no_forge() -> None:
    """Without `kind`, nothing is built and no secret is needed."""
    assert open_forge(ForgeConfig(), {}) is None
    assert ForgeConfig().secret_envs() == set()


def test_each_kind_builds_its_client_with_the_forges_default_url() -> None:
    """github and gitlab default to their public APIs; gitea needs api_url; auto checks follow the auth."""
    github = open_forge(ForgeConfig(kind="github", repository="a/b"), {"GITHUB_TOKEN": "t"})
    assert isinstance(github, GitHubForge) and github.api_url == "https://api.github.com" and not github.check_runs
    gitlab = open_forge(ForgeConfig(kind="gitlab", repository="g/p", token_env="GL"), {"GL": "t"})
    assert isinstance(gitlab, GitLabForge) and gitlab.api_url == "https://gitlab.com"
    with pytest.raises(ConfigError, match="api_url"):
        open_forge(ForgeConfig(kind="gitea", repository="a/b"), {"GITHUB_TOKEN": "t"})


def test_missing_secrets_and_bad_keys_name_the_variable() -> None:
    """An unset token variable or a key that is not PEM is a ConfigError naming the variable to fix."""
    with pytest.raises(ConfigError, match="MY_TOKEN"):
        open_forge(ForgeConfig(kind="github", repository="a/b", token_env="MY_TOKEN"), {})
    app = ForgeConfig(kind="github", repository="a/b", app_id=5, app_private_key_env="KEY")
    with pytest.raises(ConfigError, match="KEY does not hold a PEM private key"):
        open_forge(app, {"KEY": "not a key"})
    with pytest.raises(ConfigError, match="owner/name"):
        open_forge(ForgeConfig(kind="github"), {"GITHUB_TOKEN": "t"})


def test_settings_a_forge_cannot_honour_are_refused() -> None:
    """A GitHub App on GitLab, or check runs on Gitea, fail validation with the reason."""
    with pytest.raises(ValidationError, match="GitHub Apps exist only on GitHub"):
        ForgeConfig(kind="gitlab", app_id=5)
    with pytest.raises(ValidationError, match="has no check runs"):
        ForgeConfig(kind="forgejo", api_url="https://f/api/v1", checks="check_run")


def test_the_redactor_learns_the_forges_secret_variable() -> None:
    """The token variable, or with an App the key variable, is among the config's secret variables."""
    base = '[repository]\npath = "/srv/app"\n[models.default]\nprovider = "openai"\nmodel = "m"\n[forge]\n'
    token = parse_config(base + 'kind = "github"\nrepository = "a/b"\n', env={})
    assert "GITHUB_TOKEN" in token.secret_env_names()
    app = parse_config(base + 'kind = "github"\nrepository = "a/b"\napp_id = 5\n', env={})
    assert "AGENTD_GITHUB_APP_KEY" in app.secret_env_names() and "GITHUB_TOKEN" not in app.secret_env_names()
