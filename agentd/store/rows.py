"""Rows in, records out: the pure functions that shape database rows into the store's records.

A row is a column-name-to-value mapping, as both backends fetch it. Shaping decodes the JSON
columns, turns INTEGER 0/1 flags back into booleans and gives aggregates one Python type whatever
the backend summed them as; the `*_params` functions turn what callers record into INSERT
parameters. No SQL runs here.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from agentd.kernel.events import Event, PullRequestUpdated, event_from_json
from agentd.store.records import (
    TASK_FIELDS,
    CodeVersion,
    DebateSession,
    HistoryEntry,
    JobState,
    ModelOutcomes,
    SessionRecord,
    SessionSummary,
    Span,
    Stats,
    Task,
    TaskRecord,
    ToolCall,
    Turn,
    Usage,
)

Row = Mapping[str, Any]
RecordT = TypeVar("RecordT")


def check_task_fields(fields: Iterable[str]) -> None:
    """Refuse task fields `update_task` does not know, before any of them reaches SQL."""
    unknown = set(fields) - TASK_FIELDS
    if unknown:
        raise ValueError(f"unknown task fields: {sorted(unknown)}")


def task_subject(event: Event) -> str | None:
    """What newer tasks supersede older ones on: the pull request, for PR events; else nothing."""
    return f"pr:{event.number}" if isinstance(event, PullRequestUpdated) else None


def task_head(event: Event) -> str | None:
    """The head a superseding task is about (a pull request's head commit); None for other events."""
    return event.head_sha if isinstance(event, PullRequestUpdated) else None


def _flag(value: Any) -> bool | None:
    """An INTEGER 0/1 column (NULL for not known) as a boolean."""
    return None if value is None else bool(value)


def _json_or_none(value: Any) -> Any:
    return json.loads(value) if value else None


_FIELD_NAMES: dict[type[Any], tuple[str, ...]] = {}


def pick(cls: type[RecordT], row: Row, **shaped: Any) -> RecordT:
    """A record of `cls` from the row's columns of the same names; `shaped` gives decoded values."""
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]
    return cls(**{name: shaped[name] if name in shaped else row[name] for name in names})


def task_from_row(row: Row) -> Task:
    """A task from a tasks row joined with its event's payload."""
    return pick(Task, row, tests_passed=_flag(row["tests_passed"]), event=event_from_json(row["payload"]))


def turn_from_row(row: Row) -> Turn:
    """A debate turn with its submission decoded."""
    return pick(Turn, row, submission=_json_or_none(row["submission"]), latency_ms=float(row["latency_ms"]))


def tool_call_from_row(row: Row) -> ToolCall:
    """A tool call with its arguments and output decoded and `ok` as a boolean."""
    return pick(
        ToolCall,
        row,
        arguments=json.loads(row["arguments"]),
        output=json.loads(row["output"]),
        ok=bool(row["ok"]),
        duration_ms=float(row["duration_ms"]),
    )


def span_from_row(row: Row) -> Span:
    """A span with its attributes decoded."""
    decoded = json.loads(row["attributes"])
    return pick(
        Span, row, attributes=decoded, duration_ms=float(row["duration_ms"]), started_at=float(row["started_at"])
    )


def session_from_row(row: Row) -> DebateSession:
    """A debate session with its verdict decoded."""
    return pick(DebateSession, row, verdict=_json_or_none(row["verdict"]))


def session_summary(row: Row) -> SessionSummary:
    """A debate session row with its `turns` and `tool_calls` counts."""
    return pick(SessionSummary, row, verdict=_json_or_none(row["verdict"]))


def session_record(session: Row, turns: Iterable[Row], calls: Iterable[Row]) -> SessionRecord:
    """One session of a task record: the session with its turns and tool calls."""
    return pick(
        SessionRecord,
        session,
        verdict=_json_or_none(session["verdict"]),
        turns=tuple(turn_from_row(t) for t in turns),
        tool_calls=tuple(tool_call_from_row(c) for c in calls),
    )


def version_from_row(row: Row) -> CodeVersion:
    """A tested tree with its test outcome as a boolean."""
    return pick(CodeVersion, row, tests_passed=_flag(row["tests_passed"]))


def usage_from_row(row: Row | None) -> Usage:
    """Usage totals with one type per field, whatever the backend summed them as."""
    if row is None:
        return Usage()
    return Usage(int(row["input_tokens"]), int(row["output_tokens"]), int(row["calls"]), float(row["cost_usd"]))


def task_record(
    sessions: Iterable[SessionRecord], versions: Iterable[Row], usage: Row | None, job: Row | None
) -> TaskRecord:
    """The whole record of a task from its session records, code versions, usage totals and job."""
    return TaskRecord(
        tuple(sessions),
        tuple(version_from_row(v) for v in versions),
        usage_from_row(usage),
        pick(JobState, job) if job else None,
    )


def history_entry(row: Row) -> HistoryEntry:
    """A finished task's history line with `tests_passed` as a boolean."""
    return pick(HistoryEntry, row, tests_passed=_flag(row["tests_passed"]))


def model_outcomes(row: Row) -> ModelOutcomes:
    """A model_stats row with its sums as floats."""
    return pick(ModelOutcomes, row, cost_usd=float(row["cost_usd"]), latency_ms=float(row["latency_ms"]))


def counts_by(rows: Iterable[Row]) -> dict[str, int]:
    """`{k: n}` from GROUP BY rows that name the group `k` and its count `n`."""
    return {str(r["k"]): int(r["n"]) for r in rows}


def stats(counts: Mapping[str, Iterable[Row]], usage: Row, finished: Row, commands: Row) -> Stats:
    """The metrics totals from grouped counts of jobs, tasks and tool calls (see `counts_by`) and totals rows."""
    return Stats(
        jobs=counts_by(counts["jobs"]),
        tasks=counts_by(counts["tasks"]),
        tool_calls=counts_by(counts["tool_calls"]),
        input_tokens=int(usage["input_tokens"]),
        output_tokens=int(usage["output_tokens"]),
        model_calls=int(usage["calls"]),
        cost_usd=float(usage["cost_usd"]),
        tasks_finished=int(finished["n"]),
        task_seconds=float(finished["seconds"]),
        sandbox_commands=int(commands["n"]),
    )


# ------------------------------------------------------------------ values out


def turn_params(session_id: int, turn: Mapping[str, Any], now: float) -> dict[str, Any]:
    """The debate_turns INSERT parameters for a turn dict."""
    return {
        "session_id": session_id,
        "seq": turn["seq"],
        "agent": turn["agent"],
        "role": turn["role"],
        "model": turn["model"],
        "content": turn.get("content", ""),
        "submission": json.dumps(turn.get("submission")),
        "status": turn.get("status", "done"),
        "input_tokens": turn.get("input_tokens", 0),
        "output_tokens": turn.get("output_tokens", 0),
        "latency_ms": float(turn.get("latency_ms", 0.0)),
        "now": now,
    }


def tool_call_params(session_id: int, call: Mapping[str, Any], now: float) -> dict[str, Any]:
    """The tool_calls INSERT parameters for a tool-call dict (arguments and output already JSON text)."""
    return {
        "session_id": session_id,
        "turn_seq": call["turn_seq"],
        "agent": call["agent"],
        "tool": call["tool"],
        "arguments": call["arguments"],
        "decision": call["decision"],
        "rule": call.get("rule", ""),
        "ok": int(call["ok"]),
        "exit_code": call.get("exit_code"),
        "duration_ms": float(call.get("duration_ms", 0.0)),
        "output": call["output"],
        "now": now,
    }


def code_version_params(task_id: int, version: Mapping[str, Any], now: float) -> dict[str, Any]:
    """The code_versions INSERT parameters for a version dict."""
    passed = version.get("tests_passed")
    return {
        "task_id": task_id,
        "kind": version["kind"],
        "sha": version.get("sha"),
        "diff": version.get("diff", ""),
        "tests_passed": None if passed is None else int(passed),
        "test_output": version.get("test_output", ""),
        "now": now,
    }


def task_field_params(fields: Mapping[str, Any]) -> dict[str, Any]:
    """`update_task`'s fields as parameters; flags as INTEGER 0/1 (PostgreSQL would bind a bool as boolean)."""
    return {name: int(value) if isinstance(value, bool) else value for name, value in fields.items()}
