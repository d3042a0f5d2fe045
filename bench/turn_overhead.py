"""agentd's own overhead per model turn: everything but the model's time, with SQLite.

Usage: .venv/bin/python bench/turn_overhead.py [-n 300]
A turn here: two model calls answered at once by an in-process model (no HTTP), a code-tool call
audited in SQLite, a submit validated, usage (twice) and the turn recorded. Prints p50 and p95 of a
whole turn, and what that is per model call for comparison with earlier figures.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

from agentd.engine.config import DebateConfig, TeamConfig
from agentd.engine.record import StoreRecorder
from agentd.engine.session import Session
from agentd.kernel.events import TaskRequested
from agentd.kernel.policy import load_policy
from agentd.kernel.redact import Redactor
from agentd.kernel.seams import Completion, Message, ToolCall, ToolSpec, Usage
from agentd.store.sqlite import SQLiteStore
from tools.code import CodeTool
from tools.registry import Toolbox


class InstantModel:
    """Answers at once: first a code-tool call, then the submit (so the measure is agentd's work alone)."""

    name = "instant:m"

    def complete(self, messages: list[Message], tools: list[ToolSpec], require: str | None = None) -> Completion:
        """Read a file on the first step, submit on the second."""
        if not any(m.role == "tool" for m in messages):
            call = ToolCall("c1", "code", '{"action": "read", "file_path": "main.go"}')
        else:
            call = ToolCall("c2", "submit_review", '{"verdict": "approve", "summary": "ok"}')
        return Completion("", (call,), Usage(100, 10), self.name)


def main() -> None:
    """Time n turns of two model steps each; report per turn (and per model call beside it)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=300)
    n = parser.parse_args().n
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        (root / "ws").mkdir()
        (root / "ws" / "main.go").write_text("package main\n\nfunc main() {}\n")
        store = SQLiteStore(str(root / "agentd.db"))
        task, _ = store.enqueue(TaskRequested(repo="/r", description="d", base_ref="main", request_id="b"), "d", None)
        session_id = store.start_session(task, "bench", "broadcast")
        policy = load_policy()
        model = InstantModel()
        tools = Toolbox(
            CodeTool(root / "ws", policy),
            None,
            None,
            policy,
            Redactor(),
            audit=lambda record: store.add_tool_call(session_id, record),
        )
        recorder = StoreRecorder(store, task, session_id)
        limits = TeamConfig(max_steps_per_turn=4)
        team = Session(lambda _role: model, recorder, DebateConfig(), limits, threading.Event())
        who = team.participant("critic")
        times = []
        for i in range(n + 20):
            started = time.perf_counter()
            turn = team.speak(who, "Review.", tools, f"t{i}")
            times.append((time.perf_counter() - started) * 1000)
            assert turn.submission is not None
        times = sorted(times[20:])
    p50, p95 = statistics.median(times), times[int(len(times) * 0.95)]
    print(f"N={n} turns (two model calls, one audited tool call each), agentd's overhead per turn with SQLite:")
    print(f"  p50 {p50:.3f} ms   p95 {p95:.3f} ms per turn (target p50 <= 5 ms); {p50 / 2:.3f} ms per model call")


if __name__ == "__main__":
    main()
