"""`agentd.toml`: each part's own config model, composed; the file and the environment only override.

Secrets never live in this file: a model names the *environment variable* holding its key
(`api_key_env`), the target database names the variable holding its DSN (`dsn_env`).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agentd.engine.config import ROLES, DebateConfig, TeamConfig
from agentd.forge.config import ForgeConfig
from agentd.intake.config import ApiConfig, WebhookConfig
from agentd.job.config import ReviewConfig
from agentd.kernel.errors import ConfigError
from agentd.kernel.policy import PolicyConfig
from agentd.kernel.trace import TracingConfig
from agentd.kernel.validation import describe_error, problems
from agentd.models.budget import BudgetConfig, Price
from agentd.models.config import ModelConfig
from agentd.models.pool import chain_for
from agentd.perf.config import OptimizerConfig
from agentd.repo.config import RepositoryConfig
from agentd.service.config import DaemonConfig, RetentionConfig
from agentd.store.config import StoreConfig
from sandbox.config import SandboxConfig
from tools.config import QueryDatabaseConfig

__all__ = ["Config", "describe_error", "load_config", "parse_config"]

ENV_PREFIX = "AGENTD_"


class Config(BaseModel):
    """The whole of agentd.toml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    daemon: DaemonConfig = Field(default_factory=DaemonConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    repository: RepositoryConfig
    models: Annotated[dict[str, ModelConfig], Field(min_length=1)]
    roles: dict[str, str | list[str]] = Field(
        default_factory=dict, description="Role -> model name, or a fallback chain of names (first preferred)."
    )
    sandbox: SandboxConfig = Field(default_factory=SandboxConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    target_database: QueryDatabaseConfig = Field(default_factory=QueryDatabaseConfig)
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    team: TeamConfig = Field(default_factory=TeamConfig)
    debate: DebateConfig = Field(default_factory=DebateConfig)
    budget: BudgetConfig = Field(
        default_factory=BudgetConfig, description="Hard money and token limits, checked before every model call."
    )
    prices: dict[str, Price] = Field(
        default_factory=dict,
        description='USD per 1M tokens by model id, e.g. [prices."gpt-4.1"]; an unpriced model is counted as free.',
    )
    webhook: WebhookConfig = Field(default_factory=WebhookConfig)
    forge: ForgeConfig = Field(default_factory=ForgeConfig)
    review: ReviewConfig = Field(
        default_factory=ReviewConfig, description="What agentd reviews on a commit or PR, and the guidance it gives."
    )
    api: ApiConfig = Field(default_factory=ApiConfig)
    tracing: TracingConfig = Field(default_factory=TracingConfig)
    optimizer: OptimizerConfig = Field(
        default_factory=OptimizerConfig, description="When an optimization is kept: agentd's own benchmark gate."
    )

    @model_validator(mode="after")
    def _roles_name_models(self) -> Config:
        if "default" not in self.models:
            raise ValueError("define [models.default]: roles not listed in [roles] use it")
        for role, names in self.roles.items():
            if role not in ROLES:
                raise ValueError(f"roles.{role}: unknown role; expected one of {', '.join(ROLES)}")
            for name in [names] if isinstance(names, str) else names:
                if name not in self.models:
                    raise ValueError(f"roles.{role} = {name!r}: no [models.{name}] table defines that model")
        for role in [*self.debate.voters, *self.debate.panel, *self.debate.priorities]:
            if role not in ROLES:
                raise ValueError(f"debate: unknown role {role!r}; expected one of {', '.join(ROLES)}")
        return self

    def chain_for(self, role: str) -> list[str]:
        """The model names a role uses, first preferred (a fallback chain)."""
        return chain_for(self.roles, role)

    @property
    def store_url(self) -> str:
        """The store URL ($url_env, else url, else a SQLite file in the state directory)."""
        if self.store.url_env:
            from_env = os.environ.get(self.store.url_env)
            if not from_env:
                raise ConfigError(f"store.url_env: {self.store.url_env} is not set; export the store DSN in it")
            return from_env
        return self.store.url or f"sqlite:///{self.daemon.state_dir / 'agentd.db'}"

    def secret_env_names(self) -> set[str]:
        """Names of every environment variable the config says holds a secret."""
        names = {m.api_key_env for m in self.models.values() if m.api_key_env}
        if self.target_database.dsn_env:
            names.add(self.target_database.dsn_env)
        if self.webhook.listen:
            names.add(self.webhook.secret_env)
        if self.store.url_env:
            names.add(self.store.url_env)
        names |= self.forge.secret_envs()
        if self.api.listen:
            names.add(self.api.token_env)
        if self.tracing.otlp_headers_env:
            names.add(self.tracing.otlp_headers_env)
        return names


def _env_overrides(env: dict[str, str], data: dict[str, Any]) -> dict[str, Any]:
    """Apply AGENTD_SECTION__KEY=value overrides; values are TOML literals or plain strings."""
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        path = [part.lower() for part in name[len(ENV_PREFIX) :].split("__")]
        try:
            value: Any = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw
        node = data
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{name}: {'.'.join(path[:-1])} is not a table")
        node[path[-1]] = value
    return data


def parse_config(text: str, source: str = "agentd.toml", env: dict[str, str] | None = None) -> Config:
    """Parse and validate config text; every problem is named with its key, value and the fix."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    data = _env_overrides(dict(os.environ) if env is None else env, data)
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {problems(exc)}") from None


def load_config(path: Path | str | None, env: dict[str, str] | None = None) -> Config:
    """Load the config named by `path`, else by $AGENTD_CONFIG, else ./agentd.toml."""
    environ = dict(os.environ) if env is None else env
    chosen = Path(path or environ.get("AGENTD_CONFIG") or "agentd.toml")
    try:
        text = chosen.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{chosen}: no such config file; create one with `agentd init REPO`") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{chosen}: cannot read: {exc}") from None
    config = parse_config(text, str(chosen), environ)
    if config.repository.path is not None and not config.repository.path.is_absolute():
        resolved = (chosen.parent / config.repository.path).resolve()
        config = config.model_copy(update={"repository": config.repository.model_copy(update={"path": resolved})})
    return config
