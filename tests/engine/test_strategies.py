"""Strategies (who speaks when) with the scripted model over HTTP and a real store; no sandbox needed."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

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


def review(text: str) -> dict[str, Any]:
    """A script step that submits an approving review."""
    return {"tool_calls": [{"name": "submit_review", "arguments": {"verdict": "approve", "summary": text}}]}


def vote(text: str) -> dict[str, Any]:
    """A script step that casts an accepting vote."""
    return {
        "tool_calls": [{"name": "cast_vote", "arguments": {"decision": "accept", "confidence": 0.8, "rationale": text}}]
    }


SCRIPT = {
    "critic": [review("critic here")],
    "reviewer": [review("reviewer here")],
    "tester": [review("tester here")],
    "evaluator": [review("evaluator here")],
    "observer": [review("observer here")],
    "moderator": [vote("the frame: tests decide")],
    "supervisor": [vote("supervisor synthesis")],
    "worker": [{"tool_calls": [{"name": "submit_patch", "arguments": {"summary": "worker patch"}}]}],
}


@pytest.fixture
def server() -> Any:
    """The scripted model server."""
    with ScriptedModelServer(Script(SCRIPT)) as running:
        yield running


def team(
    tmp_path: Path, server: ScriptedModelServer, strategy: str, priorities: dict[str, int] | None = None
) -> tuple[Session, Toolbox, SQLiteStore]:
    """A team whose every role speaks through the OpenAI SDK to the scripted server."""
    store = SQLiteStore(str(tmp_path / "agentd.db"))
    task, _ = store.enqueue(TaskRequested(repo="/r", description="d", base_ref="main", request_id="t"), "d", None)
    session_id = store.start_session(task, "debate", strategy)
    model = OpenAIModel("m", ModelConfig(provider="openai", model="m"), "k", base_url=server.openai_base_url)
    config = DebateConfig(strategy=strategy, priorities=priorities or {})  # type: ignore[arg-type]
    (tmp_path / "ws").mkdir()
    policy = load_policy()
    tools = Toolbox(CodeTool(tmp_path / "ws", policy), None, None, policy, Redactor())
    recorder = StoreRecorder(store, task, session_id)
    crew = Session(lambda _role: model, recorder, config, TeamConfig(max_steps_per_turn=4), threading.Event())
    return crew, tools, store


def briefs(server: ScriptedModelServer) -> dict[str, str]:
    """role -> the first user message it was sent."""
    found = {}
    for request in server.requests:
        messages = request.body["messages"]
        role = next(m["content"] for m in messages if m["role"] == "system").split("\n")[0].removeprefix("Role: ")
        found.setdefault(role, next(m["content"] for m in messages if m["role"] == "user"))
    return found


def test_broadcast_speakers_do_not_see_each_other(tmp_path: Path, server: ScriptedModelServer) -> None:
    """broadcast: everyone answers the same brief, independently."""
    crew, tools, _ = team(tmp_path, server, "broadcast")
    people = [crew.participant(r) for r in ("critic", "reviewer", "tester")]
    turns = crew.phase(people, "Judge this.", lambda _w: tools, "p")
    assert {t.agent for t in turns if t.submission} == {"critic", "reviewer", "tester"}
    assert set(briefs(server).values()) == {"Judge this."}


def test_round_robin_each_sees_those_before(tmp_path: Path, server: ScriptedModelServer) -> None:
    """round_robin: the second speaker's brief holds the first's answer, the third's both."""
    crew, tools, _ = team(tmp_path, server, "round_robin")
    crew.phase([crew.participant(r) for r in ("critic", "reviewer", "tester")], "Judge this.", lambda _w: tools, "p")
    seen = briefs(server)
    assert "others before you" not in seen["critic"]
    assert "critic here" in seen["reviewer"]
    assert "critic here" in seen["tester"]
    assert "reviewer here" in seen["tester"]


def test_priority_speaks_highest_first(tmp_path: Path, server: ScriptedModelServer) -> None:
    """priority: the order follows [debate] priorities, highest first, each seeing those before."""
    crew, tools, _ = team(tmp_path, server, "priority", {"tester": 9, "critic": 5, "reviewer": 1})
    turns = crew.phase([crew.participant(r) for r in ("reviewer", "critic", "tester")], "Go.", lambda _w: tools, "p")
    assert [t.agent for t in turns] == ["tester", "critic", "reviewer"]
    assert "tester here" in briefs(server)["critic"]


def test_moderator_frames_then_the_others_answer(tmp_path: Path, server: ScriptedModelServer) -> None:
    """moderator_led: the moderator speaks first and the others see its frame."""
    crew, tools, _ = team(tmp_path, server, "moderator_led")
    people = [crew.participant(r) for r in ("critic", "moderator", "tester")]
    turns = crew.phase(people, "Go.", lambda _w: tools, "p")
    assert turns[0].agent == "moderator"
    assert "the frame: tests decide" in briefs(server)["critic"]
    assert "the frame: tests decide" in briefs(server)["tester"]


def test_hierarchical_supervisors_synthesise_workers(tmp_path: Path, server: ScriptedModelServer) -> None:
    """hierarchical: workers answer first (in parallel), then the supervisor sees their answers."""
    crew, tools, _ = team(tmp_path, server, "hierarchical")
    people = [
        crew.participant("supervisor"),
        crew.participant("worker", "worker-1"),
        crew.participant("worker", "worker-2"),
    ]
    turns = crew.phase(people, "Go.", lambda _w: tools, "p")
    assert [t.agent for t in turns][-1] == "supervisor"
    assert briefs(server)["supervisor"].count("worker patch") == 2


def test_strategy_can_switch_between_phases(tmp_path: Path, server: ScriptedModelServer) -> None:
    """One session runs a broadcast phase and then a round_robin phase."""
    crew, tools, store = team(tmp_path, server, "broadcast")
    crew.phase([crew.participant("critic"), crew.participant("reviewer")], "One.", lambda _w: tools, "a")
    crew.phase(
        [crew.participant("tester"), crew.participant("evaluator")],
        "Two.",
        lambda _w: tools,
        "b",
        strategy="round_robin",
    )
    assert "tester here" in briefs(server)["evaluator"]
    assert len(store.task_record(1).sessions[0].turns) == 4


def test_a_failing_participant_drops_out_and_the_phase_goes_on(tmp_path: Path) -> None:
    """A participant whose model fails fatally is recorded as dropped; the others still answer."""
    script = {**SCRIPT, "observer": [{"error": 400}, review("unreachable: 400 is fatal")]}
    with ScriptedModelServer(Script(script)) as server:
        crew, tools, store = team(tmp_path, server, "broadcast")
        turns = crew.phase([crew.participant("critic"), crew.participant("observer")], "Go.", lambda _w: tools, "p")
    statuses = {t.agent: t.status for t in turns}
    assert statuses == {"critic": "done", "observer": "failed"}
    assert crew.dropped[0]["participant"] == "observer"
    recorded = {t.agent: t.status for t in store.task_record(1).sessions[0].turns}
    assert recorded == {"critic": "done", "observer": "failed"}


def test_a_stuck_agent_is_stopped(tmp_path: Path) -> None:
    """An agent repeating the same tool call with the same result ends its turn as stuck."""
    read = {"tool_calls": [{"name": "code", "arguments": {"action": "list", "file_path": "."}}]}
    with ScriptedModelServer(Script({"critic": [read, read, read, review("never")]})) as server:
        crew, tools, _ = team(tmp_path, server, "broadcast")
        (turn,) = crew.phase([crew.participant("critic")], "Go.", lambda _w: tools, "p")
    assert turn.status == "stuck"
    assert len(server.requests) == 2
