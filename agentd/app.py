"""agentd assembled from its configuration: the parts a job needs, the daemon, its triggers and endpoints."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Mapping
from types import FrameType

from agentd.config import Config
from agentd.forge.base import Forge
from agentd.intake.api import ApiServer
from agentd.intake.triggers import RefWatcher
from agentd.intake.webhook import WebhookServer
from agentd.job.context import JobDeps, JobSettings
from agentd.kernel import trace
from agentd.kernel.errors import ConfigError
from agentd.kernel.policy import Policy, load_policy
from agentd.kernel.redact import Redactor
from agentd.models.pool import ModelPool
from agentd.repo.mirror import Mirror
from agentd.service.daemon import Companion, Daemon
from agentd.service.health import HealthReport
from agentd.store import open_store
from agentd.store.base import Store
from sandbox.config import SandboxConfig
from sandbox.docker import DockerSandboxFactory


def sandbox_config(config: Config, policy: Policy) -> SandboxConfig:
    """The sandbox settings with the policy's additions: variables it lets in, the network it names."""
    allow = sorted({*config.sandbox.env_allowlist, *policy.sandbox_env})
    network = config.sandbox.network or policy.sandbox_network
    return config.sandbox.model_copy(update={"env_allowlist": allow, "network": network})


def job_settings(config: Config) -> JobSettings:
    """The sections of the config a job reads."""
    return JobSettings(
        config.daemon.state_dir,
        config.repository,
        config.sandbox,
        config.debate,
        config.team,
        config.budget,
        config.prices,
        config.optimizer,
        config.review,
        config.forge,
    )


def build_deps(config: Config, store: Store) -> JobDeps:
    """Wire the parts a job needs from the config; fails fast with a clear error."""
    policy = load_policy(config.policy.file)
    redactor = Redactor.from_environment(config.secret_env_names())
    repository = config.repository
    mirror = Mirror(
        repository.source,
        config.daemon.state_dir / "repo.git",
        push=repository.path is not None or repository.push,
        pull_requests=repository.pull_requests,
    )
    mirror.ensure()
    sandboxes = DockerSandboxFactory(sandbox_config(config, policy), config.daemon.state_dir / "run")
    sandboxes.check_image()  # fail at start, with the fix, not in the first job
    sandboxes.check_network()
    query = None
    if config.target_database.dsn_env:
        from tools.query import QueryDatabaseTool  # noqa: PLC0415 - psycopg loads only when a database is set

        dsn = os.environ.get(config.target_database.dsn_env)
        query = QueryDatabaseTool(dsn, config.target_database, policy.sql)
    models = ModelPool(config.models, config.roles)
    return JobDeps(job_settings(config), store, mirror, sandboxes, models, policy, redactor, query, build_forge(config))


def _secret(name: str, what: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise ConfigError(f"{what}: environment variable {name} is not set; export it or remove the section")
    return value


def build_forge(config: Config) -> Forge | None:
    """The forge agentd posts its reviews to, when [forge] names one."""
    from agentd.forge.connect import open_forge  # noqa: PLC0415 - the forge clients load only when configured

    return open_forge(config.forge, os.environ)


def build_webhook(config: Config, store: Store, mirror: Mirror | None = None) -> WebhookServer | None:
    """The webhook endpoint, when [webhook] listen is set; `mirror` orders pull-request heads by their commits."""
    if not config.webhook.listen:
        return None
    secret = _secret(config.webhook.secret_env, "[webhook]").encode()
    repo = config.repository
    return WebhookServer(
        config.webhook.listen,
        config.webhook.path,
        secret,
        store,
        repo.source,
        repo.watch_branches,
        repo.pull_requests,
        mirror,
        commands=config.forge.kind is not None,
    )


def api_server(
    config: Config,
    store: Store,
    redactor: Redactor,
    env: Mapping[str, str] | None = None,
    health: Callable[[], HealthReport] | None = None,
) -> ApiServer:
    """The REST API and dashboard for a config (`health`: the daemon's, for /healthz); needs its bearer token."""
    repository = config.repository
    return ApiServer(
        config.api,
        store,
        redactor,
        repo=repository.source,
        default_base=repository.watch_branches[0],
        env=env,
        health=health,
    )


class App:
    """agentd in the foreground: the daemon with its watcher, webhook and API; stopped by SIGTERM/SIGINT."""

    def __init__(self, config: Config, store: Store | None = None) -> None:
        self.config = config
        self.store = store or open_store(config.store_url)
        self.deps = build_deps(config, self.store)
        self.watcher = RefWatcher(config.repository, config.daemon, self.store, self.deps.mirror)
        self.webhook = build_webhook(config, self.store, self.deps.mirror)
        self.daemon = Daemon(config.daemon, self.store, self.deps, config.retention)
        self.api: ApiServer | None = None

    @property
    def owner(self) -> str:
        """The daemon's lease owner name."""
        return self.daemon.owner

    def run(self, install_signals: bool = True) -> int:
        """Run until stopped; returns the exit code."""
        trace.export_otlp(self.config.tracing, os.environ)
        # Built before anything is touched: it refuses to start when its token variable is empty.
        if self.config.api.listen:
            self.api = api_server(self.config, self.store, self.deps.redactor, health=self.daemon.health_report)
        companions: list[Companion] = [c for c in (self.api, self.webhook) if c is not None]
        companions.append(self.watcher)
        try:
            return self.daemon.run(install_signals, companions)
        finally:
            trace.flush()
            self.store.close()

    def request_stop(self, signum: int = signal.SIGTERM, frame: FrameType | None = None) -> None:
        """Ask agentd to stop: no new job, the running one is cancelled at its next step."""
        self.daemon.request_stop(signum, frame)

    def recover(self) -> None:
        """Remove what a previous run left behind: containers, worktrees."""
        self.daemon.recover()

    def work_once(self) -> bool:
        """Claim and run one job; False when the queue was empty."""
        return self.daemon.work_once()
