"""The pool's circuit breaker in a real job: a failing endpoint trips it, the fallback finishes, recovery closes it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from agentd.app import App
from agentd.config import load_config
from agentd.kernel.events import TaskRequested
from agentd.kernel.seams import Message
from agentd.models.scripted import Script, ScriptedModelServer
from tests.engine.test_debate_protocols import DEMO, setup

pytestmark = pytest.mark.docker
RESET_S = 4.0


def failing(turns: int) -> dict[str, Any]:
    """Every request of any role, at any turn: a 503, and on the retry no answer at all (a timeout)."""
    return {"*": [step for _ in range(turns) for step in ({"error": 503}, {"fault": "hang"}, {"text": "unused"})]}


def test_a_failing_endpoint_trips_the_breaker_the_fallback_finishes_and_recovery_closes_it(
    tmp_path: Path, sample_repo: Path, sandbox_image: str
) -> None:
    """503s and timeouts open the primary's circuit, the chain's fallback does the task, a recovered primary answers."""
    with ScriptedModelServer(Script(failing(10))) as primary:
        chain = '["primary", "default"]'
        extra = (
            '[debate]\nprotocol = "vote"\nproposers = 1\n'
            f'[models.primary]\nprovider = "openai"\nmodel = "p"\nbase_url = "{primary.openai_base_url}"\n'
            f"timeout_s = 1\nmax_retries = 1\nretry_base_s = 0.01\nbreaker_failures = 3\nbreaker_reset_s = {RESET_S}\n"
            f"[prices.p]\ninput_usd_per_mtok = 0.0\noutput_usd_per_mtok = 0.0\n"
            f"[roles]\nproposer = {chain}\ncritic = {chain}\njudge = {chain}\n"
        )
        config = load_config(setup(tmp_path, sample_repo, DEMO, extra))
        app = App(config)
        breaker = app.deps.models.breakers["primary"]
        event = TaskRequested(repo=config.repository.source, description="fix", base_ref="main", request_id="b")
        task_id, _ = app.store.enqueue(event, "fix TestTotal", None)
        started = time.monotonic()
        while not (task := app.store.get_task(task_id)) or not task.done:
            assert app.work_once(), "the queue ran dry before the task finished"
        seconds = time.monotonic() - started
        record = app.store.task_record(task_id)
        turns = record.sessions[0].turns
        tripped = breaker.state
        asked_while_failing = len(primary.requests)
        primary.script = Script({"*": [{"text": "the primary is back"}]})
        primary.reset()
        time.sleep(RESET_S)
        answer = app.deps.models.for_job("task", _no_budget(), [])("critic").complete(
            [Message("system", "Role: critic"), Message("user", "are you back?")], []
        )
        app.store.close()
    assert task.status == "fixed", task.summary
    assert {t.model for t in turns} == {"default:m"}  # every turn answered by the fallback
    assert tripped in ("open", "half_open")
    # A failing call costs the primary two requests (a 503, then a timeout). Without the breaker each of the
    # task's model calls would; with it, only the three that open it and one trial per reset period do.
    trials = seconds / RESET_S + 1
    assert asked_while_failing <= 2 * (3 + trials)
    assert asked_while_failing < 2 * record.usage.calls
    assert answer.text == "the primary is back" and answer.model == "primary:p"
    assert breaker.state == "closed"


def _no_budget() -> Any:
    """A budget guard that never stops a call (this test is about the breaker)."""
    from agentd.models.budget import BudgetConfig, BudgetGuard  # noqa: PLC0415

    return BudgetGuard(BudgetConfig(), 0.0)
