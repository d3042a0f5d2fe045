"""GET /api/v1/tasks over real HTTP with 1,000 tasks in SQLite: p50 and p95 (target p50 <= 10 ms).

Usage: .venv/bin/python bench/api_tasks.py [-n 500] [--tasks 1000]
Each request is a fresh urllib connection with the bearer token, as a script or the dashboard makes it.
Also prints the same route through `Api.handle` alone (no sockets) and with limit=1000, for scale.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import structlog

from agentd.app import api_server
from agentd.config import parse_config
from agentd.kernel.events import TaskRequested
from agentd.kernel.redact import Redactor
from agentd.store.sqlite import SQLiteStore

TOKEN = "bench-token-0123456789"  # noqa: S105 - a throwaway token for a local server
CONFIG = """
[repository]
path = "/srv/repos/shop"
[models.default]
provider = "scripted"
model = "scripted-1"
[api]
listen = "127.0.0.1:0"
"""


def percentiles(action: Callable[[], object], n: int) -> tuple[float, float]:
    """(p50, p95) of `action` in milliseconds over n runs after 30 warm-up runs."""
    for _ in range(30):
        action()
    times = []
    for _ in range(n):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[int(n * 0.95)]


def fill(store: SQLiteStore, count: int) -> None:
    """`count` task requests, a tenth of them finished with a branch and a test result."""
    for n in range(count):
        event = TaskRequested(
            repo="/srv/repos/shop", description=f"task {n}: fix it", base_ref="main", request_id=str(n)
        )
        task_id, _ = store.enqueue(event, event.description, None)
        if n % 10 == 0:
            store.update_task(
                task_id, status="fixed", branch=f"agentd/task-{task_id}", tests_passed=True, finished_at=time.time()
            )


def main() -> None:
    """Fill a store, serve it, and time the task list."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=500)
    parser.add_argument("--tasks", type=int, default=1000)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    with tempfile.TemporaryDirectory(prefix="agentd-bench-") as scratch:
        store = SQLiteStore(str(Path(scratch) / "agentd.db"))
        fill(store, args.tasks)
        config = parse_config(CONFIG, env={})
        with api_server(config, store, Redactor([TOKEN]), env={"AGENTD_API_TOKEN": TOKEN}) as server:

            def fetch(path: str) -> Callable[[], object]:
                request = urllib.request.Request(server.url + path, headers={"Authorization": f"Bearer {TOKEN}"})

                def run() -> object:
                    with urllib.request.urlopen(request, timeout=10) as response:
                        assert response.status == 200
                        return response.read()

                return run

            def in_process() -> object:
                response = server.api.handle("GET", "/api/v1/tasks", {"Authorization": f"Bearer {TOKEN}"})
                assert response.status == 200
                return response

            print(f"{args.tasks} tasks in SQLite, N={args.n}:")
            for label, action in (
                ("GET /api/v1/tasks (limit 50), HTTP", fetch("/api/v1/tasks")),
                ("GET /api/v1/tasks, Api.handle only", in_process),
                ("GET /api/v1/tasks?limit=1000, HTTP", fetch("/api/v1/tasks?limit=1000")),
            ):
                p50, p95 = percentiles(action, args.n)
                print(f"  {label:38} p50 {p50:7.3f} ms   p95 {p95:7.3f} ms")
        store.close()


if __name__ == "__main__":
    main()
