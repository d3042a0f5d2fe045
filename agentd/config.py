"""`agentd.toml`: pydantic models with safe defaults; the file and the environment only override.

Secrets never live in this file: a model names the *environment variable* holding its key
(`api_key_env`), the target database names the variable holding its DSN (`dsn_env`).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agentd.budget import BudgetConfig, Price
from agentd.errors import ConfigError

ENV_PREFIX = "AGENTD_"
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


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DaemonConfig(_Section):
    """How the daemon runs."""

    state_dir: Path = Field(Path("/var/lib/agentd"), description="Worktrees, clones, logs and the SQLite database.")
    rescan_interval_s: float = Field(30.0, gt=0, description="Safety-net rescan of the refs, besides the file watcher.")
    poll_interval_s: float = Field(0.2, gt=0, description="How often an idle worker looks for a queued job.")
    lease_s: float = Field(120.0, gt=5, description="A job's lease; a worker renews it while it works.")
    max_commits_per_scan: int = Field(
        10, ge=1, description="New commits on one branch enqueued per scan; older ones are recorded as skipped."
    )
    log_format: Literal["console", "json"] = Field("console", description="structlog renderer.")
    max_attempts: int = Field(3, ge=1, description="Runs of a failing job before it is dead-lettered.")
    retry_backoff_s: float = Field(30.0, ge=0, description="Wait before the first retry; doubles each time.")


class RepositoryConfig(_Section):
    """The repository agentd watches and how its tests run."""

    path: Path | None = Field(None, description="A local clone to watch.")
    url: str | None = Field(None, description="Instead of path: any git URL or a bare repository agentd clones.")
    default_branch: str = Field("main", description="Base of pull requests when no webhook names one.")
    pull_requests: bool = Field(False, description="Review pull-request heads (refs/pull/N/head, GitLab's too).")
    poll_interval_s: float = Field(30.0, gt=0, description="url mode: how often to fetch the remote.")
    push: bool = Field(False, description="url mode: push agentd/ branches to the remote (never anything else).")
    max_concurrent_jobs: int = Field(1, ge=1, description="Jobs of this repository running at once.")
    watch_branches: list[str] = Field(default_factory=lambda: ["main"], min_length=1)
    test_command: list[str] = Field(default_factory=lambda: ["go", "test", "./..."], min_length=1)
    test_timeout_s: int = Field(600, ge=1, description="Deadline for one run of test_command.")

    @model_validator(mode="after")
    def _needs_a_source(self) -> RepositoryConfig:
        if (self.path is None) == (self.url is None):
            raise ValueError("set exactly one of repository.path (a local clone) or repository.url (a remote)")
        return self

    @property
    def source(self) -> str:
        """Where commits come from: the local path or the remote URL."""
        return str(self.path) if self.path is not None else str(self.url)


class ModelConfig(_Section):
    """One model endpoint; roles refer to it by its table name (`[models.NAME]`)."""

    provider: Literal["openai", "anthropic", "scripted"]
    model: str = Field(min_length=1)
    base_url: str | None = Field(None, description="Any OpenAI-compatible server (Ollama, vLLM, llama.cpp).")
    api_key_env: str | None = Field(None, description="Environment variable holding the API key.")
    script: str | None = Field(None, description="scripted: a built-in script name or a JSON script file.")
    wire: Literal["openai", "anthropic"] = Field("openai", description="scripted: which SDK and wire format to use.")
    timeout_s: float = Field(120.0, gt=0)
    max_retries: int = Field(2, ge=0)
    retry_base_s: float = Field(0.5, gt=0, description="Backoff before the first retry (doubles, full jitter).")
    retry_cap_s: float = Field(30.0, gt=0, description="Longest wait between retries, Retry-After included.")
    max_tokens: int = Field(4096, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)


class SandboxConfig(_Section):
    """The Docker sandbox every tool call and test run happens in."""

    image: str = "agentd-sandbox-go:latest"
    memory: str = Field("2g", description="Container memory limit (Docker syntax).")
    cpus: float = Field(1.0, gt=0)
    pids_limit: int = Field(256, ge=16)
    command_timeout_s: int = Field(300, ge=1, description="Default and maximum deadline of one command.")
    output_limit: int = Field(64_000, ge=1024, description="Bytes of stdout and of stderr kept per command.")
    user: str = Field("auto", description="'auto': uid 10001 when agentd is root, else agentd's own uid.")
    env_allowlist: list[str] = Field(
        default_factory=list,
        description="Names of agentd's environment variables copied into the sandbox; nothing else of it enters.",
    )
    tmp_size: str = Field("512m", description="Size of the /tmp tmpfs (Docker syntax; counts against memory).")
    home_size: str = Field("1g", description="Size of the /home/sandbox tmpfs holding the Go build cache.")
    max_open_files: int = Field(4096, ge=64, description="RLIMIT_NOFILE of every process in the sandbox.")
    max_processes: int = Field(
        4096,
        ge=64,
        description="RLIMIT_NPROC; counts the sandbox uid host-wide, pids_limit bounds one container.",
    )
    max_file_size: int = Field(
        1 << 30,
        ge=1 << 20,
        description="RLIMIT_FSIZE: the largest file a command may write, bytes.",
    )
    start_timeout_s: float = Field(10.0, gt=0, description="How long a new sandbox's runner may take to answer.")
    network: str | None = Field(
        None, description="One Docker network a sandbox may join (to reach the target database); none by default."
    )


class WebhookConfig(_Section):
    """GitHub-style webhooks (push, pull_request); off unless `listen` is set."""

    listen: str | None = Field(None, description="host:port to listen on, e.g. 127.0.0.1:8766.")
    secret_env: str = Field("AGENTD_WEBHOOK_SECRET", description="Environment variable holding the HMAC secret.")
    path: str = Field("/webhook", description="URL path of the endpoint.")


class ForgeConfig(_Section):
    """Where agentd posts its one review comment per pull request; off unless `kind` is set."""

    kind: Literal["github"] | None = None
    api_url: str = "https://api.github.com"
    repository: str | None = Field(None, description="owner/name on the forge.")
    token_env: str = Field("GITHUB_TOKEN", description="Environment variable holding the API token.")


class ApiConfig(_Section):
    """The REST API, Prometheus metrics and web dashboard; off unless `listen` is set."""

    listen: str | None = Field(None, description="host:port to listen on, e.g. 127.0.0.1:8765.")
    token_env: str = Field("AGENTD_API_TOKEN", description="Environment variable holding the bearer token.")


class StoreConfig(_Section):
    """The database of record."""

    url: str | None = Field(
        None, description="sqlite:////abs/path.db or postgresql://host/db; default: agentd.db in the state directory."
    )
    url_env: str | None = Field(
        None, description="Environment variable holding the store URL (use it for a PostgreSQL DSN with a password)."
    )


class TargetDatabaseConfig(_Section):
    """The target project's PostgreSQL, for query_database."""

    dsn_env: str | None = Field(None, description="Environment variable holding the DSN.")
    statement_timeout_ms: int = Field(5000, ge=1)
    max_rows: int = Field(200, ge=1)


class PolicyConfig(_Section):
    """Which policy file governs the tools."""

    file: Path | None = Field(None, description="A policy YAML; default: the packaged policies/default.yaml.")


class TeamConfig(_Section):
    """The team and its limits."""

    max_steps_per_turn: int = Field(16, ge=1, description="Model calls one agent may make in one turn.")


Stage = Literal["critique", "optimize", "test"]
STAGES: tuple[Stage, ...] = ("critique", "optimize", "test")


class DebateConfig(_Section):
    """How the team agrees: protocol, who speaks when, how votes count."""

    protocol: Literal["auto", "vote", "debate", "negotiation"] = Field(
        "auto", description="auto: vote first, escalate to debate when the surviving patches disagree or all fail."
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


class OptimizerConfig(_Section):
    """When agentd keeps an optimization: its own interleaved before/after benchmark must show the gain."""

    min_gain: float = Field(0.05, ge=0, description="Smallest change of the median ns/op that counts (0.05 = 5%).")
    bench_count: int = Field(10, ge=2, description="Interleaved rounds of base and candidate benchmark runs.")
    alpha: float = Field(0.05, gt=0, lt=1, description="Significance level of the Mann-Whitney U test.")


class Config(_Section):
    """The whole of agentd.toml."""

    daemon: DaemonConfig = Field(default_factory=DaemonConfig)
    repository: RepositoryConfig
    models: Annotated[dict[str, ModelConfig], Field(min_length=1)]
    roles: dict[str, str | list[str]] = Field(
        default_factory=dict, description="Role -> model name, or a fallback chain of names (first preferred)."
    )
    sandbox: SandboxConfig = Field(default_factory=SandboxConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    target_database: TargetDatabaseConfig = Field(default_factory=TargetDatabaseConfig)
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
    api: ApiConfig = Field(default_factory=ApiConfig)
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

    def model_for(self, role: str) -> tuple[str, ModelConfig]:
        """The (name, config) of the model a role prefers."""
        name = self.chain_for(role)[0]
        return name, self.models[name]

    def chain_for(self, role: str) -> list[str]:
        """The model names a role uses, first preferred (a fallback chain)."""
        names = self.roles.get(role, "default")
        return [names] if isinstance(names, str) else list(names) or ["default"]

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
        if self.forge.kind:
            names.add(self.forge.token_env)
        if self.api.listen:
            names.add(self.api.token_env)
        return names


def _describe(error: Any) -> str:
    key = ".".join(str(part) for part in error["loc"]) or "(top level)"
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "missing":
        return f"{key}: missing; add it to the file"
    if error["type"] == "extra_forbidden":
        return f"{key}: unknown key (a typo?); remove it"
    value = error.get("input")
    if isinstance(value, dict):
        return f"[{key}]: {message}"
    return f"{key} = {value!r}: {message}"


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
        problems = "; ".join(_describe(e) for e in exc.errors())
        raise ConfigError(f"{source}: {problems}") from None


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
