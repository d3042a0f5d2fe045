"""Cold sandbox: create, start and first command through agentd, beside `docker run --rm`.

Usage: .venv/bin/python bench/sandbox_cold.py [-n 20]
Needs a Docker engine and the sandbox image (`agentd sandbox build`). Prints medians and ratios.
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


def timings(action: Callable[[], object], n: int) -> list[float]:
    """Wall times of `action` over n runs, in milliseconds (after one warm-up run)."""
    action()
    times = []
    for _ in range(n):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> None:
    """Time a cold sandbox three ways and print medians and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=20, help="runs per method")
    n = parser.parse_args().n
    config = SandboxConfig()
    client = connect_docker()
    with tempfile.TemporaryDirectory(prefix="agentd-bench-") as scratch:
        root = Path(scratch)
        (root / "workspace").mkdir()
        factory = DockerSandboxFactory(config, root / "run", client)
        ready: list[float] = []

        def agentd_cold() -> None:
            started = time.perf_counter()
            sandbox = factory.open(root / "workspace", "bench")
            result = sandbox.run(["true"])
            ready.append((time.perf_counter() - started) * 1000)
            sandbox.close()
            assert result.ok

        total = timings(agentd_cold, n)
        sdk = timings(lambda: client.containers.run(config.image, ["true"], remove=True, network_mode="none"), n)
        cli = timings(
            lambda: subprocess.run(["docker", "run", "--rm", "--network", "none", config.image, "true"], check=True),
            n,
        )
    ready_p50, sdk_p50, cli_p50 = statistics.median(ready[1:]), statistics.median(sdk), statistics.median(cli)
    print(f"N={n}, medians:")
    print(f"  agentd sandbox ready (create, start, first command) {ready_p50:8.1f} ms")
    print(f"  agentd open + first command + close                 {statistics.median(total):8.1f} ms")
    print(f"  docker run --rm true (SDK)                          {sdk_p50:8.1f} ms")
    print(f"  docker run --rm true (CLI)                          {cli_p50:8.1f} ms")
    print(f"  ratio ready / SDK docker run --rm: {ready_p50 / sdk_p50:.2f}x")


if __name__ == "__main__":
    main()
