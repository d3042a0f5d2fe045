"""The demo job end to end, commit to published branch, with the scripted (instant) model: p50/p95 per phase.

Beside it, measured in the same run, the floor: the test runs the job cannot avoid (the base, each
proposer's candidate, the gate) run back to back with `go test` on the host, warm build cache.

Usage: .venv/bin/python -m bench.job_latency [-n 5] [--proposers 3]
Needs a Docker engine and the sandbox image (`agentd sandbox build`).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from agentd.app import App
from agentd.config import load_config
from agentd.demo import CART_GO, CONFIG, break_the_build, make_sample_repo
from agentd.job.timeline import render_timeline
from agentd.store import open_store
from agentd.store.base import Task
from agentd.store.records import Span

PHASES = ("queued", "claim", "fetch", "worktree", "sandbox start", "test run", "review", "invoke_agent", "chat",
          "execute_tool", "gate", "publish", "report")  # fmt: skip


def one_job(root: Path, proposers: int) -> tuple[float, list[Span]]:
    """Run the demo once in `root`: (seconds from the commit to the published branch, the job's spans)."""
    repo, state = root / "shop", root / "state"
    make_sample_repo(repo)
    config_path = root / "agentd.toml"
    config_path.write_text(CONFIG.format(state=state, repo=repo) + f"\n[debate]\nproposers = {proposers}\n")
    app = App(load_config(config_path))
    thread = threading.Thread(target=app.run, kwargs={"install_signals": False}, daemon=True)
    thread.start()
    store = open_store(f"sqlite:///{state / 'agentd.db'}")
    try:
        wait_for(lambda: store.branch_head(str(repo), "main") is not None, thread, "agentd to watch main")
        committed = time.time()
        sha = break_the_build(repo)
        found: list[Task] = []

        def done() -> bool:
            found[:] = [t for t in store.list_tasks(5) if getattr(t.event, "sha", None) == sha and t.done]
            return bool(found)

        wait_for(done, thread, "the job to finish")
        task = found[0]
        assert task.status == "fixed", task.summary
        spans = store.task_spans(task.id)
        published = next(s for s in spans if s.name == "publish")
        return published.started_at + published.duration_ms / 1000 - committed, spans
    finally:
        app.request_stop()
        thread.join(timeout=60)
        store.close()


def wait_for(condition: Callable[[], bool], daemon: threading.Thread, what: str, timeout_s: float = 600) -> None:
    """Poll `condition`; fail (rather than hang the benchmark) when the daemon died or time ran out."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if not daemon.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"gave up waiting for {what} (daemon alive: {daemon.is_alive()})")
        time.sleep(0.05)


def floor_s(root: Path, proposers: int) -> float:
    """The unavoidable test runs on the host, back to back, warm cache: base, each candidate, the gate."""
    repo = root / "floor"
    make_sample_repo(repo)
    env = {**os.environ, "GOFLAGS": "-mod=mod", "GOCACHE": str(root / "gocache"), "GOPATH": str(root / "gopath")}

    def go_test() -> None:
        subprocess.run(["go", "test", "./..."], cwd=repo, env=env, capture_output=True, check=False, timeout=600)

    go_test()  # warm the cache
    broken = (repo / "cart" / "cart.go").read_text()
    started = time.perf_counter()
    go_test()  # the base tree (the broken commit)
    (repo / "cart" / "cart.go").write_text(CART_GO)
    for _ in range(proposers + 1):  # each candidate, then the gate
        go_test()
    (repo / "cart" / "cart.go").write_text(broken)
    return time.perf_counter() - started


def phase_of(span: Span) -> str:
    """The phase a span counts for: its name, or its first word for per-agent, per-model and per-tool spans."""
    first = span.name.split(" ")[0]
    return first if first in {"invoke_agent", "chat", "execute_tool", "protocol"} else span.name


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) by nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def main() -> None:
    """Run N demo jobs and the floor; print per-phase p50/p95, the total and the ratio to the floor."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=5)
    parser.add_argument("--proposers", type=int, default=3)
    args = parser.parse_args()
    totals: list[float] = []
    phases: dict[str, list[float]] = defaultdict(list)
    floors: list[float] = []
    timelines: list[list[Span]] = []
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="agentd-bench-") as scratch:
        for i in range(args.n):
            seconds, spans = one_job(Path(scratch) / f"run{i}", args.proposers)
            totals.append(seconds)
            timelines.append(spans)
            for name in PHASES:
                phases[name].append(sum(span.duration_ms for span in spans if phase_of(span) == name) / 1000)
            floors.append(floor_s(Path(scratch) / f"floor{i}", args.proposers))
    p50, floor = statistics.median(totals), statistics.median(floors)
    median_job = sorted(range(args.n), key=lambda i: totals[i])[args.n // 2]
    print(f"the median job ({totals[median_job]:.2f} s):")
    print("\n".join(render_timeline(timelines[median_job])))
    print(f"load average (1 min) at the start {load:.1f}, at the end {os.getloadavg()[0]:.1f}")
    print(f"the first job in this process (pays the model SDK's import): {totals[0]:.2f} s")
    print(f"demo job, commit -> published branch, {args.proposers} proposers, scripted model, N={args.n}:")
    print(f"  total          p50 {p50:6.2f} s   p95 {percentile(totals, 0.95):6.2f} s   (target p50 <= 5 s)")
    for name in PHASES:
        values = phases[name]
        print(f"  {name:14} p50 {statistics.median(values):6.2f} s   p95 {percentile(values, 0.95):6.2f} s  (summed)")
    print(f"floor: {args.proposers + 2} test runs back to back on the host, warm cache: p50 {floor:.2f} s")
    print(f"ratio job / floor: {p50 / floor:.2f}x (target <= 2x)")


if __name__ == "__main__":
    main()
