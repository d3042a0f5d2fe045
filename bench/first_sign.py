"""From a PR's webhook to its job claimed and running: where a check run "in progress" would be posted.

The forge's check run is not wired into the job yet, so this measures the proxy: a signed
`pull_request` delivery to an idle daemon (remote mode, polling switched off so only the webhook
triggers) until the job's `claim` span ends, i.e. `Job.run` starts. One delivery at a time, each
for a PR pushed before the daemon started, the next only once the previous job finished.

Usage: .venv/bin/python -m bench.first_sign [-n 10]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path

from agentd.app import App
from agentd.config import load_config
from agentd.demo import _git, make_sample_repo
from agentd.store import open_store
from agentd.store.base import Store, Task
from bench.job_latency import percentile, wait_for
from bench.scale import make_prs, write_config
from bench.webhook_latency import SECRET, deliver


def free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def job_of(store: Store, n: int, head: str) -> Task | None:
    """The finished task of the PR head `head`, if any."""
    return next((t for t in store.list_tasks(n + 5) if getattr(t.event, "head_sha", "") == head and t.done), None)


def main() -> None:
    """N deliveries, one at a time; p50/p95 of webhook -> enqueued (202) and webhook -> job claimed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=10)
    n = parser.parse_args().n
    os.environ["AGENTD_WEBHOOK_SECRET"] = SECRET.decode()
    answered: list[float] = []
    claimed: list[float] = []
    with tempfile.TemporaryDirectory(prefix="agentd-first-sign-") as scratch:
        root = Path(scratch)
        make_sample_repo(root / "shop")
        remote, dev = root / "forge.git", root / "dev"
        _git(root, "clone", "-q", "--bare", str(root / "shop"), str(remote))
        _git(root, "clone", "-q", str(remote), str(dev))
        _git(dev, "push", "-q", "origin", *make_prs(dev, n))
        heads = [_git(dev, "rev-parse", f"pr-{number}") for number in range(1, n + 1)]
        port = free_port()
        app = App(load_config(write_config(root, remote, 1, poll_s=3600, webhook=f"127.0.0.1:{port}")))
        thread = threading.Thread(target=app.run, kwargs={"install_signals": False}, daemon=True)
        thread.start()
        store = open_store(f"sqlite:///{root / 'agentd.db'}")
        try:
            wait_for(lambda: store.branch_head(str(remote), "main") is not None, thread, "agentd to watch the forge")
            for number, head in enumerate(heads, start=1):
                idle = lambda: not {"queued", "running"} & {k for k, v in store.counts().items() if v}  # noqa: E731
                wait_for(idle, thread, "the daemon to be idle (the last job's clean-up done)")
                sent = time.time()
                assert deliver(f"http://127.0.0.1:{port}/webhook", f"d-{number}", number, head) == 202
                answered.append(time.time() - sent)
                wait_for(lambda h=head: job_of(store, n, h) is not None, thread, f"PR {number}'s job")  # type: ignore[misc]
                task = job_of(store, n, head)
                assert task is not None
                claim = next(s for s in store.task_spans(task.id) if s.name == "claim")
                claimed.append(claim.started_at + claim.duration_ms / 1000 - sent)
        finally:
            app.request_stop()
            thread.join(timeout=60)
            store.close()
    print(f"N={n} PR webhooks to an idle daemon (one at a time):")
    for what, seconds in (("job enqueued (202)", answered), ("job claimed, Job.run starts", claimed)):
        ms = [1000 * s for s in seconds]
        print(f"  webhook -> {what:28} p50 {statistics.median(ms):7.1f} ms  p95 {percentile(ms, 0.95):7.1f} ms")
    print("  (the point where the check run 'in progress' would be posted; target p50 <= 2 s)")


if __name__ == "__main__":
    main()
