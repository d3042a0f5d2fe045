"""The stores' shared row shaping, over plain dicts: JSON columns decoded, 0/1 as booleans, record shapes."""

from __future__ import annotations

import json

import pytest

from agentd.kernel.events import CommitPushed, PullRequestUpdated
from agentd.store import records


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
    task = records.task_from_row(row)
    assert (task.id, task.event, task.tests_passed) == (3, event, False)
    assert records.task_from_row({**row, "tests_passed": None}).tests_passed is None


def test_session_record_decodes_verdict_submissions_and_tool_calls() -> None:
    """A session with its turns and calls comes back with every JSON column decoded, in the record's shape."""
    session = {"id": 1, "verdict": json.dumps({"accepted": True})}
    turns = [{"id": 7, "submission": json.dumps({"patch": "x"})}, {"id": 8, "submission": None}]
    calls = [{"id": 9, "arguments": json.dumps({"cmd": "ls"}), "output": json.dumps({"ok": True})}]
    record = records.session_record(session, turns, calls)
    assert record == {
        "id": 1,
        "verdict": {"accepted": True},
        "turns": [{"id": 7, "submission": {"patch": "x"}}, {"id": 8, "submission": None}],
        "tool_calls": [{"id": 9, "arguments": {"cmd": "ls"}, "output": {"ok": True}}],
    }


def test_task_record_without_usage_or_job_has_empty_dicts() -> None:
    """A task no job ever ran has {} for its usage and job, never None."""
    assert records.task_record([], [], None, None) == {"sessions": [], "versions": [], "usage": {}, "job": {}}


def test_stats_shapes_grouped_counts_and_usage_totals() -> None:
    """Grouped (k, n) rows become {k: n} maps; the usage row becomes typed totals."""
    usage = {"input_tokens": 10, "output_tokens": 4, "calls": 2, "cost_usd": 0}
    stats = records.stats([{"k": "done", "n": 2}], [], [{"k": "refused", "n": 1}], usage)
    assert stats == {
        "jobs": {"done": 2},
        "tasks": {},
        "tool_calls": {"refused": 1},
        "input_tokens": 10,
        "output_tokens": 4,
        "model_calls": 2,
        "cost_usd": 0.0,
    }
    assert isinstance(stats["cost_usd"], float)


def test_unknown_task_fields_are_refused_before_sql() -> None:
    """A field name that is not a task column raises instead of reaching an UPDATE."""
    records.check_task_fields(["status", "tests_passed"])
    with pytest.raises(ValueError, match="unknown task fields"):
        records.check_task_fields(["status = 'x'; --"])


def test_only_pull_request_events_have_a_subject() -> None:
    """A PR event's tasks share the subject pr:N (newer heads supersede older ones); a commit has none."""
    pr = PullRequestUpdated(repo="/r", number=5, head_sha="b" * 40, base_branch="main")
    assert records.task_subject(pr) == "pr:5"
    assert records.task_subject(CommitPushed(repo="/r", branch="main", sha="a" * 40, parent_sha=None)) is None
