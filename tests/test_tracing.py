"""Every phase of a real job is a span: in the store for `agentd show`, and exported with OpenTelemetry."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentd.demo import break_the_build, make_sample_repo
from agentd.kernel import trace
from agentd.models.scripted import Script, ScriptedModelServer
from agentd.store import open_store
from tests.test_e2e import CANARY, only_task, run_daemon_until, write_config

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def collector() -> InMemorySpanExporter:
    """An in-process collector: the SDK's in-memory exporter, attached to agentd's tracer provider."""
    exporter = InMemorySpanExporter()
    trace.export_to(exporter, batch=False)
    return exporter


@pytest.fixture(scope="module")
def fixed(
    tmp_path_factory: pytest.TempPathFactory, sandbox_image: str, collector: InMemorySpanExporter
) -> Path:
    """One daemon run, shared by this module's tests, that fixed a test-breaking commit; yields its config path."""
    collector.clear()
    tmp_path = tmp_path_factory.mktemp("tracing")
    sample_repo = tmp_path / "shop"
    make_sample_repo(sample_repo)
    os.environ["AGENTD_TEST_OPENAI_KEY"] = CANARY
    with ScriptedModelServer(Script.load("demo")) as server:
        config_path = write_config(tmp_path, sample_repo, server)
        state_db = tmp_path / "state" / "agentd.db"
        broke: list[str] = []

        def finished() -> bool:
            watching = state_db.exists() and open_store(f"sqlite:///{state_db}").branch_head(str(sample_repo), "main")
            if not broke and watching:
                broke.append(break_the_build(sample_repo))
            task = only_task(config_path) if broke else None
            return bool(task and task.done)

        run_daemon_until(config_path, finished)
    del os.environ["AGENTD_TEST_OPENAI_KEY"]
    return config_path


def test_the_store_holds_every_phase_as_a_span_under_one_job(fixed: Path) -> None:
    """queued, claim, fetch, worktree, sandbox start, test runs, review, the protocol, agent turns, gate, publish and
    report are spans of the task, each a descendant of the job's root span."""
    store = open_store(f"sqlite:///{fixed.parent / 'state' / 'agentd.db'}")
    task = only_task(fixed)
    assert task is not None and task.status == "fixed"
    spans = store.task_spans(task.id)
    names = {span.name for span in spans}
    for phase in ("queued", "claim", "job", "fetch", "worktree", "sandbox start", "test run", "review"):
        assert phase in names, phase
    for phase in ("protocol auto", "invoke_agent reviewer", "invoke_agent proposer-1", "gate", "publish", "report"):
        assert phase in names, phase
    root = next(span for span in spans if span.name == "job")
    by_id = {span.span_id: span for span in spans}
    for span in spans:
        if span.name in {"queued", "claim", "job"}:
            continue
        ancestor = span
        while ancestor.parent_id in by_id:
            ancestor = by_id[ancestor.parent_id]
        assert ancestor is root, span.name
    gate_runs = [s for s in spans if s.name == "test run" and s.attributes.get("agentd.lane") == "gate"]
    assert [s.attributes["agentd.tests_passed"] for s in gate_runs] == [True]


def test_the_export_follows_the_genai_conventions(fixed: Path, collector: InMemorySpanExporter) -> None:
    """Exported spans: invoke_agent per turn, chat per model call with token usage, execute_tool per tool call."""
    spans = collector.get_finished_spans()
    chats = [s for s in spans if (s.attributes or {}).get("gen_ai.operation.name") == "chat"]
    agents = [s for s in spans if (s.attributes or {}).get("gen_ai.operation.name") == "invoke_agent"]
    tools = [s for s in spans if (s.attributes or {}).get("gen_ai.operation.name") == "execute_tool"]
    assert chats and agents and tools
    chat = chats[0].attributes or {}
    assert chat["gen_ai.provider.name"] == "openai"
    assert chat["gen_ai.request.model"] == "my-vllm-model"
    assert int(chat["gen_ai.usage.input_tokens"]) > 0
    assert {s.name for s in tools} >= {"execute_tool code"}
    agent_ids = {s.context.span_id for s in agents if s.context is not None}
    assert all(s.parent is not None and s.parent.span_id in agent_ids for s in chats)
    assert len({s.context.trace_id for s in spans if s.context is not None}) == 1


def test_agentd_show_prints_the_timeline(fixed: Path) -> None:
    """`agentd show ID` ends with the phase timeline: offsets, durations, nested phases and folded calls."""
    task = only_task(fixed)
    assert task is not None
    shown = subprocess.run(
        [sys.executable, "-m", "agentd", "show", str(task.id), "--config", str(fixed)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    timeline = shown[shown.index("timeline (offset from the event, duration):") :]
    assert " ms  job" in timeline
    assert "    gate" in timeline
    assert "model calls" in timeline


def test_the_proposers_lanes_are_made_while_the_reviewer_reads(fixed: Path) -> None:
    """The base tests failed, so the team will work: its lanes were started before the protocol began."""
    task = only_task(fixed)
    assert task is not None
    spans = open_store(f"sqlite:///{fixed.parent / 'state' / 'agentd.db'}").task_spans(task.id)
    protocol = next(span for span in spans if span.name.startswith("protocol "))
    made = [s for s in spans if s.name == "worktree" and str(s.attributes.get("agentd.lane")).startswith("proposer-")]
    assert len(made) == 3
    assert all(span.started_at < protocol.started_at for span in made)
