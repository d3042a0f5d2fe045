"""Does a second agentd process double the queue's throughput? Claim+finish over PostgreSQL, 1 vs 2 workers.

Usage (from the repository root): .venv/bin/python -m bench.queue_postgres [-n 500] [--repeats 3]
Each job stands in for sandbox-bound work: time.sleep(0.02) between claim_job and finish_job.
Uses $AGENTD_BENCH_DSN when set (a fresh schema is made in it and dropped), else a throwaway
cluster from tests/support (needs the PostgreSQL server binaries). Prints medians, throughput,
the per-job store overhead and the 2-vs-1 speed-up.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from multiprocessing.synchronize import Barrier

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from agentd.kernel.events import CommitPushed
from agentd.store.postgres import PostgresStore

JOB_S = 0.02
LEASE_S = 60.0


def worker(dsn: str, start: Barrier, results: mp.Queue[tuple[int, list[float]]]) -> None:
    """One agentd process in miniature: claim, 'run' the job, finish, until the queue is empty."""
    store = PostgresStore(dsn)
    owner = f"bench-{os.getpid()}"
    overheads: list[float] = []
    start.wait(timeout=120)
    while True:
        began = time.perf_counter()
        lease = store.claim_job(owner, LEASE_S)
        claimed = time.perf_counter()
        if lease is None:
            break
        time.sleep(JOB_S)
        finishing = time.perf_counter()
        store.finish_job(lease, "done")
        overheads.append((claimed - began) + (time.perf_counter() - finishing))
    store.close()
    results.put((len(overheads), overheads))


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
                f"store overhead per job median {statistics.median(overhead_ms):.2f} ms, "
                f"p95 {overhead_ms[int(len(overhead_ms) * 0.95)]:.2f} ms"
            )
    ideal = args.jobs * JOB_S
    print(f"floor for 1 worker (sleep only): {ideal:.2f}s; speed-up 2 vs 1 workers: {medians[1] / medians[2]:.2f}x")


if __name__ == "__main__":
    main()
