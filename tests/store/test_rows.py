"""The stores' shared row shaping, over plain dicts: JSON columns decoded, 0/1 as booleans, typed rows."""

from __future__ import annotations

import json

import pytest

from agentd.kernel.events import CommitPushed, PullRequestUpdated
from agentd.store import queries, records, rows


def test_task_from_row_decodes_the_event_and_the_test_flag() -> None:
    """A tasks row with its event payload becomes a Task; tests_passed 0/1/NULL becomes False/True/None."""
    event = CommitPushed(repo="/r", branch="main", sha="a" * 40, parent_sha=None)
    row = {
        "id": 3,
        "kind": "commit",
        "description": "c",
        "status": "fixed",
        "base_sha": "a" * 40,
        "summary": "",
        "branch": None,
        "commit_sha": None,
        "tests_passed": 0,
        "payload": event.model_dump_json(),
        "created_at": 1.0,
        "finished_at": None,
    }
    task = rows.task_from_row(row)
    assert (task.id, task.event, task.tests_passed) == (3, event, False)
    assert rows.task_from_row({**row, "tests_passed": None}).tests_passed is None


def turn_row(turn_id: int, submission: str | None) -> dict[str, object]:
    """A debate_turns row as a backend fetches it."""
    return {
        "id": turn_id,
        "session_id": 1,
        "seq": 0,
        "agent": "p",
        "role": "proposer",
        "model": "m",
        "content": "",
        "submission": submission,
        "status": "done",
        "input_tokens": 1,
        "output_tokens": 2,
        "latency_ms": 3,
        "created_at": 1.0,
    }


def test_session_record_decodes_verdict_submissions_and_tool_calls() -> None:
    """A session with its turns and calls comes back with every JSON column decoded and its flags as booleans."""
    session = {
        "id": 1,
        "task_id": 2,
        "protocol": "debate",
        "strategy": "broadcast",
        "status": "agreed",
        "verdict": json.dumps({"accepted": True}),
        "created_at": 1.0,
        "finished_at": None,
        "project_id": None,  # a column only old stores have is passed over
    }
    call = {
        "id": 9,
        "session_id": 1,
        "turn_seq": 0,
        "agent": "p",
        "tool": "execute_command",
        "arguments": json.dumps({"cmd": "ls"}),
        "decision": "allowed",
        "rule": "",
        "ok": 1,
        "exit_code": 0,
        "duration_ms": 4,
        "output": json.dumps({"stdout": ""}),
        "created_at": 1.0,
    }
    record = rows.session_record(session, [turn_row(7, json.dumps({"patch": "x"})), turn_row(8, None)], [call])
    assert record.verdict == {"accepted": True}
    assert [t.submission for t in record.turns] == [{"patch": "x"}, None]
    assert record.turns[0].latency_ms == 3.0 and isinstance(record.turns[0].latency_ms, float)
    (shaped,) = record.tool_calls
    assert (shaped.arguments, shaped.output, shaped.ok) == ({"cmd": "ls"}, {"stdout": ""}, True)


def test_task_record_without_usage_or_job_has_zero_usage_and_no_job() -> None:
    """A task no job ever ran has zero usage and `job` None."""
    assert rows.task_record([], [], None, None) == records.TaskRecord((), (), records.Usage(), None)


def test_stats_shapes_grouped_counts_and_totals() -> None:
    """Grouped (k, n) rows become {k: n} maps; the totals rows become typed totals."""
    usage = {"input_tokens": 10, "output_tokens": 4, "calls": 2, "cost_usd": 0}
    counts = {"jobs": [{"k": "done", "n": 2}], "tasks": [], "tool_calls": [{"k": "refused", "n": 1}]}
    stats = rows.stats(counts, usage, {"n": 1, "seconds": 0}, {"n": 3})
    assert stats == records.Stats(
        jobs={"done": 2},
        tasks={},
        tool_calls={"refused": 1},
        input_tokens=10,
        output_tokens=4,
        model_calls=2,
        cost_usd=0.0,
        tasks_finished=1,
        task_seconds=0.0,
        sandbox_commands=3,
    )
    assert isinstance(stats.cost_usd, float) and isinstance(stats.task_seconds, float)


def test_unknown_task_fields_are_refused_before_sql() -> None:
    """A field name that is not a task column raises instead of reaching an UPDATE."""
    assert queries.update_task(["tests_passed", "status"]) == (
        "UPDATE tasks SET status = :status, tests_passed = :tests_passed WHERE id = :task_id"
    )
    with pytest.raises(ValueError, match="unknown task fields"):
        queries.update_task(["status = 'x'; --"])


def test_only_pull_request_events_have_a_subject() -> None:
    """A PR event's tasks share the subject pr:N (newer heads supersede older ones); a commit has none."""
    pr = PullRequestUpdated(repo="/r", number=5, head_sha="b" * 40, base_branch="main")
    assert rows.task_subject(pr) == "pr:5"
    assert rows.task_subject(CommitPushed(repo="/r", branch="main", sha="a" * 40, parent_sha=None)) is None
