"""From `git commit` on a watched local branch to the job in the queue, through the file watcher.

Usage: .venv/bin/python bench/trigger_latency.py [-n 20]
Real repository, real watchdog observer, real SQLite store; the rescan interval is 60 s, so only
the watcher can see a commit this fast. Prints the median and p95.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from agentd.config import parse_config
from agentd.demo import make_sample_repo
from agentd.intake.triggers import RefWatcher
from agentd.repo.mirror import Mirror
from agentd.store.sqlite import SQLiteStore

ENV = {
    "GIT_AUTHOR_NAME": "b",
    "GIT_AUTHOR_EMAIL": "b@x",
    "GIT_COMMITTER_NAME": "b",
    "GIT_COMMITTER_EMAIL": "b@x",
    "PATH": "/usr/bin:/bin",
}


def main() -> None:
    """Commit n times and time each commit until its job is queued."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=20)
    n = parser.parse_args().n
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        repo = root / "shop"
        make_sample_repo(repo)
        config = parse_config(
            f'[daemon]\nstate_dir = "{root / "state"}"\nrescan_interval_s = 60\n'
            f'[repository]\npath = "{repo}"\n[models.default]\nprovider = "scripted"\n'
            'model = "m"\nscript = "demo"\n',
            env={},
        )
        store = SQLiteStore(str(root / "state" / "agentd.db"))
        mirror = Mirror(repo, root / "state" / "repo.git")
        mirror.ensure()
        watcher = RefWatcher(config.repository, config.daemon, store, mirror)
        stop = threading.Event()
        thread = threading.Thread(target=watcher.run, args=(stop,), daemon=True)
        thread.start()
        while store.branch_head(str(repo), "main") is None:
            time.sleep(0.01)
        times = []
        for i in range(n):
            (repo / f"f{i}.txt").write_text(str(i))
            subprocess.run(["git", "add", "-A"], cwd=repo, env=ENV, check=True)
            started = time.perf_counter()
            subprocess.run(["git", "commit", "-qm", f"c{i}"], cwd=repo, env=ENV, check=True)
            while sum(store.counts().values()) < i + 1:
                time.sleep(0.002)
            times.append((time.perf_counter() - started) * 1000)
        stop.set()
        watcher.stop()
        thread.join(timeout=10)
    times.sort()
    print(f"N={n} commits, commit -> job enqueued (watcher, SQLite):")
    print(
        f"  p50 {statistics.median(times):.1f} ms   p95 {times[int(len(times) * 0.95)]:.1f} ms (target p50 <= 300 ms)"
    )


if __name__ == "__main__":
    main()
