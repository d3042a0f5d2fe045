"""Builds the configured forge client from `[forge]` and the environment (the only place secrets are read)."""

from __future__ import annotations

from collections.abc import Mapping

from agentd.forge.base import Forge
from agentd.forge.config import ForgeConfig
from agentd.kernel.errors import ConfigError


def _secret(env: Mapping[str, str], name: str, what: str) -> str:
    value = env.get(name, "")
    if not value.strip():
        raise ConfigError(f"[forge] {what}: environment variable {name} is not set; export it or remove [forge]")
    return value


def open_forge(config: ForgeConfig, env: Mapping[str, str]) -> Forge | None:
    """The forge agentd posts to, or None when `[forge]` names none; ConfigError names what to fix."""
    if config.kind is None:
        return None
    if not config.repository:
        raise ConfigError("forge.repository: set it to the repository's owner/name (GitLab: its full path)")
    try:
        api_url = config.base_url
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if config.kind == "gitlab":
        from agentd.forge.gitlab import GitLabForge  # noqa: PLC0415 - python-gitlab loads only for GitLab

        token = _secret(env, config.token_env, "token_env")
        return GitLabForge(api_url, config.repository, token, check_name=config.check_name, timeout_s=config.timeout_s)
    from githubkit import AppAuthStrategy, TokenAuthStrategy  # noqa: PLC0415

    from agentd.forge.github import Auth, GitHubForge  # noqa: PLC0415 - githubkit loads only with a forge

    auth: Auth
    if config.app_id is not None:
        key = _secret(env, config.app_private_key_env, "app_private_key_env").replace("\\n", "\n")
        if "PRIVATE KEY-----" not in key:
            raise ConfigError(f"{config.app_private_key_env} does not hold a PEM private key; paste the App's .pem")
        app = AppAuthStrategy(config.app_id, key)
        auth = app.as_installation(config.app_installation_id) if config.app_installation_id else app
        secret = key
    else:
        secret = _secret(env, config.token_env, "token_env")
        auth = TokenAuthStrategy(secret)
    return GitHubForge(
        config.repository,
        auth,
        api_url,
        flavor=config.kind,
        check_runs=config.uses_check_runs,
        check_name=config.check_name,
        timeout_s=config.timeout_s,
        secrets=[secret],
    )
