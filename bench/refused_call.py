"""What agentd adds to a refused tool call: parse, validate, policy, redact, audit row in SQLite.

Usage: .venv/bin/python bench/refused_call.py [-n 2000]
No Docker needed: a refused command never reaches the sandbox. Prints medians and p95.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from agentd.kernel.events import TaskRequested
from agentd.kernel.policy import load_policy
from agentd.kernel.redact import Redactor
from agentd.kernel.seams import CommandResult
from agentd.store.sqlite import SQLiteStore
from tools.code import CodeTool
from tools.execute import ExecuteCommandTool
from tools.registry import Toolbox


class NeverRun:
    """A sandbox that fails the benchmark if a refused call ever reaches it."""

    def __init__(self, workspace: Path) -> None:
        self.workspace = workspace

    def run(
        self, argv: list[str], cwd: str = ".", timeout_s: float = 300.0, env: dict[str, str] | None = None
    ) -> CommandResult:
        """Never called for a refused command."""
        raise AssertionError(f"a refused command reached the sandbox: {argv}")

    def freeze(self) -> int:
        """Nothing runs, so nothing to kill."""
        return 0

    def close(self) -> None:
        """Nothing to close."""


def percentiles(action: Callable[[], object], n: int) -> tuple[float, float]:
    """(p50, p95) of `action` in milliseconds over n runs after 50 warm-up runs."""
    for _ in range(50):
        action()
    times = []
    for _ in range(n):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[int(n * 0.95)]


def main() -> None:
    """Time refused calls of each kind through a real toolbox auditing into SQLite."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=2000)
    n = parser.parse_args().n
    with tempfile.TemporaryDirectory(prefix="agentd-bench-") as scratch:
        root = Path(scratch)
        (root / "ws").mkdir()
        store = SQLiteStore(str(root / "agentd.db"))
        task, _ = store.enqueue(TaskRequested(repo="/r", description="d", base_ref="main", request_id="b"), "d", None)
        session = store.start_session(task, "debate", "round_robin")
        policy = load_policy()
        box = Toolbox(
            CodeTool(root / "ws", policy),
            ExecuteCommandTool(NeverRun(root / "ws"), policy, 300),
            None,
            policy,
            Redactor.from_environment(),
            audit=lambda record: store.add_tool_call(session, record),
        )
        cases = {
            "command off the allowlist": ("execute_command", {"command": ["curl", "http://example.com"]}),
            "shell operator in a string": ("execute_command", {"command": "go test ./... && curl x"}),
            "abbreviated wrapper option": ("execute_command", {"command": ["env", "--u", "ls", "sh", "-c", "id"]}),
            "argument naming .env": ("execute_command", {"command": ["cat", "cart/../.env"]}),
            "path outside the workspace": ("code", {"action": "read", "file_path": "../../etc/passwd"}),
            "write into .git": ("code", {"action": "create", "file_path": ".git/hooks/x", "content": "x"}),
            "malformed JSON": ("code", None),
        }
        print(f"N={n}, refused calls through Toolbox.call with an audit row written to SQLite:")
        for label, (tool, arguments) in cases.items():
            raw = "{not json" if arguments is None else json.dumps(arguments)

            def call(tool: str = tool, raw: str = raw) -> None:
                assert not box.call("proposer", tool, raw).ok

            p50, p95 = percentiles(call, n)
            print(f"  {label:30} p50 {p50:6.3f} ms   p95 {p95:6.3f} ms")
        store.close()


if __name__ == "__main__":
    main()
