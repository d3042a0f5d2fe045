"""The daemon: a worker loop that leases jobs, a heartbeat, and the companions (triggers, endpoints) it runs.

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
from collections.abc import Sequence
from types import FrameType
from typing import Protocol

import structlog

from agentd.job.context import JobDeps
from agentd.job.job import Job
from agentd.job.publish import write_report
from agentd.kernel.errors import AgentdError
from agentd.service.config import DaemonConfig
from agentd.service.health import Health
from agentd.service.sdnotify import notify, watchdog_interval_s
from agentd.store.base import Lease, Store

log = structlog.get_logger("agentd.service.daemon")
HEARTBEAT_S = 2.0
STOP_GRACE_S = 10.0
MAX_BACKOFF_S = 30.0
ENGINE_CHECK_S = 15.0
CHECKS = ("worker", "store", "docker")


class Companion(Protocol):
    """Something that runs beside the worker for the daemon's lifetime: a trigger, an HTTP endpoint."""

    def start(self) -> None:
        """Start serving (on threads of its own)."""
        ...

    def stop(self) -> None:
        """Stop serving; safe to call twice."""
        ...


class Daemon:
    """The worker side of agentd: lease a job, run it, renew the lease, stop cleanly."""

    def __init__(self, config: DaemonConfig, store: Store, deps: JobDeps, *, max_running: int) -> None:
        self.config = config
        self.store = store
        self.deps = deps
        self.max_running = max_running
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.stop_event = threading.Event()
        self.cancel = threading.Event()
        self._lease: Lease | None = None
        self._job: Job | None = None
        self.health = Health(CHECKS, config.unhealthy_after_s)
        self._worker: threading.Thread | None = None

    def recover(self) -> None:
        """Remove what a previous run left behind: containers, worktrees."""
        reaped = self.deps.sandboxes.reap()
        worktrees = self.config.state_dir / "worktrees"
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
        job = self._job
        if job is not None:
            threading.Thread(target=job.abort, name="abort", daemon=True).start()

    def run(self, install_signals: bool = True, companions: Sequence[Companion] = ()) -> int:
        """Run until stopped, with its companions; returns the exit code. The caller closes the store."""
        if install_signals:
            signal.signal(signal.SIGTERM, self.request_stop)
            signal.signal(signal.SIGINT, self.request_stop)
        self.recover()
        started: list[Companion] = []
        try:
            for companion in companions:
                companion.start()
                started.append(companion)
            self.store.heartbeat(self.owner, os.getpid())
            self._worker = threading.Thread(target=self._work, name="worker", daemon=True)
            threads = [threading.Thread(target=self._heartbeat, name="heartbeat", daemon=True), self._worker]
            for thread in threads:
                thread.start()
            log.info("agentd running", owner=self.owner)
            notify("READY=1")
            while not self.stop_event.wait(0.5):
                pass
        finally:
            for companion in reversed(started):
                companion.stop()
        deadline = time.monotonic() + STOP_GRACE_S
        for thread in threads:
            thread.join(timeout=max(0.1, deadline - time.monotonic()))
        self._hand_back_unfinished()
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
        """Claim and run jobs until stopped; a failing store or job never ends the loop, it backs off."""
        failures = 0
        while not self.stop_event.is_set():
            try:
                worked = self.work_once()
            except Exception as exc:
                failures += 1
                delay = min(MAX_BACKOFF_S, 0.5 * 2**failures)
                self.health.failed("worker", f"{type(exc).__name__}: {exc}")
                log.exception("worker loop failed; backing off", delay_s=delay)
                self.stop_event.wait(delay)
                continue
            failures = 0
            self.health.ok("worker")
            if not worked:
                self.stop_event.wait(self.config.poll_interval_s)

    def _heartbeat(self) -> None:
        """Say the daemon is alive, renew the running job's lease, check the engine; feed the watchdog while healthy."""
        interval = min(HEARTBEAT_S, watchdog_interval_s() or HEARTBEAT_S)
        last_engine_check = 0.0
        while not self.stop_event.wait(interval):
            try:
                self.store.heartbeat(self.owner, os.getpid())
                lease = self._lease
                if lease is not None and not self.store.renew_lease(lease, self.config.lease_s):
                    log.warning("lease lost; cancelling job", job=lease.job_id)
                    self.cancel.set()
                self.health.ok("store")
            except Exception as exc:  # noqa: BLE001 - no store failure may end the heartbeat
                self.health.failed("store", f"{type(exc).__name__}: {exc}")
                log.warning("store unreachable from the heartbeat", error=f"{type(exc).__name__}: {exc}")
            if time.monotonic() - last_engine_check >= ENGINE_CHECK_S:
                last_engine_check = time.monotonic()
                self._check_engine()
            if self._job is not None and self._worker is not None and self._worker.is_alive():
                self.health.ok("worker")  # busy in a job: alive, though its loop does not turn
            report = self.health.report()
            if report.healthy:
                notify("WATCHDOG=1")
            else:
                log.error("unhealthy; not feeding the watchdog", problems=report.problems)

    def _check_engine(self) -> None:
        try:
            self.deps.sandboxes.check_image()
            self.health.ok("docker")
        except Exception as exc:  # noqa: BLE001 - any engine failure is a health fact, not a crash
            self.health.failed("docker", f"{type(exc).__name__}: {exc}")
            log.warning("Docker engine check failed", error=f"{type(exc).__name__}: {exc}")

    def work_once(self) -> bool:
        """Claim and run one job; False when the queue was empty."""
        claiming = time.time()
        lease = self.store.claim_job(self.owner, self.config.lease_s, self.max_running)
        if lease is None:
            return False
        self._lease = lease
        started = time.monotonic()
        try:
            self._job = Job(self.deps, lease, self.cancel, claimed=(claiming, time.time()))
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
        daemon = self.config
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
