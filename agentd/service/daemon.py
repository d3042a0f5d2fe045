"""The daemon: workers that lease and run jobs, a heartbeat, and the companions (triggers, endpoints) it runs.

On stop, each running job is cancelled at its next step (model call or tool call), its containers
and worktrees are removed and its lease is given back, so a restart picks the job up again.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import threading
import time
import uuid
from collections.abc import Sequence
from types import FrameType
from typing import Protocol

import structlog

from agentd.job.context import JobDeps
from agentd.service import retention as housekeeping
from agentd.service.config import DaemonConfig, RetentionConfig
from agentd.service.health import Health, HealthReport
from agentd.service.sdnotify import notify, watchdog_interval_s
from agentd.service.worker import Worker
from agentd.store.base import Store

log = structlog.get_logger("agentd.service.daemon")
HEARTBEAT_S = 2.0
STOP_GRACE_S = 10.0
ENGINE_CHECK_S = 15.0
REAP_ATTEMPTS = 3
EXIT_UNHEALTHY = 3  # the exit code when the daemon gives up after being unhealthy for too long


class Companion(Protocol):
    """Something that runs beside the worker for the daemon's lifetime: a trigger, an HTTP endpoint."""

    def start(self) -> None:
        """Start serving (on threads of its own)."""
        ...

    def stop(self) -> None:
        """Stop serving; safe to call twice."""
        ...


class Daemon:
    """The worker side of agentd: `max_concurrent_jobs` workers, a heartbeat renewing their leases, a clean stop."""

    def __init__(
        self, config: DaemonConfig, store: Store, deps: JobDeps, retention: RetentionConfig | None = None
    ) -> None:
        self.config = config
        self.retention = retention or RetentionConfig()
        self.store = store
        self.deps = deps
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.stop_event = threading.Event()
        count = config.max_concurrent_jobs
        names = ["worker"] if count == 1 else [f"worker-{i}" for i in range(1, count + 1)]
        self.health = Health([*names, "store", "docker", "disk"], config.unhealthy_after_s)
        cap = config.max_concurrent_jobs_total
        self.workers = [
            Worker(name, self.owner, config, store, deps, self.health, self.stop_event, cap, self.recheck)
            for name in names
        ]
        self._threads: list[threading.Thread] = []
        self.exit_code = 0

    def health_report(self) -> HealthReport:
        """Whether the daemon can do its work, and what is wrong when it cannot (for /healthz)."""
        return self.health.report()

    def recover(self) -> None:
        """Remove what a previous run left behind: containers, worktrees, sandbox sockets, and the build caches
        older versions kept on disk (`cache/`)."""
        reaped = self._reap()
        state = self.config.state_dir
        worktrees = state / "worktrees"
        leftovers = list(worktrees.iterdir()) if worktrees.is_dir() else []
        for path in leftovers:
            self.deps.mirror.remove_worktree(path)
        stray = [path for name in ("run", "cache") if (state / name).is_dir() for path in (state / name).iterdir()]
        for path in stray:  # a crash between making a job's directory and its container (or its clean-up)
            shutil.rmtree(path, ignore_errors=True)
        if reaped or leftovers or stray:
            log.info("recovered", containers=reaped, worktrees=len(leftovers), directories=len(stray))

    def _reap(self) -> int:
        """The previous run's containers, removed; a transient engine error is retried, never fatal to the start.

        On a shared engine another program's container can vanish while the list is read.
        """
        for attempt in range(1, REAP_ATTEMPTS + 1):
            try:
                return self.deps.sandboxes.reap()
            except Exception as exc:  # noqa: BLE001 - recovery is best effort; the next start reaps again
                log.warning("reaping leftover containers failed", attempt=attempt, error=f"{type(exc).__name__}: {exc}")
                self.stop_event.wait(0.5 * attempt)
        return 0

    def request_stop(self, signum: int = signal.SIGTERM, _frame: FrameType | None = None) -> None:
        """Ask the daemon to stop: no new job, the running ones are cancelled at their next step."""
        log.info("stopping", signal=signal.Signals(signum).name)
        notify("STOPPING=1")
        self.stop_event.set()
        for worker in self.workers:
            worker.abort()

    def run(self, install_signals: bool = True, companions: Sequence[Companion] = ()) -> int:
        """Run until stopped, with its companions; returns the exit code. The caller closes the store."""
        if install_signals:
            signal.signal(signal.SIGTERM, self.request_stop)
            signal.signal(signal.SIGINT, self.request_stop)
        self.recover()
        started: list[Companion] = []
        threads: list[threading.Thread] = []
        try:
            for companion in companions:
                companion.start()
                started.append(companion)
            self.store.heartbeat(self.owner, os.getpid())
            threads = [threading.Thread(target=self._heartbeat, name="heartbeat", daemon=True)]
            threads += [threading.Thread(target=w.loop, name=w.name, daemon=True) for w in self.workers]
            self._threads = threads[1:]
            for thread in threads:
                thread.start()
            log.info("agentd running", owner=self.owner, workers=len(self.workers))
            notify("READY=1")
            while not self.stop_event.wait(0.5):
                pass
        finally:
            for companion in reversed(started):
                companion.stop()
        deadline = time.monotonic() + STOP_GRACE_S
        for thread in threads:
            thread.join(timeout=max(0.1, deadline - time.monotonic()))
        for worker in self.workers:
            worker.hand_back()
        log.info("agentd stopped", exit_code=self.exit_code)
        return self.exit_code

    def _heartbeat(self) -> None:
        """Beat every few seconds until stopped; feed the systemd watchdog only while healthy."""
        interval = min(HEARTBEAT_S, watchdog_interval_s() or HEARTBEAT_S)
        engine_every = min(ENGINE_CHECK_S, self.config.unhealthy_after_s / 2)
        last_engine_check = 0.0
        last_collection = time.monotonic()
        unhealthy_since: float | None = None
        while not self.stop_event.wait(interval):
            self.beat()
            self._check_disk()
            if time.monotonic() - last_collection >= self.retention.every_s:
                last_collection = time.monotonic()
                threading.Thread(target=self.collect_garbage, name="retention", daemon=True).start()
            if time.monotonic() - last_engine_check >= engine_every:
                last_engine_check = time.monotonic()
                self._check_engine()
            report = self.health.report()
            if report.healthy:
                unhealthy_since = None
                notify("WATCHDOG=1")
                continue
            log.error("unhealthy; not feeding the watchdog", problems=report.problems)
            unhealthy_since = unhealthy_since or time.monotonic()
            limit = self.config.exit_after_unhealthy_s
            if limit is not None and time.monotonic() - unhealthy_since >= limit:
                log.error("unhealthy for too long; exiting so the supervisor restarts agentd", problems=report.problems)
                self.exit_code = EXIT_UNHEALTHY
                self.request_stop()

    def beat(self) -> None:
        """Say the daemon is alive and renew the running jobs' leases; a store failure is a health fact."""
        try:
            self.store.heartbeat(self.owner, os.getpid())
            for worker in self.workers:
                worker.renew()
            self.health.ok("store")
        except Exception as exc:  # noqa: BLE001 - no store failure may end the heartbeat
            self.health.failed("store", f"{type(exc).__name__}: {exc}")
            log.warning("store unreachable from the heartbeat", error=f"{type(exc).__name__}: {exc}")
        for worker, thread in zip(self.workers, self._threads, strict=False):
            if worker.busy() and thread.is_alive():
                self.health.ok(worker.name)  # busy in a job: alive, though its loop does not turn

    def collect_garbage(self) -> None:
        """Prune old audit rows, delivery ids, reports and crashed jobs' leftovers; a failure is only logged."""
        try:
            housekeeping.collect(self.store, self.config.state_dir, self.retention, self.deps.mirror.remove_worktree)
        except Exception:
            log.exception("pruning failed")

    def recheck(self) -> None:
        """Check the Docker engine and the state disk now (a job just failed; maybe because of either)."""
        self._check_disk()
        self._check_engine()

    def _check_disk(self) -> None:
        state = self.config.state_dir
        try:
            stats = os.statvfs(state)
        except OSError as exc:
            self.health.failed("disk", f"cannot read the state directory's disk ({state}): {exc}")
            return
        free_mb = stats.f_bavail * stats.f_frsize / 2**20
        if free_mb < self.config.min_free_mb:
            self.health.failed(
                "disk",
                f"the state directory's disk is full: {free_mb:.0f} MB free on {state}, "
                f"below daemon.min_free_mb = {self.config.min_free_mb:.0f}",
            )
            log.warning("state disk nearly full", free_mb=round(free_mb), min_free_mb=self.config.min_free_mb)
        else:
            self.health.ok("disk")

    def _check_engine(self) -> None:
        try:
            self.deps.sandboxes.check_image()
            self.health.ok("docker")
        except Exception as exc:  # noqa: BLE001 - any engine failure is a health fact, not a crash
            self.health.failed("docker", f"{type(exc).__name__}: {exc}")
            log.warning("Docker engine check failed", error=f"{type(exc).__name__}: {exc}")

    def work_once(self) -> bool:
        """Claim and run one job on the first worker; False when the queue was empty."""
        return self.workers[0].work_once()
