"""Cost and overshoot of the per-lane disk limit: writes far past it, and what the host filesystem saw.

Usage: .venv/bin/python bench/disk_limit.py [--limit-mib 256] [--runs 3]
Needs a Docker engine, the sandbox image and Go (the writer is built on the host). For each attack
it prints how far past the limit the host filesystem's usage peaked (polled every 5 ms from the
host) and how long the lane took to be stopped; then what one full measure costs on the demo
project with its Go build cache (the watcher runs at most one a second while commands run).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import docker

from agentd.demo import make_sample_repo
from agentd.kernel.errors import DiskLimitExceeded
from sandbox.config import SandboxConfig
from sandbox.docker import DockerSandboxFactory, connect_docker

WRITER = Path(__file__).resolve().parent.parent / "tests" / "hostile" / "attacker"
ATTACKS = {
    "64 files of 256 MiB": ["fill", "64", str(256 << 20)],
    "4 GiB in unlinked files": ["hidden", str(4 << 30)],
}


def fs_used(path: Path) -> int:
    """Bytes in use on the filesystem holding `path`."""
    st = os.statvfs(path)
    return (st.f_blocks - st.f_bfree) * st.f_frsize


def attack_once(factory: DockerSandboxFactory, root: Path, argv: list[str], limit: int) -> tuple[int, float]:
    """(peak host usage past the limit in bytes, seconds until the lane was stopped) for one attack."""
    workspace = root / f"ws-{time.monotonic_ns()}"
    workspace.mkdir()
    shutil.copy(root / "attacker", workspace / "attacker")
    base = fs_used(root)
    peak = [0]
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], fs_used(root) - base)
            time.sleep(0.005)

    poller = threading.Thread(target=poll)
    with factory.open(workspace, "disk-bench") as sandbox:
        poller.start()
        started = time.perf_counter()
        try:
            sandbox.run(["./attacker", *argv], timeout_s=300)
            raise SystemExit(f"{argv}: the lane was not stopped")
        except DiskLimitExceeded:
            took = time.perf_counter() - started
        done.set()
        poller.join()
    shutil.rmtree(workspace)
    return peak[0] - limit, took


def main() -> None:
    """Run each attack a few times; print the overshoot and the stop time, then the round trip."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit-mib", type=int, default=256)
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    limit = options.limit_mib << 20
    client = connect_docker()
    with tempfile.TemporaryDirectory(prefix="agentd-bench-", dir="/var/tmp") as scratch:
        root = Path(scratch)
        env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-buildvcs=false", "GOPROXY": "off"}
        subprocess.run(["go", "build", "-o", str(root / "attacker"), "."], cwd=WRITER, env=env, check=True)
        factory = DockerSandboxFactory(SandboxConfig(disk_limit=limit), root / "run", client)
        print(f"limit {options.limit_mib} MiB, {options.runs} runs each")
        for name, argv in ATTACKS.items():
            runs = [attack_once(factory, root, argv, limit) for _ in range(options.runs)]
            over = [r[0] / (1 << 20) for r in runs]
            took = [r[1] for r in runs]
            print(
                f"  {name:28s} peak past the limit: max {max(over):7.1f} MiB, median {statistics.median(over):7.1f}"
                f" MiB; stopped after median {statistics.median(took):.2f} s"
            )
        measure_cost(client, root)


def measure_cost(client: docker.DockerClient, root: Path) -> None:
    """What one full measure costs on the demo project with its Go build cache: `freeze` (sweep + measure)."""
    repo, cache = root / "shop", root / "cache"
    make_sample_repo(repo)
    factory = DockerSandboxFactory(SandboxConfig(), root / "run", client)
    with factory.open(repo, "disk-bench", cache_dir=cache) as sandbox:
        built = sandbox.run(["go", "test", "./..."], timeout_s=300)
        assert built.ok, built.stderr
        files = sum(1 for _ in cache.rglob("*")) + sum(1 for _ in repo.rglob("*"))
        times = []
        for _ in range(50):
            started = time.perf_counter()
            sandbox.freeze()
            times.append((time.perf_counter() - started) * 1000)
    print(f"  freeze (sweep + one full measure of {files} files and dirs): p50 {statistics.median(times):.2f} ms")


if __name__ == "__main__":
    main()
