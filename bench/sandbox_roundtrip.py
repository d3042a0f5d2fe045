"""Round trip of a trivial command: DockerSandbox.run vs the SDK's exec_run vs a host subprocess.

Usage: .venv/bin/python bench/sandbox_roundtrip.py [-n 200]
Needs a Docker engine and the sandbox image (`agentd sandbox build`).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sandbox.config import SandboxConfig
from sandbox.docker import DockerSandboxFactory, connect_docker


def median_ms(action: Callable[[], object], n: int) -> float:
    """Median wall time of `action` over n runs, in milliseconds (after one warm-up run)."""
    action()
    times = []
    for _ in range(n):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    """Open one sandbox and time `true` three ways."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=200, help="runs per method")
    n = parser.parse_args().n
    client = connect_docker()
    with tempfile.TemporaryDirectory(prefix="agentd-bench-") as scratch:
        root = Path(scratch)
        (root / "workspace").mkdir()
        factory = DockerSandboxFactory(SandboxConfig(), root / "run", client)
        with factory.open(root / "workspace", "bench") as sandbox:
            container = client.containers.get(sandbox.container_id)
            runner = median_ms(lambda: sandbox.run(["true"]), n)
            exec_run = median_ms(lambda: container.exec_run(["true"]), n)
        host = median_ms(lambda: subprocess.run(["true"], check=True), n)
    print(f"N={n}, median of `true`:")
    print(f"  DockerSandbox.run (runner socket) {runner:8.2f} ms")
    print(f"  container.exec_run (Docker SDK)   {exec_run:8.2f} ms")
    print(f"  host subprocess.run               {host:8.2f} ms")
    print(f"ratios: exec_run / runner = {exec_run / runner:.1f}x, runner / host = {runner / host:.1f}x")


if __name__ == "__main__":
    main()
