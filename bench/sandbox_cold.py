"""Cold sandbox: create, start and first command through agentd, beside plain `docker run`, like with like.

Usage: .venv/bin/python bench/sandbox_cold.py [-n 20]
Needs a Docker engine and the sandbox image (`agentd sandbox build`). Prints medians and two ratios:
without teardown (agentd ready to run vs a container created, started and run to its exit, removed
after the clock stops) and with teardown (agentd open + first command + close vs `docker run --rm`).
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
        ran: list[float] = []

        def sdk_run_kept() -> None:
            started = time.perf_counter()
            container = client.containers.run(config.image, ["true"], detach=True, network_mode="none")
            container.wait()
            ran.append((time.perf_counter() - started) * 1000)
            container.remove(force=True)  # after the clock: no teardown, like agentd's ready time

        timings(sdk_run_kept, n)
        sdk = timings(lambda: client.containers.run(config.image, ["true"], remove=True, network_mode="none"), n)
        cli = timings(
            lambda: subprocess.run(["docker", "run", "--rm", "--network", "none", config.image, "true"], check=True),
            n,
        )
    ready_p50, ran_p50 = statistics.median(ready[1:]), statistics.median(ran[1:])
    total_p50, sdk_p50, cli_p50 = statistics.median(total), statistics.median(sdk), statistics.median(cli)
    print(f"N={n}, medians. Without teardown:")
    print(f"  agentd sandbox ready (create, start, first command) {ready_p50:8.1f} ms")
    print(f"  docker create + start + run true to exit (SDK)      {ran_p50:8.1f} ms")
    print(f"  ratio {ready_p50 / ran_p50:.2f}x")
    print("With teardown:")
    print(f"  agentd open + first command + close                 {total_p50:8.1f} ms")
    print(f"  docker run --rm true (SDK)                          {sdk_p50:8.1f} ms")
    print(f"  docker run --rm true (CLI)                          {cli_p50:8.1f} ms")
    print(f"  ratio {total_p50 / sdk_p50:.2f}x (against the SDK)")


if __name__ == "__main__":
    main()
