"""The daemon: a trigger thread, a worker loop and a heartbeat, stopped cleanly by SIGTERM/SIGINT.

On stop, the running job is cancelled at its next step (model call or tool call), its container
and worktree are removed and its lease is given back, so a restart picks the job up again.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable
from types import FrameType

import structlog

from agentd.config import Config
from agentd.intake.api import ApiServer
from agentd.intake.triggers import RefWatcher
from agentd.intake.webhook import WebhookServer
from agentd.job.job import Job, JobDeps, write_report
from agentd.kernel.errors import AgentdError, ConfigError
from agentd.kernel.policy import Policy, load_policy
from agentd.kernel.redact import Redactor
from agentd.kernel.seams import Forge
from agentd.models.pool import ModelPool
from agentd.repo.mirror import Mirror
from agentd.service.sdnotify import notify, watchdog_interval_s
from agentd.store.base import Lease, Store, open_store
from sandbox.config import SandboxConfig
from sandbox.docker import DockerSandboxFactory

log = structlog.get_logger("agentd.service.daemon")
HEARTBEAT_S = 2.0
STOP_GRACE_S = 10.0


def sandbox_config(config: Config, policy: Policy) -> SandboxConfig:
    """The sandbox settings with the policy's additions: variables it lets in, the network it names."""
    allow = sorted({*config.sandbox.env_allowlist, *policy.sandbox_env})
    network = config.sandbox.network or policy.sandbox_network
    return config.sandbox.model_copy(update={"env_allowlist": allow, "network": network})


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
    query = None
    if config.target_database.dsn_env:
        from tools.query import QueryDatabaseTool  # noqa: PLC0415 - psycopg loads only when a database is set

        dsn = os.environ.get(config.target_database.dsn_env)
        query = QueryDatabaseTool(dsn, config.target_database, policy.sql)
    return JobDeps(
        config, store, mirror, sandboxes, ModelPool(config, store), policy, redactor, query, build_forge(config)
    )


def _secret(name: str, what: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise ConfigError(f"{what}: environment variable {name} is not set; export it or remove the section")
    return value


def build_forge(config: Config) -> Forge | None:
    """The forge agentd posts its review comments to, when [forge] names one."""
    if config.forge.kind != "github":
        return None
    if not config.forge.repository:
        raise ConfigError("forge.repository: set it to the owner/name of the repository on GitHub")
    from agentd.forge.github import GitHubForge  # noqa: PLC0415 - only with a forge configured

    return GitHubForge(config.forge.api_url, config.forge.repository, _secret(config.forge.token_env, "[forge]"))


def build_webhook(config: Config, store: Store, wake: Callable[[int], None]) -> WebhookServer | None:
    """The webhook endpoint, when [webhook] listen is set."""
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
        on_enqueued=wake,
    )


class Daemon:
    """agentd in the foreground: watch, work, stop cleanly."""

    def __init__(self, config: Config, store: Store | None = None) -> None:
        self.config = config
        self.store = store or open_store(config.store_url)
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.stop_event = threading.Event()
        self.cancel = threading.Event()
        self.deps = build_deps(config, self.store)
        self.watcher = RefWatcher(config, self.store, self.deps.mirror)
        self.webhook = build_webhook(config, self.store, lambda _task: None)
        self._lease: Lease | None = None
        self.api: ApiServer | None = None
        self._job: Job | None = None

    def recover(self) -> None:
        """Remove what a previous run left behind: containers, worktrees."""
        assert isinstance(self.deps.sandboxes, DockerSandboxFactory)
        reaped = self.deps.sandboxes.reap()
        worktrees = self.config.daemon.state_dir / "worktrees"
        leftovers = list(worktrees.iterdir()) if worktrees.is_dir() else []
        for path in leftovers:
            self.deps.mirror.remove_worktree(path)
        if reaped or leftovers:
            log.info("recovered", containers=reaped, worktrees=len(leftovers))

    def request_stop(self, signum: int = signal.SIGTERM, _frame: FrameType | None = None) -> None:
        """Ask the daemon to stop: no new job, the running one is cancelled at its next step."""
        log.info("stopping", signal=signal.Signals(signum).name)
        notify("STOPPING=1")
        self.stop_event.set()
        self.cancel.set()
        self.watcher.stop()
        job = self._job
        if job is not None:
            threading.Thread(target=job.abort, name="abort", daemon=True).start()

    def run(self, install_signals: bool = True) -> int:
        """Run until stopped; returns the exit code."""
        if install_signals:
            signal.signal(signal.SIGTERM, self.request_stop)
            signal.signal(signal.SIGINT, self.request_stop)
        # Built before anything is touched: it refuses to start when its token variable is empty.
        self.api = api = ApiServer(self.config, self.store, self.deps.redactor) if self.config.api.listen else None
        self.recover()
        if api is not None:
            api.start()
        if self.webhook is not None:
            self.webhook.start()
        self.store.heartbeat(self.owner, os.getpid())
        threads = [
            threading.Thread(target=self.watcher.run, args=(self.stop_event,), name="trigger", daemon=True),
            threading.Thread(target=self._heartbeat, name="heartbeat", daemon=True),
            threading.Thread(target=self._work, name="worker", daemon=True),
        ]
        for thread in threads:
            thread.start()
        log.info("agentd running", repository=self.config.repository.source, owner=self.owner)
        notify("READY=1")
        while not self.stop_event.wait(0.5):
            pass
        if api is not None:
            api.stop()
        if self.webhook is not None:
            self.webhook.stop()
        deadline = time.monotonic() + STOP_GRACE_S
        for thread in threads:
            thread.join(timeout=max(0.1, deadline - time.monotonic()))
        self._hand_back_unfinished()
        self.store.close()
        log.info("agentd stopped")
        return 0

    def _hand_back_unfinished(self) -> None:
        """A job still blocked (e.g. in a slow model call) after the grace period: clean up and requeue it."""
        job, lease = self._job, self._lease
        if job is None or lease is None:
            return
        job.abort()
        job.cleanup()
        task = self.store.get_task(lease.task_id)
        if task is not None and task.done:
            self.store.finish_job(lease, "done")
            return
        self.store.release_job(lease, "daemon stopped before the job could finish")
        log.info("job released", task=lease.task_id, reason="daemon stopping")

    def _work(self) -> None:
        while not self.stop_event.is_set():
            if not self.work_once():
                self.stop_event.wait(self.config.daemon.poll_interval_s)

    def _heartbeat(self) -> None:
        interval = min(HEARTBEAT_S, watchdog_interval_s() or HEARTBEAT_S)
        while not self.stop_event.wait(interval):
            self.store.heartbeat(self.owner, os.getpid())
            notify("WATCHDOG=1")
            lease = self._lease
            if lease is not None and not self.store.renew_lease(lease, self.config.daemon.lease_s):
                log.warning("lease lost; cancelling job", job=lease.job_id)
                self.cancel.set()

    def work_once(self) -> bool:
        """Claim and run one job; False when the queue was empty."""
        lease = self.store.claim_job(self.owner, self.config.daemon.lease_s, self.config.repository.max_concurrent_jobs)
        if lease is None:
            return False
        self._lease = lease
        started = time.monotonic()
        try:
            self._job = Job(self.deps, lease, self.cancel)
            status = self._job.run()
            self.store.finish_job(lease, "done")
            log.info("job done", task=lease.task_id, status=status, seconds=round(time.monotonic() - started, 1))
        except Exception as exc:
            task = self.store.get_task(lease.task_id)
            if task is not None and task.done:
                self.store.finish_job(lease, "done")  # finished before the stop; only the clean-up was cut short
                log.info("job done", task=lease.task_id, status=task.status, note="clean-up interrupted")
            elif self.store.cancel_requested(lease):
                self.store.finish_job(lease, "cancelled", "superseded by a newer head")
                self.store.update_task(
                    lease.task_id,
                    status="superseded",
                    finished_at=time.time(),
                    summary="superseded by a newer head before it finished",
                )
                log.info("job superseded", task=lease.task_id)
            elif self.cancel.is_set():
                self.store.release_job(lease, f"stopped while running: {exc}")
                log.info("job released", task=lease.task_id, reason="daemon stopping")
            elif isinstance(exc, AgentdError):
                self._fail(lease, str(exc))
            else:
                log.exception("job crashed", task=lease.task_id)
                self._fail(lease, f"{type(exc).__name__}: {exc}")
        finally:
            self._lease = None
            self._job = None
            if not self.stop_event.is_set():
                self.cancel.clear()
        return True

    def _fail(self, lease: Lease, error: str) -> None:
        """Retry a failed job with backoff; after max_attempts it is dead-lettered with the reason."""
        message = self.deps.redactor.text(error)
        daemon = self.config.daemon
        if lease.attempts < daemon.max_attempts:
            delay = daemon.retry_backoff_s * 2 ** (lease.attempts - 1)
            self.store.retry_job(lease, message, delay)
            log.warning("job failed; will retry", task=lease.task_id, attempt=lease.attempts, in_s=delay, error=message)
            return
        self.store.finish_job(lease, "dead", message)
        summary = f"Gave up after {lease.attempts} attempt(s): {message}"
        self.store.update_task(lease.task_id, status="failed", summary=summary, finished_at=time.time())
        log.error("job dead-lettered", task=lease.task_id, attempts=lease.attempts, error=message)
        try:
            write_report(self.deps, lease.task_id)  # a failed job still leaves its report
        except Exception:
            log.exception("report failed", task=lease.task_id)
