"""Resident memory of an idle daemon: `agentd run` on a sample repository, nothing queued.

Usage: .venv/bin/python bench/idle_rss.py [--seconds 15]
Starts the daemon (scripted model, SQLite, the real Docker factory), waits, reads VmRSS from
/proc several times and prints the median and the maximum.
"""

from __future__ import annotations

import argparse
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from agentd.demo import make_sample_repo


def rss_mb(pid: int) -> float:
    """VmRSS of a process in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def main() -> None:
    """Run an idle daemon and sample its memory."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15)
    seconds = parser.parse_args().seconds
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        make_sample_repo(root / "shop")
        config = root / "agentd.toml"
        config.write_text(
            f'[daemon]\nstate_dir = "{root / "state"}"\n[repository]\npath = "{root / "shop"}"\n'
            '[models.default]\nprovider = "scripted"\nmodel = "m"\nscript = "demo"\n'
        )
        process = subprocess.Popen(
            [sys.executable, "-m", "agentd", "run", "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            time.sleep(seconds / 2)
            samples = []
            for _ in range(10):
                samples.append(rss_mb(process.pid))
                time.sleep(seconds / 20)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
    print(
        f"idle daemon RSS over {seconds:.0f} s: median {statistics.median(samples):.1f} MB, "
        f"max {max(samples):.1f} MB (target <= 120 MB)"
    )


if __name__ == "__main__":
    main()
