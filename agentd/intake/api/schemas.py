"""The REST API's contract: the wire models, the route table and the OpenAPI document built from both.

Every answer the API sends is shaped by one of these pydantic models (or by a store record they
reuse as it is), and `openapi_document` generates its schemas from the same models and its operations
from `ROUTES`, so the document cannot drift from what the endpoints send. Routing and the handlers
live in agentd.intake.api.routes.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from importlib import metadata
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema

from agentd.intake.http import JSON
from agentd.kernel.events import Event
from agentd.store.records import TASK_DONE_STATES, Agent, CodeVersion, HistoryEntry, JobState, Span, Task

MAX_BODY = 64 * 1024
MAX_ID = 2**63 - 1
TASK_STATES = ("queued", "running", *TASK_DONE_STATES)
TaskStatus = Literal[
    "queued", "running", "fixed", "reviewed", "no_fix", "no_consensus", "failed", "cancelled", "superseded", "refused"
]
_REF = r"^[^\s\x00-\x1f\x7f~^:?*\[\\-][^\s\x00-\x1f\x7f~^:?*\[\\]*$"

# ------------------------------------------------------------------ wire models


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class TaskRequest(BaseModel):
    """A change a person asks for (POST /api/v1/tasks)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = Field(min_length=1, max_length=20_000, pattern=r"\S", description="What to change.")
    base_ref: str | None = Field(
        None, max_length=200, pattern=_REF, description="Branch or commit to start from; default: the first watched."
    )
    kind: Literal["fix", "feature", "optimize", "review"] = "fix"
    request_id: str | None = Field(
        None,
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9._:-]+$",
        description="Idempotency key chosen by the client: the same id twice makes one task.",
    )


class TaskAccepted(_View):
    """The task a request made (or had made before, for a repeated request id)."""

    id: int
    created: bool = Field(description="False when the request id was seen before.")


class TaskView(_View):
    """A unit of work users see: one per event."""

    id: int
    kind: str
    description: str
    status: str
    done: bool = Field(description="Whether the task reached a final state.")
    base_sha: str | None
    summary: str
    branch: str | None
    commit_sha: str | None
    tests_passed: bool | None
    created_at: float = Field(description="Unix time.")
    finished_at: float | None
    event: Event


def task_data(task: Task) -> dict[str, Any]:
    """A task as TaskView's plain data (before redaction): its fields, `done`, and its event as JSON."""
    fields = {f.name: getattr(task, f.name) for f in dataclasses.fields(task) if f.name != "event"}
    return {**fields, "done": task.done, "event": task.event.model_dump(mode="json")}


class TaskList(_View):
    """Tasks, newest first."""

    tasks: list[TaskView]


class TurnView(_View):
    """One completed agent turn."""

    id: int
    session_id: int
    seq: int
    agent: str
    role: str
    model: str
    content: str
    submission: Any = Field(None, description="The validated submit-tool arguments that ended the turn.")
    status: str
    input_tokens: int
    output_tokens: int
    latency_ms: float
    created_at: float


class ToolCallView(_View):
    """One tool call, allowed or refused, with the policy rule that decided."""

    id: int
    session_id: int
    turn_seq: int
    agent: str
    tool: str
    arguments: Any
    decision: str = Field(description="allowed, refused, invalid or failed.")
    rule: str
    ok: bool
    exit_code: int | None
    duration_ms: float
    output: Any
    created_at: float


class VerdictView(BaseModel):
    """How a debate session ended."""

    model_config = ConfigDict(frozen=True, extra="allow")

    accepted: bool | None = None
    summary: str | None = None
    reason: str | None = None
    votes: list[Any] = Field(default_factory=list)
    models: list[Any] = Field(default_factory=list)
    findings: list[Any] = Field(default_factory=list)


class _Session(_View):
    """The fields every view of a debate session has."""

    id: int
    task_id: int
    protocol: str
    strategy: str
    status: str
    verdict: VerdictView | None
    created_at: float
    finished_at: float | None


class SessionView(_Session):
    """A debate session with its turns and tool calls."""

    turns: list[TurnView]
    tool_calls: list[ToolCallView]


class UsageView(_View):
    """Tokens and model calls of a task."""

    input_tokens: int = 0
    output_tokens: int = 0
    calls: int = 0
    cost_usd: float = Field(0.0, description="Dollars, at the configured [prices]; 0 for unpriced models.")


class TaskRecord(_View):
    """Everything a task left in the store."""

    sessions: list[SessionView]
    versions: list[CodeVersion]
    usage: UsageView
    job: JobState | None


class TaskDetail(_View):
    """One task with its whole record."""

    task: TaskView
    record: TaskRecord


class SpanList(_View):
    """A task's spans, earliest first: the phase timeline of its job."""

    spans: list[Span]


class AgentList(_View):
    """Agents by name."""

    agents: list[Agent]


class SessionSummary(_Session):
    """A debate session without its turns."""

    turns: int = Field(description="Number of turns.")
    tool_calls: int = Field(description="Number of tool calls.")


class SessionList(_View):
    """Debate sessions, newest first."""

    sessions: list[SessionSummary]


class HistoryList(_View):
    """Finished tasks, latest first."""

    history: list[HistoryEntry]


class Health(_View):
    """Whether the daemon can do its work: `unhealthy` (HTTP 503) with what has not worked, and for how long."""

    status: Literal["ok", "unhealthy"] = "ok"
    problems: list[str] = Field(default_factory=list)


class Error(_View):
    """What went wrong; `detail` lists validation problems."""

    error: str
    detail: list[dict[str, Any]] | None = None


class ListQuery(BaseModel):
    """The query parameters of the list operations."""

    limit: int = Field(50, ge=1, le=1000)
    status: TaskStatus | None = None


# ------------------------------------------------------------------ routes


@dataclasses.dataclass(frozen=True)
class Route:
    """One operation: how it is served and how the OpenAPI document describes it."""

    method: str
    path: str
    handler: str
    operation_id: str
    summary: str
    ok: tuple[str, str, Mapping[str, Any]]  # status, content type, schema
    params: tuple[str, ...] = ()
    errors: tuple[int, ...] = ()
    body: str | None = None
    secured: bool = True
    also: tuple[tuple[str, str, Mapping[str, Any]], ...] = ()  # further answers with a body of their own

    @property
    def pattern(self) -> re.Pattern[str]:
        """The path template as a regex with one named group per parameter."""
        return re.compile(re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.path)))


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


_TEXT: Mapping[str, Any] = {"type": "string"}
ROUTES = (
    Route(
        "GET", "/healthz", "_health", "health", "Whether the daemon can do its work (503 with the problems when not).",
        ("200", JSON, _ref("Health")), secured=False,
        also=(("503", "The worker, the store or the Docker engine has not worked for too long.", _ref("Health")),),
    ),
    Route("GET", "/metrics", "_metrics", "metrics", "Prometheus metrics from the store.", ("200", "text/plain", _TEXT)),
    Route("GET", "/api/v1/openapi.json", "_openapi", "openapi", "This document.", ("200", JSON, {"type": "object"})),
    Route(
        "GET", "/api/v1/tasks", "_list_tasks", "listTasks", "Tasks, newest first.", ("200", JSON, _ref("TaskList")),
        ("limit", "status"), (422,),
    ),
    Route(
        "POST", "/api/v1/tasks", "_create_task", "createTask", "Ask the team for a change; idempotent by request_id.",
        ("202", JSON, _ref("TaskAccepted")), (), (400, 411, 413, 415, 422), body="TaskRequest",
    ),
    Route(
        "GET", "/api/v1/tasks/{id}", "_get_task", "getTask", "One task with its debate record.",
        ("200", JSON, _ref("TaskDetail")), ("id",), (404,),
    ),
    Route(
        "GET", "/api/v1/tasks/{id}/events", "_events", "streamTaskEvents",
        "Server-sent events: `turn` and `tool_call` (data: TurnView, ToolCallView) as they are written, "
        "`status` (data: TaskView) on each change, then `done` (data: TaskView). Event ids are "
        "`<turn id>.<tool call id>`; send the last one back as Last-Event-ID to resume after it.",
        ("200", "text/event-stream", _TEXT), ("id", "last_event_id"), (404, 503),
    ),
    Route(
        "GET", "/api/v1/tasks/{id}/spans", "_task_spans", "getTaskSpans",
        "The task's job as spans (queued, claim, fetch, worktree, sandbox start, test run, review, protocol, agent "
        "turns, model and tool calls, gate, publish, report), earliest first.",
        ("200", JSON, _ref("SpanList")), ("id",), (404,),
    ),
    Route("GET", "/api/v1/agents", "_agents", "listAgents", "Agents by name.", ("200", JSON, _ref("AgentList"))),
    Route(
        "GET", "/api/v1/sessions", "_sessions", "listSessions", "Debate sessions, newest first.",
        ("200", JSON, _ref("SessionList")), ("limit",), (422,),
    ),
    Route(
        "GET", "/api/v1/history", "_history", "listHistory", "Finished tasks with outcome and tokens.",
        ("200", JSON, _ref("HistoryList")), ("limit",), (422,),
    ),
    Route("GET", "/", "_dashboard", "dashboard", "The web dashboard.", ("200", "text/html", _TEXT), secured=False),
    Route(
        "GET", "/tasks/{id}", "_dashboard", "dashboardTask", "The web dashboard on one task.",
        ("200", "text/html", _TEXT), ("id",), (404,), secured=False,
    ),
)  # fmt: skip
ERRORS = {
    400: "The body is not valid UTF-8 JSON.",
    401: "Missing or wrong bearer token.",
    404: "No such task.",
    411: "Content-Length is missing.",
    413: f"The body is over {MAX_BODY} bytes.",
    415: "The body is not application/json.",
    422: "Invalid input; `detail` lists the problems.",
    500: "An unexpected failure (logged; no details are sent).",
    503: "Too many live streams; retry later.",
}
PARAMETERS: Mapping[str, Mapping[str, Any]] = {
    "limit": {
        "in": "query",
        "name": "limit",
        "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 50},
    },
    "status": {"in": "query", "name": "status", "schema": {"type": "string", "enum": list(TASK_STATES)}},
    "id": {
        "in": "path",
        "name": "id",
        "required": True,
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
    },
    "last_event_id": {"in": "header", "name": "Last-Event-ID", "schema": {"type": "string"}},
}


def _operation(route: Route) -> dict[str, Any]:
    status, content_type, schema = route.ok
    responses: dict[str, Any] = {status: {"description": route.summary, "content": {content_type: {"schema": schema}}}}
    for code in (*route.errors, *((401,) if route.secured else ()), 500):
        responses[str(code)] = {"description": ERRORS[code], "content": {JSON: {"schema": _ref("Error")}}}
    for code_text, description, body in route.also:
        responses[code_text] = {"description": description, "content": {JSON: {"schema": body}}}
    operation: dict[str, Any] = {"operationId": route.operation_id, "summary": route.summary, "responses": responses}
    if route.params:
        operation["parameters"] = [PARAMETERS[name] for name in route.params]
    if route.body:
        operation["requestBody"] = {"required": True, "content": {JSON: {"schema": _ref(route.body)}}}
    if not route.secured:
        operation["security"] = []
    return operation


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 description of every route, with schemas generated from the wire models."""
    models: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = [(TaskRequest, "validation")]
    models += [
        (model, "serialization")
        for model in (TaskAccepted, TaskList, TaskDetail, SpanList, AgentList, SessionList, HistoryList, Health, Error)
    ]
    _, schemas = models_json_schema(models, ref_template="#/components/schemas/{model}")
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    try:
        version = metadata.version("agentd")
    except metadata.PackageNotFoundError:
        version = "0.0.0"
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "agentd",
            "version": version,
            "description": "Tasks, debates, history and metrics of an agentd daemon. Every operation but /healthz "
            "and the dashboard pages needs `Authorization: Bearer <token>`.",
        },
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": schemas["$defs"],
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
