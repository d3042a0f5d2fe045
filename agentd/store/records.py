"""Rows in, records out: the backend-independent shaping both stores share.

Pure functions over plain rows (a column-name-to-value mapping, as both backends fetch them) and
plain dicts: decoding JSON columns, INTEGER 0/1 back to booleans, the task record and metrics
shapes, and the parameter tuples of the INSERTs whose columns both schemas share. No SQL runs here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from agentd.kernel.events import Event, PullRequestUpdated, event_from_json
from agentd.store.base import Task

Row = Mapping[str, Any]

TASK_FIELDS = frozenset({"status", "summary", "branch", "commit_sha", "tests_passed", "finished_at", "base_sha"})


def check_task_fields(fields: Iterable[str]) -> None:
    """Refuse task fields `update_task` does not know, before any of them reaches SQL."""
    unknown = set(fields) - TASK_FIELDS
    if unknown:
        raise ValueError(f"unknown task fields: {sorted(unknown)}")


def task_subject(event: Event) -> str | None:
    """What newer tasks supersede older ones on: the pull request, for PR events; else nothing."""
    return f"pr:{event.number}" if isinstance(event, PullRequestUpdated) else None


def _flag(value: Any) -> bool | None:
    """An INTEGER 0/1 column (NULL for not known) as a boolean."""
    return None if value is None else bool(value)


def _json_or_none(value: Any) -> Any:
    return json.loads(value) if value else None


def task_from_row(row: Row) -> Task:
    """A task from a tasks row joined with its event's payload."""
    return Task(
        id=row["id"],
        kind=row["kind"],
        description=row["description"],
        status=row["status"],
        base_sha=row["base_sha"],
        summary=row["summary"],
        branch=row["branch"],
        commit_sha=row["commit_sha"],
        tests_passed=_flag(row["tests_passed"]),
        event=event_from_json(row["payload"]),
        created_at=row["created_at"],
        finished_at=row["finished_at"],
    )


def turn_from_row(row: Row) -> dict[str, Any]:
    """A debate turn with its submission decoded."""
    return {**row, "submission": _json_or_none(row["submission"])}


def tool_call_from_row(row: Row) -> dict[str, Any]:
    """A tool call with its arguments and output decoded."""
    return {**row, "arguments": json.loads(row["arguments"]), "output": json.loads(row["output"])}


def session_from_row(row: Row) -> dict[str, Any]:
    """A debate session with its verdict decoded."""
    return {**row, "verdict": _json_or_none(row["verdict"])}


def history_entry(row: Row) -> dict[str, Any]:
    """A finished task's history line with `tests_passed` as a boolean."""
    return {**row, "tests_passed": _flag(row["tests_passed"])}


def session_record(session: Row, turns: Iterable[Row], calls: Iterable[Row]) -> dict[str, Any]:
    """One session of a task record: the session with its turns and tool calls."""
    return {
        **session_from_row(session),
        "turns": [turn_from_row(t) for t in turns],
        "tool_calls": [tool_call_from_row(c) for c in calls],
    }


def task_record(
    sessions: list[dict[str, Any]], versions: Iterable[Row], usage: Row | None, job: Row | None
) -> dict[str, Any]:
    """The whole record of a task from its session records, code versions, usage totals and job."""
    return {
        "sessions": sessions,
        "versions": [dict(v) for v in versions],
        "usage": dict(usage) if usage else {},
        "job": dict(job) if job else {},
    }


def task_activity(turns: Iterable[Row], calls: Iterable[Row]) -> dict[str, Any]:
    """New turns and tool calls of a task, decoded, for live streams."""
    return {"turns": [turn_from_row(t) for t in turns], "tool_calls": [tool_call_from_row(c) for c in calls]}


def counts_by(rows: Iterable[Row]) -> dict[str, int]:
    """`{k: n}` from GROUP BY rows that name the group `k` and its count `n`."""
    return {str(r["k"]): int(r["n"]) for r in rows}


def stats(jobs: Iterable[Row], tasks: Iterable[Row], tool_calls: Iterable[Row], usage: Row) -> dict[str, Any]:
    """The metrics totals from grouped counts (see `counts_by`) and one usage-totals row."""
    return {
        "jobs": counts_by(jobs),
        "tasks": counts_by(tasks),
        "tool_calls": counts_by(tool_calls),
        "input_tokens": int(usage["input_tokens"]),
        "output_tokens": int(usage["output_tokens"]),
        "model_calls": int(usage["calls"]),
        "cost_usd": float(usage["cost_usd"]),
    }


def turn_params(session_id: int, turn: Mapping[str, Any], now: float) -> tuple[Any, ...]:
    """The debate_turns INSERT values, session_id through created_at, for a turn dict."""
    return (
        session_id,
        turn["seq"],
        turn["agent"],
        turn["role"],
        turn["model"],
        turn.get("content", ""),
        json.dumps(turn.get("submission")),
        turn.get("status", "done"),
        turn.get("input_tokens", 0),
        turn.get("output_tokens", 0),
        float(turn.get("latency_ms", 0.0)),
        now,
    )


def tool_call_params(session_id: int, call: Mapping[str, Any], now: float) -> tuple[Any, ...]:
    """The tool_calls INSERT values, session_id through created_at, for a tool-call dict."""
    return (
        session_id,
        call["turn_seq"],
        call["agent"],
        call["tool"],
        call["arguments"],
        call["decision"],
        call.get("rule", ""),
        int(call["ok"]),
        call.get("exit_code"),
        float(call.get("duration_ms", 0.0)),
        call["output"],
        now,
    )


def code_version_params(task_id: int, version: Mapping[str, Any], now: float) -> tuple[Any, ...]:
    """The code_versions INSERT values, task_id through created_at, for a version dict."""
    passed = version.get("tests_passed")
    return (
        task_id,
        version["kind"],
        version.get("sha"),
        version.get("diff", ""),
        None if passed is None else int(passed),
        version.get("test_output", ""),
        now,
    )
