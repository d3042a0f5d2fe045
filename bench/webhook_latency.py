"""From a signed webhook delivery to the job in the queue, and a burst of 200 deliveries.

Usage: .venv/bin/python bench/webhook_latency.py [-n 200]
Real HTTP server, real HMAC check, real SQLite store. Prints the median and p95 of the time until
the 202 answer (the delivery, the job and its supersession commit before the answer), for pull
requests getting HEADS_PER_PR heads each, so most deliveries supersede the PR's previous head;
then a burst from 8 threads with the number of jobs it made against the number expected.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import statistics
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from agentd.intake.webhook import WebhookServer
from agentd.store.sqlite import SQLiteStore

SECRET = b"bench-secret"
HEADS_PER_PR = 5  # each delivery after a PR's first supersedes its queued job


def deliver(url: str, delivery: str, number: int, head: str) -> int:
    """POST one signed pull_request delivery; returns the status."""
    body = json.dumps(
        {
            "action": "synchronize",
            "number": number,
            "pull_request": {"number": number, "head": {"sha": head, "ref": "feature"}, "base": {"ref": "main"}},
        }
    ).encode()
    signature = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={
            "X-GitHub-Event": "pull_request",
            "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": signature,
            "Content-Type": "application/json",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return int(answer.status)


def main() -> None:
    """Sequential deliveries for latency, then a concurrent burst for completeness."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=200)
    n = parser.parse_args().n
    with tempfile.TemporaryDirectory() as scratch:
        store = SQLiteStore(str(Path(scratch) / "agentd.db"))
        with WebhookServer("127.0.0.1:0", "/webhook", SECRET, store, "/r", ["main"], True) as server:
            url = f"http://127.0.0.1:{server.port}/webhook"
            times = []
            for i in range(n):
                started = time.perf_counter()
                pr = 1000 + i // HEADS_PER_PR
                assert deliver(url, f"seq-{i}", pr, hashlib.sha1(b"s%d" % i).hexdigest()) == 202
                times.append((time.perf_counter() - started) * 1000)
            prs = -(-n // HEADS_PER_PR)
            sequential_live = store.counts().get("queued", 0)
            before = sum(store.counts().values())
            burst = [(f"burst-{i}", 1 + i % 20, hashlib.sha1(b"b%d" % i).hexdigest()) for i in range(200)]
            started = time.perf_counter()
            with ThreadPoolExecutor(max_workers=8) as pool:
                statuses = list(pool.map(lambda item: deliver(url, *item), burst))
            burst_s = time.perf_counter() - started
            made = sum(store.counts().values()) - before
            live = store.counts().get("queued", 0) - sequential_live
    times.sort()
    print(f"N={n} sequential deliveries to {prs} PRs ({HEADS_PER_PR} heads each), webhook -> job enqueued (SQLite):")
    print(f"  one live job per PR after supersession: {sequential_live} of {prs}")
    print(f"  p50 {statistics.median(times):.2f} ms   p95 {times[int(n * 0.95)]:.2f} ms (target p50 <= 50 ms)")
    print(f"burst: 200 deliveries from 8 threads in {burst_s * 1000:.0f} ms, answers {sorted(set(statuses))}")
    print(f"  jobs made {made} of 200 expected (distinct heads), queued after supersession {live} (20 PRs)")


if __name__ == "__main__":
    main()
