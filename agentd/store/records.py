"""The records the store hands out: typed, frozen, the same from both backends (see agentd.store.rows)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from agentd.kernel.events import Event

TASK_DONE_STATES = ("fixed", "reviewed", "no_fix", "no_consensus", "failed", "cancelled", "superseded", "refused")
TASK_FIELDS = frozenset({"status", "summary", "branch", "commit_sha", "tests_passed", "finished_at", "base_sha"})


@dataclass(frozen=True)
class Task:
    """A unit of work users see: one per event."""

    id: int
    kind: str
    description: str
    status: str
    base_sha: str | None
    summary: str
    branch: str | None
    commit_sha: str | None
    tests_passed: bool | None
    event: Event
    created_at: float
    finished_at: float | None

    @property
    def done(self) -> bool:
        """Whether the task reached a final state."""
        return self.status in TASK_DONE_STATES


@dataclass(frozen=True)
class Lease:
    """A worker's claim on a job until `expires` (renewed while it works)."""

    job_id: int
    task_id: int
    owner: str
    expires: float
    attempts: int


@dataclass(frozen=True)
class Delivery:
    """What became of a webhook delivery: a replay (`duplicate`), or accepted with the task it made or found."""

    duplicate: bool
    task_id: int | None = None
    created: bool = False


@dataclass(frozen=True)
class Turn:
    """One completed agent turn; `submission` is the decoded submit-tool arguments that ended it."""

    id: int
    session_id: int
    seq: int
    agent: str
    role: str
    model: str
    content: str
    submission: Any
    status: str
    input_tokens: int
    output_tokens: int
    latency_ms: float
    created_at: float


@dataclass(frozen=True)
class ToolCall:
    """One tool call, allowed or refused, with its decoded arguments and output."""

    id: int
    session_id: int
    turn_seq: int
    agent: str
    tool: str
    arguments: Any
    decision: str
    rule: str
    ok: bool
    exit_code: int | None
    duration_ms: float
    output: Any
    created_at: float


@dataclass(frozen=True)
class Span:
    """One finished phase or call of a task's job (an OpenTelemetry span), with its decoded attributes."""

    id: int
    task_id: int
    span_id: str
    parent_id: str | None
    name: str
    started_at: float
    duration_ms: float
    status: str
    attributes: dict[str, Any]


@dataclass(frozen=True)
class DebateSession:
    """A debate session and, once it finished, its decoded verdict."""

    id: int
    task_id: int
    protocol: str
    strategy: str
    status: str
    verdict: dict[str, Any] | None
    created_at: float
    finished_at: float | None


@dataclass(frozen=True)
class SessionRecord(DebateSession):
    """A debate session with its turns and tool calls, oldest first."""

    turns: tuple[Turn, ...]
    tool_calls: tuple[ToolCall, ...]


@dataclass(frozen=True)
class SessionSummary(DebateSession):
    """A debate session with how many turns and tool calls it has."""

    turns: int
    tool_calls: int


@dataclass(frozen=True)
class CodeVersion:
    """A tree agentd tested itself: base, candidate or final."""

    id: int
    task_id: int
    kind: str
    sha: str | None
    diff: str
    tests_passed: bool | None
    test_output: str
    created_at: float


@dataclass(frozen=True)
class Usage:
    """Tokens, model calls and dollars of a task."""

    input_tokens: int = 0
    output_tokens: int = 0
    calls: int = 0
    cost_usd: float = 0.0


@dataclass(frozen=True)
class JobState:
    """The queue's view of a task."""

    status: str
    attempts: int
    error: str | None


@dataclass(frozen=True)
class TaskRecord:
    """Everything a task left in the store; `job` is None for a task no job was made for."""

    sessions: tuple[SessionRecord, ...]
    versions: tuple[CodeVersion, ...]
    usage: Usage
    job: JobState | None


@dataclass(frozen=True)
class Activity:
    """A task's turns and tool calls written after a point, oldest first (for live streams)."""

    turns: tuple[Turn, ...]
    tool_calls: tuple[ToolCall, ...]


@dataclass(frozen=True)
class HistoryEntry:
    """A finished task with its outcome and its cost in tokens."""

    id: int
    kind: str
    description: str
    status: str
    branch: str | None
    commit_sha: str | None
    tests_passed: bool | None
    created_at: float
    finished_at: float | None
    input_tokens: int
    output_tokens: int
    model_calls: int


@dataclass(frozen=True)
class Agent:
    """An agent that took a turn."""

    name: str
    role: str
    model: str
    created_at: float


@dataclass(frozen=True)
class ModelOutcomes:
    """One model's totals for one kind of task (what adaptive model choice learns from)."""

    kind: str
    model: str
    runs: int
    agreed: int
    green: int
    cost_usd: float
    latency_ms: float


@dataclass(frozen=True)
class Stats:
    """Totals for metrics: jobs, tasks and tool calls by status or decision; tokens, calls, dollars, time."""

    jobs: dict[str, int]
    tasks: dict[str, int]
    tool_calls: dict[str, int]
    input_tokens: int
    output_tokens: int
    model_calls: int
    cost_usd: float
    tasks_finished: int
    task_seconds: float
    sandbox_commands: int


def as_dict(record: Any) -> dict[str, Any]:
    """A record as plain JSON-ready data (for redaction, the API and `agentd show --json`)."""
    shaped: dict[str, Any] = dataclasses.asdict(record)
    return shaped
