"""Scale on one machine: N pull requests pushed at once (each breaks a test), `max_concurrent_jobs` jobs at a time.

A bare repository stands in for the forge (PR heads at refs/pull/N/head, one `git push` for all);
the daemon polls it, runs every PR's job with the scripted (instant) model and pushes agentd/pr-N.
Prints the throughput, the time from the push to each published branch (p50/p95), and the memory
a running job costs: the daemon's RSS above its idle RSS plus its sandboxes' memory (cgroup v1,
usage minus inactive page cache, as `docker stats` counts it), per job running at that moment.

Usage: .venv/bin/python -m bench.scale [--prs 20] [--jobs 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

import docker

from agentd.app import App
from agentd.config import load_config
from agentd.demo import BROKEN_CART_GO, _git, make_sample_repo
from agentd.service.config import DaemonConfig
from agentd.store import open_store
from agentd.store.base import Store, Task
from bench.job_latency import percentile, wait_for

CGROUP = Path("/sys/fs/cgroup/memory/docker")


def write_config(
    root: Path, remote: Path, jobs: int, *, poll_s: float = 0.2, webhook: str | None = None, name: str = "state"
) -> Path:
    """Remote mode with PRs, trusted, the scripted demo model, the store in `root`/agentd.db (shared by the daemons
    of one run), state in `root`/`name`; `jobs` at once wherever this agentd reads the setting; the remote polled
    every `poll_s`, and a webhook endpoint when `webhook` names host:port."""
    where = "daemon" if "max_concurrent_jobs" in DaemonConfig.model_fields else "repository"
    sections = {
        "daemon": [f'state_dir = "{root / name}"'],
        "store": [f'url = "sqlite:///{root / "agentd.db"}"'],
        "repository": [
            f'url = "{remote}"',
            'default_branch = "main"',
            'watch_branches = ["main"]',
            "pull_requests = true",
            f"poll_interval_s = {poll_s}",
            "push = true",
            "trust_pull_requests = true",
            'test_command = ["go", "test", "./..."]',
        ],
        "models.default": ['provider = "scripted"', 'model = "scripted-demo"', 'script = "demo"'],
    }
    sections[where].append(f"max_concurrent_jobs = {jobs}")
    if webhook is not None:
        sections["webhook"] = [f'listen = "{webhook}"']
    path = root / f"{name}.toml"
    path.write_text("".join(f"[{name}]\n" + "\n".join(lines) + "\n" for name, lines in sections.items()))
    return path


def make_prs(dev: Path, count: int) -> list[str]:
    """One branch per PR off main, each with its own note and the demo's broken cart.go; their refspecs."""
    refspecs = []
    for number in range(1, count + 1):
        _git(dev, "checkout", "-q", "-B", f"pr-{number}", "origin/main")
        (dev / "notes").mkdir(exist_ok=True)
        (dev / "notes" / f"pr-{number}.md").write_text(f"PR {number}\n")
        (dev / "cart" / "cart.go").write_text(BROKEN_CART_GO)
        _git(dev, "add", "--all")
        _git(dev, "commit", "-q", "-m", f"PR {number}: notes, and quantities applied at checkout")
        refspecs.append(f"pr-{number}:refs/pull/{number}/head")
    return refspecs


def rss_mb(pid: int) -> float:
    """A process's resident memory, MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def container_mb(container_id: str) -> float:
    """A container's memory as `docker stats` counts it (cgroup v1: usage minus inactive file cache), MB."""
    base = CGROUP / container_id
    try:
        usage = int((base / "memory.usage_in_bytes").read_text())
        stat = dict(line.split() for line in (base / "memory.stat").read_text().splitlines())
    except (FileNotFoundError, ValueError):
        return 0.0
    return max(0, usage - int(stat.get("total_inactive_file", 0))) / 2**20


def task_of(job_label: str) -> str:
    """The task of a sandbox's job label (`task-12-proposer-1` -> `12`)."""
    return job_label.split("-")[1] if job_label.count("-") >= 2 else job_label


class MemorySampler:
    """Samples, twice a second, the daemon's RSS and its sandboxes' memory, with the number of jobs running."""

    def __init__(self, client: docker.DockerClient, run_dirs: list[Path], idle_rss: float) -> None:
        """Watch the containers whose run directory lies in one of `run_dirs` (the daemons')."""
        self.client, self.run_dirs, self.idle_rss = client, run_dirs, idle_rss
        self.samples: list[tuple[int, float, float]] = []  # (jobs running, daemon RSS above idle, sandboxes MB)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            try:
                listed = self.client.api.containers(filters={"label": "agentd.managed=1"})
            except docker.errors.DockerException:
                continue
            mine = [c for c in listed if Path(c["Labels"].get("agentd.run_dir", "/")).parent in self.run_dirs]
            jobs = {task_of(c["Labels"].get("agentd.job", "")) for c in mine}
            sandboxes = sum(container_mb(c["Id"]) for c in mine)
            self.samples.append((len(jobs), rss_mb(os.getpid()) - self.idle_rss, sandboxes))

    def per_job_mb(self) -> tuple[float, float, float]:
        """Median over samples with a job running: (daemon MB per job, sandboxes MB per job, total MB per job)."""
        busy = [(n, rss, boxes) for n, rss, boxes in self.samples if n > 0]
        if not busy:
            return 0.0, 0.0, 0.0
        daemon = statistics.median(rss / n for n, rss, _ in busy)
        sandboxes = statistics.median(boxes / n for n, _, boxes in busy)
        return daemon, sandboxes, statistics.median((rss + boxes) / n for n, rss, boxes in busy)


def published_at(store: Store, task: Task) -> float:
    """When the task's result was out: the end of its publish span, else when it finished."""
    spans = store.task_spans(task.id)
    publish = [s for s in spans if s.name == "publish"]
    if publish:
        return publish[-1].started_at + publish[-1].duration_ms / 1000
    return task.finished_at or time.time()


def main() -> None:
    """Push N PRs at once to the daemons running `--jobs` at a time; print throughput, latency and memory per job."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prs", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=2, help="max_concurrent_jobs")
    parser.add_argument(
        "--daemons", type=int, default=1, help="daemons sharing the queue (2 where a daemon runs one job at a time)"
    )
    args = parser.parse_args()
    client = docker.from_env()
    with tempfile.TemporaryDirectory(prefix="agentd-scale-") as scratch:
        root = Path(scratch)
        make_sample_repo(root / "shop")
        remote, dev = root / "forge.git", root / "dev"
        _git(root, "clone", "-q", "--bare", str(root / "shop"), str(remote))
        _git(root, "clone", "-q", str(remote), str(dev))
        refspecs = make_prs(dev, args.prs)
        names = [f"state-{i + 1}" for i in range(args.daemons)]
        apps = [App(load_config(write_config(root, remote, args.jobs, name=name))) for name in names]
        threads = [threading.Thread(target=app.run, kwargs={"install_signals": False}, daemon=True) for app in apps]
        for thread in threads:
            thread.start()
        store = open_store(f"sqlite:///{root / 'agentd.db'}")
        try:
            watching = lambda: store.branch_head(str(remote), "main") is not None  # noqa: E731
            wait_for(watching, threads[0], "agentd to watch the forge")
            time.sleep(2)
            idle = rss_mb(os.getpid())
            with MemorySampler(client, [(root / name / "run").absolute() for name in names], idle) as memory:
                pushed = time.time()
                _git(dev, "push", "-q", "origin", *refspecs)
                done = lambda: len([t for t in store.list_tasks(args.prs + 5) if t.done]) >= args.prs  # noqa: E731
                wait_for(done, threads[0], f"{args.prs} jobs to finish", timeout_s=3600)
            finished = [t for t in store.list_tasks(args.prs + 5) if t.done]
            latencies = sorted(published_at(store, t) - pushed for t in finished)
        finally:
            for app in apps:
                app.request_stop()
            for thread in threads:
                thread.join(timeout=60)
            store.close()
    report(args, finished, latencies, memory, idle)


def report(
    args: argparse.Namespace, finished: list[Task], latencies: list[float], memory: MemorySampler, idle: float
) -> None:
    """Print what the run measured."""
    statuses = sorted({t.status for t in finished})
    span = max(latencies)
    daemon_mb, sandboxes_mb, total_mb = memory.per_job_mb()
    most = max((n for n, _, _ in memory.samples), default=0)
    print(
        f"{args.prs} PRs pushed at once, max_concurrent_jobs = {args.jobs}, {args.daemons} daemon(s), scripted model, "
        f"{os.cpu_count()} cores:"
    )
    print(f"  statuses {statuses}; all done {span:.1f} s after the push: {args.prs / span * 60:.1f} jobs a minute")
    print(f"  push -> published: p50 {statistics.median(latencies):.1f} s, p95 {percentile(latencies, 0.95):.1f} s")
    print(f"  jobs running at once: at most {most} (sampled twice a second)")
    print(f"  memory per running job: {total_mb:.0f} MB ({daemon_mb:.0f} MB process RSS above idle {idle:.0f} MB, "
          f"{sandboxes_mb:.0f} MB in its sandboxes)")  # fmt: skip
    print(f"  load average (1 min) at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
