"""Does a second agentd process double the queue's throughput? The daemon's own worker over PostgreSQL, 1 vs 2.

Usage (from the repository root): .venv/bin/python -m bench.queue_postgres [-n 500] [--repeats 3]
Each process runs agentd's `Worker` (agentd.service.worker) at the default settings: its claim
(with the daemon's cap and health gate), its fenced task end and job end. Only the job itself is a
stand-in: it sleeps JOB_S, as a sandbox-bound step would, and ends its task as a real job does.
Uses $AGENTD_BENCH_DSN when set (a fresh schema is made in it and dropped), else a throwaway
cluster from tests/support (needs the PostgreSQL server binaries). Prints medians, throughput,
the per-job queue overhead (claim, task end and job end) and the 2-vs-1 speed-up.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import cast

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from agentd.job.context import JobDeps
from agentd.kernel.events import CommitPushed
from agentd.service.config import DaemonConfig
from agentd.service.health import Health
from agentd.service.worker import Worker
from agentd.store.base import Lease, Store
from agentd.store.postgres import PostgresStore

JOB_S = 0.02


class SleepingJob:
    """A job that waits JOB_S, then ends its task through the store's fenced end, as a real job does."""

    def __init__(self, store: Store, lease: Lease, overheads: list[float]) -> None:
        self.store, self.lease, self.overheads = store, lease, overheads

    def run(self) -> str:
        """Sleep, then record the task's end (timed: part of the queue's overhead)."""
        time.sleep(JOB_S)
        started = time.perf_counter()
        self.store.end_task(self.lease, status="reviewed", summary="bench", finished_at=time.time())
        self.overheads.append(time.perf_counter() - started)
        return "reviewed"

    def abort(self) -> None:
        """Nothing to stop."""

    def cleanup(self) -> None:
        """Nothing to remove."""


class TimedStore(PostgresStore):
    """The PostgreSQL store, timing the queue calls a worker makes around a job (claim, job end)."""

    overheads: list[float]

    def claim_job(self, owner: str, lease_s: float, max_running: int | None = None) -> Lease | None:
        """Claim, timed."""
        started = time.perf_counter()
        lease = super().claim_job(owner, lease_s, max_running)
        if lease is not None:
            self.overheads.append(time.perf_counter() - started)
        return lease

    def finish_job(self, lease: Lease, status: str, error: str | None = None) -> bool:
        """End the job, timed."""
        started = time.perf_counter()
        ended = super().finish_job(lease, status, error)
        self.overheads.append(time.perf_counter() - started)
        return ended


def worker(dsn: str, start: Barrier, results: mp.Queue[tuple[int, list[float]]]) -> None:
    """One agentd process in miniature: the daemon's worker, until the queue is empty."""
    store = TimedStore(dsn)
    store.overheads = []
    config = DaemonConfig(state_dir=Path("/nonexistent"))
    stop = threading.Event()
    done: list[float] = []
    agent = Worker(
        "worker",
        f"bench:{os.getpid()}",
        config,
        store,
        cast(JobDeps, None),  # the stand-in job needs none of a real job's parts
        Health(["worker", "store", "docker", "disk"], config.unhealthy_after_s),
        stop,
        config.max_concurrent_jobs_total,
        job_factory=lambda _deps, lease, _cancel, _claimed: SleepingJob(store, lease, done),
    )
    start.wait(timeout=120)
    jobs = 0
    while agent.work_once():
        jobs += 1
    store.close()
    # claim + job end per job (from the store), plus the fenced task end (from the job)
    per_job = [a + b + c for a, b, c in zip(store.overheads[0::2], store.overheads[1::2], done, strict=False)]
    results.put((jobs, per_job))


@contextmanager
def fresh_schema(dsn: str) -> Iterator[str]:
    """A DSN whose search_path is a new, empty schema; the schema is dropped afterwards."""
    schema = f"bench_queue_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        yield make_conninfo(dsn, options=f"-c search_path={schema}")
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def run_once(dsn: str, jobs: int, processes: int) -> tuple[float, list[float]]:
    """Seconds for `processes` workers to drain `jobs` jobs, and every job's claim+finish overhead."""
    with fresh_schema(dsn) as schema_dsn:
        store = PostgresStore(schema_dsn)
        for i in range(jobs):
            store.enqueue(CommitPushed(repo="/bench", branch="main", sha=f"{i:040x}"), "bench", None)
        ctx = mp.get_context("spawn")
        start = ctx.Barrier(processes + 1)
        results: mp.Queue[tuple[int, list[float]]] = ctx.Queue()
        procs = [ctx.Process(target=worker, args=(schema_dsn, start, results)) for _ in range(processes)]
        for proc in procs:
            proc.start()
        start.wait(timeout=120)  # every worker is connected: the clock starts now
        began = time.perf_counter()
        done = [results.get(timeout=600) for _ in procs]
        elapsed = time.perf_counter() - began
        for proc in procs:
            proc.join()
        counts = store.counts()
        store.close()
    if sum(n for n, _ in done) != jobs or counts != {"done": jobs}:
        raise SystemExit(f"lost or doubled jobs: workers report {[n for n, _ in done]}, store {counts}")
    return elapsed, [o for _, overheads in done for o in overheads]


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--jobs", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    env_dsn = os.environ.get("AGENTD_BENCH_DSN")
    cluster: AbstractContextManager[str]
    if env_dsn:
        cluster = nullcontext(env_dsn)
    else:
        from tests.support.postgres import throwaway_cluster  # noqa: PLC0415 - only without a DSN

        cluster = throwaway_cluster()
    medians: dict[int, float] = {}
    with cluster as dsn:
        for processes in (1, 2):
            runs = [run_once(dsn, args.jobs, processes) for _ in range(args.repeats)]
            seconds = [elapsed for elapsed, _ in runs]
            overhead_ms = sorted(o * 1000 for _, overheads in runs for o in overheads)
            medians[processes] = statistics.median(seconds)
            print(
                f"{processes} worker process(es): {args.jobs} jobs, median {medians[processes]:.2f}s "
                f"(runs {', '.join(f'{s:.2f}' for s in seconds)}), {args.jobs / medians[processes]:.1f} jobs/s; "
                f"queue overhead per job (claim, task end, job end) median {statistics.median(overhead_ms):.2f} ms, "
                f"p95 {overhead_ms[int(len(overhead_ms) * 0.95)]:.2f} ms"
            )
    ideal = args.jobs * JOB_S
    print(f"floor for 1 worker (sleep only): {ideal:.2f}s; speed-up 2 vs 1 workers: {medians[1] / medians[2]:.2f}x")


if __name__ == "__main__":
    main()
