"""From a PR's webhook to the first visible sign on the forge: agentd's check run created, then in progress.

The daemon runs with `[forge]` aimed at the GitHub stand-in the tests use (tests/support/github_api.py: real
HTTP, every request checked against GitHub's description, a token credential) and checks as check runs. Each
of N signed `pull_request` deliveries goes to an idle daemon (remote mode, polling switched off so only the
webhook triggers), for a PR pushed before the daemon started, the next only once the previous job finished.
Measured from the moment the delivery is sent until the stand-in receives the check run's creation (the
first sign), its `in_progress` update, and, from the store, until the job's `claim` span ends.

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
from tests.support.github_api import GitHubStandIn, Pull

TOKEN = "ghp_bench_first_sign_token"  # noqa: S105 - the stand-in's own test credential
TOKEN_ENV = "AGENTD_BENCH_GITHUB_TOKEN"  # noqa: S105 - the variable's name, not a secret


def free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def job_of(store: Store, n: int, head: str) -> Task | None:
    """The finished task of the PR head `head`, if any."""
    return next((t for t in store.list_tasks(n + 5) if getattr(t.event, "head_sha", "") == head and t.done), None)


def with_forge(config: Path, github: GitHubStandIn) -> Path:
    """The bench's config with `[forge]` aimed at the stand-in, checks as check runs."""
    config.write_text(
        config.read_text() + f'[forge]\nkind = "github"\napi_url = "{github.url}"\nrepository = "{github.state.repo}"\n'
        f'token_env = "{TOKEN_ENV}"\nchecks = "check_run"\n'
    )
    return config


def forge_signs(github: GitHubStandIn, head: str) -> tuple[float, float]:
    """When the stand-in received the creation of `head`'s check run and the update marking it in progress."""
    created = next(s for s in github.seen if s.operation_id == "checks/create" and s.body["head_sha"] == head)
    run_id = next(str(i) for i, run in github.state.check_runs.items() if run["head_sha"] == head)
    running = next(
        s
        for s in github.seen
        if s.operation_id == "checks/update" and s.path.endswith(f"/{run_id}") and s.body.get("status") == "in_progress"
    )
    return created.at, running.at


def measure(root: Path, github: GitHubStandIn, n: int) -> dict[str, list[float]]:
    """Push N PRs, start the daemon, deliver each PR's webhook in turn; seconds from each delivery to each sign."""
    make_sample_repo(root / "shop")
    remote, dev = root / "forge.git", root / "dev"
    _git(root, "clone", "-q", "--bare", str(root / "shop"), str(remote))
    _git(root, "clone", "-q", str(remote), str(dev))
    _git(dev, "push", "-q", "origin", *make_prs(dev, n))
    heads = [_git(dev, "rev-parse", f"pr-{number}") for number in range(1, n + 1)]
    github.state.permissions["alice"] = "write"
    for number, head in enumerate(heads, start=1):
        github.state.pulls[number] = Pull(number, head, f"pr-{number}", "main", "alice", github.state.repo)
    port = free_port()
    config = with_forge(write_config(root, remote, 1, poll_s=3600, webhook=f"127.0.0.1:{port}"), github)
    app = App(load_config(config))
    thread = threading.Thread(target=app.run, kwargs={"install_signals": False}, daemon=True)
    thread.start()
    store = open_store(f"sqlite:///{root / 'agentd.db'}")
    figures: dict[str, list[float]] = {"answered": [], "claimed": [], "created": [], "in_progress": []}
    try:
        wait_for(lambda: store.branch_head(str(remote), "main") is not None, thread, "agentd to watch the forge")
        for number, head in enumerate(heads, start=1):
            idle = lambda: not {"queued", "running"} & {k for k, v in store.counts().items() if v}  # noqa: E731
            wait_for(idle, thread, "the daemon to be idle (the last job's clean-up done)")
            sent = time.time()
            assert deliver(f"http://127.0.0.1:{port}/webhook", f"d-{number}", number, head) == 202
            figures["answered"].append(time.time() - sent)
            wait_for(lambda h=head: job_of(store, n, h) is not None, thread, f"PR {number}'s job")  # type: ignore[misc]
            task = job_of(store, n, head)
            assert task is not None
            claim = next(s for s in store.task_spans(task.id) if s.name == "claim")
            figures["claimed"].append(claim.started_at + claim.duration_ms / 1000 - sent)
            created, running = forge_signs(github, head)
            figures["created"].append(created - sent)
            figures["in_progress"].append(running - sent)
    finally:
        app.request_stop()
        thread.join(timeout=60)
        store.close()
    assert github.violations == [], github.violations
    return figures


def main() -> None:
    """N deliveries, one at a time; p50/p95 from the webhook to the 202, the claim, and each sign on the forge."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=10)
    n = parser.parse_args().n
    os.environ["AGENTD_WEBHOOK_SECRET"] = SECRET.decode()
    os.environ[TOKEN_ENV] = TOKEN
    github = GitHubStandIn(tokens={TOKEN})
    load = os.getloadavg()[0]
    try:
        with tempfile.TemporaryDirectory(prefix="agentd-first-sign-") as scratch:
            figures = measure(Path(scratch), github, n)
    finally:
        github.close()
    print(f"N={n} PR webhooks to an idle daemon (one at a time), [forge] on the GitHub stand-in, check runs:")
    rows = (
        ("job enqueued (202)", "answered"),
        ("job claimed, Job.run starts", "claimed"),
        ("check run created (queued)", "created"),
        ("check run in_progress", "in_progress"),
    )
    for what, key in rows:
        ms = [1000 * s for s in figures[key]]
        print(f"  webhook -> {what:28} p50 {statistics.median(ms):7.1f} ms  p95 {percentile(ms, 0.95):7.1f} ms")
    print("  (the first visible sign is the check run's creation; target p50 <= 2 s)")
    print(f"load average (1 min) at the start {load:.1f}, at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
