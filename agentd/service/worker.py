"""One worker of the daemon: lease a job, run it, and record how it ended, only while it still holds the lease.

Each job gets a cancel flag of its own, so a heartbeat that finds a lease lost just after its job
ended can only cancel that job, never the next one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import structlog

from agentd.job.context import JobDeps
from agentd.job.job import Job
from agentd.job.publish import write_report
from agentd.kernel import crashpoints
from agentd.kernel.errors import AgentdError
from agentd.service.config import DaemonConfig
from agentd.service.health import Health
from agentd.store.base import Lease, Store

log = structlog.get_logger("agentd.service.worker")
MAX_BACKOFF_S = 30.0
SUPERSEDED = "superseded by a newer head before it finished"
GATES = ("docker", "disk")  # health checks that must pass before a worker claims a job


class RunnableJob(Protocol):
    """What a worker does with a leased job (agentd.job.job.Job; a benchmark's stand-in)."""

    def run(self) -> str:
        """Do the job; the task's final status."""
        ...

    def abort(self) -> None:
        """Stop now (daemon stopping)."""
        ...

    def cleanup(self) -> None:
        """Remove what the job made."""
        ...


# (deps, lease, the job's cancel flag, (when the worker asked for a job, when it had one) as wall-clock times)
JobFactory = Callable[[JobDeps, Lease, threading.Event, tuple[float, float]], RunnableJob]


@dataclass
class Running:
    """The job a worker holds: its lease, its own cancel flag, and whether the lease was lost."""

    lease: Lease
    cancel: threading.Event = field(default_factory=threading.Event)
    job: RunnableJob | None = None
    lost: bool = False


class Worker:
    """One job at a time; a daemon runs `daemon.max_concurrent_jobs` of them."""

    def __init__(
        self,
        name: str,
        owner: str,
        config: DaemonConfig,
        store: Store,
        deps: JobDeps,
        health: Health,
        stop: threading.Event,
        max_running: int | None,
        recheck: Callable[[], None] = lambda: None,
        job_factory: JobFactory = Job,
    ) -> None:
        self.name = name
        self.owner = owner
        self.config = config
        self.store = store
        self.deps = deps
        self.health = health
        self.stop = stop
        self.max_running = max_running
        self.recheck = recheck  # re-checks the engine and the disk now (after a job failed)
        self.job_factory = job_factory
        self.running: Running | None = None

    def loop(self) -> None:
        """Claim and run jobs until stopped; a failing store or job never ends the loop, it backs off."""
        failures = 0
        while not self.stop.is_set():
            try:
                worked = self.work_once()
            except Exception as exc:
                failures += 1
                delay = min(MAX_BACKOFF_S, 0.5 * 2**failures)
                self.health.failed(self.name, f"{type(exc).__name__}: {exc}")
                log.exception("worker loop failed; backing off", worker=self.name, delay_s=delay)
                self.stop.wait(delay)
                continue
            failures = 0
            self.health.ok(self.name)
            if not worked:
                self.stop.wait(self.config.poll_interval_s)

    def renew(self) -> None:
        """Renew the running job's lease (from the heartbeat); a lost lease cancels that job, and only it."""
        running = self.running
        if running is not None and not self.store.renew_lease(running.lease, self.config.lease_s):
            log.warning("lease lost; cancelling job", job=running.lease.job_id, worker=self.name)
            running.lost = True
            running.cancel.set()

    def abort(self) -> None:
        """Daemon stopping: cancel the running job and remove its containers so a running command ends."""
        running = self.running
        if running is not None:
            running.cancel.set()
            job = running.job
            if job is not None:
                threading.Thread(target=job.abort, name="abort", daemon=True).start()

    def hand_back(self) -> None:
        """A job still blocked (e.g. in a slow model call) after the grace period: clean up and requeue it."""
        running = self.running
        if running is None:
            return
        if running.job is not None:
            running.job.abort()
            running.job.cleanup()
        lease = running.lease
        task = self.store.get_task(lease.task_id)
        if task is not None and task.done:
            self.store.finish_job(lease, "done")
            return
        self.store.release_job(lease, "daemon stopped before the job could finish")
        log.info("job released", task=lease.task_id, reason="daemon stopping")

    def busy(self) -> bool:
        """Whether a job is running (the loop does not turn meanwhile, yet the worker is alive)."""
        return self.running is not None

    def work_once(self) -> bool:
        """Claim and run one job; False when the queue was empty, or the engine or the disk is not fit for one.

        While the Docker engine's or the state disk's last check failed no job is claimed, so jobs wait
        in the queue instead of spending their attempts on an engine that is away or a full disk (the
        heartbeat checks both again).
        """
        if any(self.health.failing(check) for check in GATES):
            return False
        claiming = time.time()
        lease = self.store.claim_job(self.owner, self.config.lease_s, self.max_running)
        if lease is None:
            return False
        claimed = (claiming, time.time())
        running = self.running = Running(lease)
        crashpoints.reached("claimed")
        started = time.monotonic()
        try:
            if self.stop.is_set():
                running.cancel.set()  # the stop came while claiming: the job goes back below
            running.job = self.job_factory(self.deps, lease, running.cancel, claimed)
            status = running.job.run()
            if not self.store.finish_job(lease, "done"):
                log.warning("job ended after its lease was lost", task=lease.task_id, status=status)
                return True
            log.info("job done", task=lease.task_id, status=status, seconds=round(time.monotonic() - started, 1))
        except Exception as exc:  # noqa: BLE001 - every failure is recorded: retried, superseded or dead-lettered
            self._ended_early(running, exc)
        finally:
            self.running = None
        return True

    def _ended_early(self, running: Running, exc: Exception) -> None:
        """Record a job that raised: done after all, superseded, taken over, released, or failed."""
        lease = running.lease
        task = self.store.get_task(lease.task_id)
        if task is not None and task.done:
            self.store.finish_job(lease, "done")  # finished before the stop; only the clean-up was cut short
            log.info("job done", task=lease.task_id, status=task.status, note="clean-up interrupted")
        elif self.store.cancel_requested(lease):
            if self.store.finish_job(lease, "cancelled", SUPERSEDED):
                self.store.update_task(lease.task_id, status="superseded", finished_at=time.time(), summary=SUPERSEDED)
                self._report(lease.task_id)  # its head's check on the forge ends (cancelled), not left in progress
            log.info("job superseded", task=lease.task_id)
        elif running.lost:
            log.warning("job given up: its lease ran out and another worker may hold it", task=lease.task_id)
        elif self.stop.is_set():
            self.store.release_job(lease, f"stopped while running: {exc}")
            log.info("job released", task=lease.task_id, reason="daemon stopping")
        elif isinstance(exc, AgentdError):
            self.recheck()  # an engine gone or a disk full: no job is claimed until they are fit again
            self._fail(lease, str(exc))
        else:
            log.exception("job crashed", task=lease.task_id)
            self.recheck()
            self._fail(lease, f"{type(exc).__name__}: {exc}")

    def _fail(self, lease: Lease, error: str) -> None:
        """Retry a failed job with backoff; after max_attempts it is dead-lettered with the reason."""
        message = self.deps.redactor.text(error)
        daemon = self.config
        if lease.attempts < daemon.max_attempts:
            delay = daemon.retry_backoff_s * 2 ** (lease.attempts - 1)
            self.store.retry_job(lease, message, delay)
            log.warning("job failed; will retry", task=lease.task_id, attempt=lease.attempts, in_s=delay, error=message)
            return
        if not self.store.finish_job(lease, "dead", message):
            return
        summary = f"Gave up after {lease.attempts} attempt(s): {message}"
        self.store.update_task(lease.task_id, status="failed", summary=summary, finished_at=time.time())
        log.error("job dead-lettered", task=lease.task_id, attempts=lease.attempts, error=message)
        self._report(lease.task_id)  # a failed job still leaves its report

    def _report(self, task_id: int) -> None:
        """Write the report of a task the job could not end itself, and show it on the forge; never raises."""
        try:
            write_report(self.deps, task_id)
        except Exception:
            log.exception("report failed", task=task_id)
