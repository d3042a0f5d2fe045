"""Five participants in `broadcast` against a model with 300 ms latency, beside one call alone.

Usage: .venv/bin/python bench/team_broadcast.py [-n 10]
The model is agentd's scripted server over HTTP (official OpenAI SDK); turns are recorded in SQLite.
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
from agentd.models import OpenAIModel
from agentd.models.config import ModelConfig
from agentd.models.scripted import Script, ScriptedModelServer
from agentd.store.sqlite import SQLiteStore
from tools.code import CodeTool
from tools.registry import Toolbox

LATENCY_S = 0.3
REVIEW = {
    "delay_s": LATENCY_S,
    "tool_calls": [{"name": "submit_review", "arguments": {"verdict": "approve", "summary": "ok"}}],
}
ROLES = ("critic", "reviewer", "tester", "evaluator", "observer")


def main() -> None:
    """Time one turn alone and five in broadcast; print medians and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=10)
    n = parser.parse_args().n
    with ScriptedModelServer(Script({"*": [REVIEW]})) as server, tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        (root / "ws").mkdir()
        store = SQLiteStore(str(root / "agentd.db"))
        task, _ = store.enqueue(TaskRequested(repo="/r", description="d", base_ref="main", request_id="b"), "d", None)
        model = OpenAIModel("m", ModelConfig(provider="openai", model="m"), "k", base_url=server.openai_base_url)
        policy = load_policy()
        tools = Toolbox(CodeTool(root / "ws", policy), None, None, policy, Redactor())
        one: list[float] = []
        five: list[float] = []
        for i in range(n + 1):
            recorder = StoreRecorder(store, task, store.start_session(task, "bench", "broadcast"))
            config, limits = DebateConfig(strategy="broadcast"), TeamConfig(max_steps_per_turn=4)
            team = Session(lambda _role: model, recorder, config, limits, threading.Event())
            started = time.perf_counter()
            team.phase([team.participant("critic")], "Go.", lambda _w: tools, f"one{i}")
            one.append(time.perf_counter() - started)
            started = time.perf_counter()
            turns = team.phase([team.participant(r) for r in ROLES], "Go.", lambda _w: tools, f"five{i}")
            five.append(time.perf_counter() - started)
            assert all(t.submission for t in turns)
        one_p50, five_p50 = statistics.median(one[1:]) * 1000, statistics.median(five[1:]) * 1000
    print(f"N={n}, model latency {LATENCY_S * 1000:.0f} ms, medians:")
    print(f"  one participant, one turn        {one_p50:7.1f} ms")
    print(f"  five participants, broadcast     {five_p50:7.1f} ms")
    print(f"  ratio five / one: {five_p50 / one_p50:.3f}x (target <= 1.15x)")


if __name__ == "__main__":
    main()
