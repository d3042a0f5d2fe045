"""The REST API, Prometheus metrics and web dashboard, served by the daemon's own process.

`Api` is the core: it maps one request (method, target, headers, body) to a `Response` and never
touches a socket. `ApiServer` is the thin HTTP shell around it on a `ThreadingHTTPServer`. The
answers are shaped by pydantic models, and the OpenAPI document is generated from the same models,
so the document cannot drift from what the endpoints send.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Generator, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import metadata, resources
from types import TracebackType
from typing import Any, Literal, cast
from urllib.parse import parse_qs, unquote, urlsplit

import structlog
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.json_schema import models_json_schema

from agentd.config import Config
from agentd.errors import ConfigError
from agentd.events import Event, TaskRequested
from agentd.redact import Redactor
from agentd.store import TASK_DONE_STATES, Store, Task

log = structlog.get_logger("agentd.api")

JSON = "application/json"
HTML = "text/html; charset=utf-8"
SSE = "text/event-stream; charset=utf-8"
PROMETHEUS = "text/plain; version=0.0.4; charset=utf-8"
MAX_BODY = 64 * 1024
_DRAIN_LIMIT = 1 << 20
POLL_S = 0.25
KEEPALIVE_S = 10.0  # also how soon a stream notices its client went away
MAX_STREAMS = 32
MAX_ID = 2**63 - 1
TASK_STATES = ("queued", "running", *TASK_DONE_STATES)
JOB_STATES = ("queued", "running", "done", "failed", "cancelled")
DECISIONS = ("allowed", "refused", "invalid", "failed")
TaskStatus = Literal[
    "queued", "running", "fixed", "reviewed", "no_fix", "no_consensus", "failed", "cancelled", "superseded"
]
_REF = r"^[^\s\x00-\x1f\x7f~^:?*\[\\-][^\s\x00-\x1f\x7f~^:?*\[\\]*$"
_LAST_EVENT_ID = re.compile(r"(\d{1,18})\.(\d{1,18})")

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


class SessionView(_View):
    """A debate session with its turns and tool calls."""

    id: int
    task_id: int
    protocol: str
    strategy: str
    status: str
    verdict: VerdictView | None
    created_at: float
    finished_at: float | None
    turns: list[TurnView]
    tool_calls: list[ToolCallView]


class VersionView(_View):
    """A tree agentd tested itself: base, candidate or final."""

    id: int
    task_id: int
    kind: str
    sha: str | None
    diff: str
    tests_passed: bool | None
    test_output: str
    created_at: float


class UsageView(_View):
    """Tokens and model calls of a task."""

    input_tokens: int = 0
    output_tokens: int = 0
    calls: int = 0
    cost_usd: float = Field(0.0, description="Dollars, at the configured [prices]; 0 for unpriced models.")


class JobView(_View):
    """The queue's view of a task."""

    status: str
    attempts: int
    error: str | None


class TaskRecord(_View):
    """Everything a task left in the store."""

    sessions: list[SessionView]
    versions: list[VersionView]
    usage: UsageView
    job: JobView | None


class TaskDetail(_View):
    """One task with its whole record."""

    task: TaskView
    record: TaskRecord


class AgentView(_View):
    """An agent that took a turn."""

    name: str
    role: str
    model: str
    created_at: float


class AgentList(_View):
    """Agents by name."""

    agents: list[AgentView]


class SessionSummary(_View):
    """A debate session without its turns."""

    id: int
    task_id: int
    protocol: str
    strategy: str
    status: str
    verdict: VerdictView | None
    created_at: float
    finished_at: float | None
    turns: int = Field(description="Number of turns.")
    tool_calls: int = Field(description="Number of tool calls.")


class SessionList(_View):
    """Debate sessions, newest first."""

    sessions: list[SessionSummary]


class HistoryEntry(_View):
    """A finished task with its outcome and cost in tokens."""

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


class HistoryList(_View):
    """Finished tasks, latest first."""

    history: list[HistoryEntry]


class Health(_View):
    """The daemon answers."""

    status: Literal["ok"] = "ok"


class Error(_View):
    """What went wrong; `detail` lists validation problems."""

    error: str
    detail: list[dict[str, Any]] | None = None


class _Query(BaseModel):
    limit: int = Field(50, ge=1, le=1000)
    status: TaskStatus | None = None


# ------------------------------------------------------------------ responses


class Stream:
    """A streamed body; `close()` runs once, whether or not the stream was read."""

    def __init__(self, chunks: Generator[bytes, None, None], on_close: Callable[[], None]) -> None:
        self._chunks = chunks
        self._on_close = on_close
        self._closed = False

    def __iter__(self) -> Iterator[bytes]:
        return self._chunks

    def close(self) -> None:
        """Stop the stream and free its slot."""
        if not self._closed:
            self._closed = True
            self._chunks.close()
            self._on_close()


@dataclasses.dataclass(frozen=True)
class Response:
    """An answer: status, body (bytes or a stream), content type and extra headers."""

    status: int
    body: bytes | Stream
    content_type: str = JSON
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)


def json_response(status: int, value: BaseModel | dict[str, Any], headers: Mapping[str, str] | None = None) -> Response:
    """A JSON answer from a model or a plain dict."""
    body = value.model_dump_json().encode() if isinstance(value, BaseModel) else json.dumps(value).encode()
    return Response(status, body, JSON, headers or {})


def error(
    status: int, message: str, detail: list[dict[str, Any]] | None = None, headers: Mapping[str, str] | None = None
) -> Response:
    """A JSON error answer."""
    return json_response(status, Error(error=message, detail=detail), headers)


def _problems(exc: ValidationError) -> list[dict[str, Any]]:
    return cast(list[dict[str, Any]], exc.errors(include_url=False, include_context=False, include_input=False))


def _sse(event: str, data: str, event_id: str | None = None) -> bytes:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {data}\n\n".encode()


def render_metrics(stats: Mapping[str, Any]) -> str:
    """Prometheus text exposition of the store's totals; known labels are always present."""

    def family(
        name: str, kind: str, help_text: str, label: str, known: tuple[str, ...], values: Mapping[str, int]
    ) -> list[str]:
        lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
        for key in sorted({*known, *values}):
            escaped = key.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
            lines.append(f'{name}{{{label}="{escaped}"}} {int(values.get(key, 0))}')
        return lines

    lines = [
        *family("agentd_jobs", "gauge", "Jobs by status.", "status", JOB_STATES, stats["jobs"]),
        *family("agentd_tasks", "gauge", "Tasks by status.", "status", TASK_STATES, stats["tasks"]),
        *family(
            "agentd_tool_calls_total",
            "counter",
            "Tool calls by policy decision.",
            "decision",
            DECISIONS,
            stats["tool_calls"],
        ),
        *family(
            "agentd_tokens_total",
            "counter",
            "Model tokens by direction.",
            "direction",
            ("input", "output"),
            {"input": stats["input_tokens"], "output": stats["output_tokens"]},
        ),
        "# HELP agentd_model_calls_total Model calls made.",
        "# TYPE agentd_model_calls_total counter",
        f"agentd_model_calls_total {int(stats['model_calls'])}",
        "# HELP agentd_cost_usd_total Dollars spent on model calls, at the configured prices.",
        "# TYPE agentd_cost_usd_total counter",
        f"agentd_cost_usd_total {float(stats.get('cost_usd', 0.0))!r}",
    ]
    return "\n".join(lines) + "\n"


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

    @property
    def pattern(self) -> re.Pattern[str]:
        """The path template as a regex with one named group per parameter."""
        return re.compile(re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.path)))


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


_TEXT: Mapping[str, Any] = {"type": "string"}
ROUTES = (
    Route("GET", "/healthz", "_health", "health", "Liveness.", ("200", JSON, _ref("Health")), secured=False),
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
        for model in (TaskAccepted, TaskList, TaskDetail, AgentList, SessionList, HistoryList, Health, Error)
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


# ------------------------------------------------------------------ the core


@dataclasses.dataclass(frozen=True)
class Request:
    """One parsed request."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]  # names in lower case
    params: dict[str, str]
    body: bytes


Handler = Callable[[Request], Response]


def _task_id(raw: str) -> int | None:
    text = unquote(raw)
    if not (text.isascii() and text.isdigit()) or len(text) > 19:
        return None
    value = int(text)
    return value if 1 <= value <= MAX_ID else None


def _task_dict(task: Task) -> dict[str, Any]:
    fields = {f.name: getattr(task, f.name) for f in dataclasses.fields(task) if f.name != "event"}
    return {**fields, "done": task.done, "event": task.event.model_dump(mode="json")}


def _content_policy(page: str) -> str:
    """A CSP that lets only the page's own inline script and style run, and fetch only from this origin."""

    def hashes(tag: str) -> str:
        blocks = re.findall(rf"<{tag}>(.*?)</{tag}>", page, re.DOTALL)
        digests = (base64.b64encode(hashlib.sha256(b.encode()).digest()).decode() for b in blocks)
        return " ".join(f"'sha256-{d}'" for d in digests) or "'none'"

    return (
        f"default-src 'none'; script-src {hashes('script')}; style-src {hashes('style')}; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


class Api:
    """The routes over the store: one request in, one `Response` out; no sockets."""

    def __init__(self, config: Config, store: Store, redactor: Redactor, token: str, stopping: threading.Event) -> None:
        self.config = config
        self.store = store
        self.redactor = redactor
        self._token = token.encode()
        self._stopping = stopping
        self._streams = threading.BoundedSemaphore(MAX_STREAMS)
        self._document = json.dumps(openapi_document()).encode()
        page = resources.files("agentd").joinpath("dashboard/index.html").read_text(encoding="utf-8")
        self._page = page.encode()
        self._page_headers = {"Content-Security-Policy": _content_policy(page), "Referrer-Policy": "no-referrer"}
        self._table = [(route.pattern, route, cast(Handler, getattr(self, route.handler))) for route in ROUTES]

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes = b"") -> Response:
        """Route one request; the token is checked before any handler of a secured route runs."""
        parts = urlsplit(target)
        allowed = []
        for pattern, route, handler in self._table:
            match = pattern.fullmatch(parts.path)
            if match is None:
                continue
            if route.method != method:
                allowed.append(route.method)
                continue
            lowered = {name.lower(): value for name, value in headers.items()}
            if route.secured and not self._authorized(lowered.get("authorization", "")):
                return error(401, ERRORS[401], headers={"WWW-Authenticate": 'Bearer realm="agentd"'})
            query = parse_qs(parts.query, keep_blank_values=True)
            return handler(Request(method, parts.path, query, lowered, match.groupdict(), body))
        if allowed:
            return error(405, f"method {method} not allowed", headers={"Allow": ", ".join(sorted(allowed))})
        return error(404, "not found")

    def _authorized(self, header: str) -> bool:
        scheme, _, given = header.strip().partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode("utf-8", "surrogateescape"), self._token
        )

    def _query(self, request: Request) -> _Query | Response:
        raw = {name: values[0] for name, values in request.query.items() if name in _Query.model_fields}
        try:
            return _Query.model_validate(raw)
        except ValidationError as exc:
            return error(422, "invalid query parameters", _problems(exc))

    # -------------------------------------------------------------- endpoints

    def _health(self, _request: Request) -> Response:
        return json_response(200, Health())

    def _metrics(self, _request: Request) -> Response:
        return Response(200, render_metrics(self.store.stats()).encode(), PROMETHEUS)

    def _openapi(self, _request: Request) -> Response:
        return Response(200, self._document, JSON)

    def _list_tasks(self, request: Request) -> Response:
        query = self._query(request)
        if isinstance(query, Response):
            return query
        tasks = [self.redactor.value(_task_dict(t)) for t in self.store.list_tasks(query.limit, query.status)]
        return json_response(200, TaskList.model_validate({"tasks": tasks}))

    def _create_task(self, request: Request) -> Response:
        if request.headers.get("content-type", "").split(";")[0].strip().lower() != JSON:
            return error(415, ERRORS[415])
        try:
            payload = json.loads(request.body.decode("utf-8"))
            json.dumps(payload, ensure_ascii=False).encode("utf-8")  # a lone surrogate cannot be stored
        except (UnicodeError, ValueError, RecursionError):
            return error(400, ERRORS[400])
        try:
            wanted = TaskRequest.model_validate(payload)
        except ValidationError as exc:
            return error(422, "invalid task request", _problems(exc))
        event = TaskRequested(
            repo=self.config.repository.source,
            description=wanted.description,
            base_ref=wanted.base_ref or self.config.repository.watch_branches[0],
            kind=wanted.kind,
            request_id=wanted.request_id or uuid.uuid4().hex,
        )
        task_id, created = self.store.enqueue(event, wanted.description, None)
        log.info("api task queued", task=task_id, new=created, kind=wanted.kind)
        return json_response(202, TaskAccepted(id=task_id, created=created), {"Location": f"/api/v1/tasks/{task_id}"})

    def _get_task(self, request: Request) -> Response:
        task_id = _task_id(request.params["id"])
        task = self.store.get_task(task_id) if task_id is not None else None
        if task is None:
            return error(404, ERRORS[404])
        record = {**self.store.task_record(task.id)}
        record["job"] = record.get("job") or None
        detail = self.redactor.value({"task": _task_dict(task), "record": record})
        return json_response(200, TaskDetail.model_validate(detail))

    def _agents(self, _request: Request) -> Response:
        return json_response(200, AgentList.model_validate({"agents": self.store.list_agents()}))

    def _sessions(self, request: Request) -> Response:
        query = self._query(request)
        if isinstance(query, Response):
            return query
        sessions = self.redactor.value(self.store.list_sessions(query.limit))
        return json_response(200, SessionList.model_validate({"sessions": sessions}))

    def _history(self, request: Request) -> Response:
        query = self._query(request)
        if isinstance(query, Response):
            return query
        history = self.redactor.value(self.store.list_history(query.limit))
        return json_response(200, HistoryList.model_validate({"history": history}))

    def _dashboard(self, request: Request) -> Response:
        if "id" in request.params and _task_id(request.params["id"]) is None:
            return error(404, ERRORS[404])
        return Response(200, self._page, HTML, self._page_headers)

    # -------------------------------------------------------------- live events

    def _events(self, request: Request) -> Response:
        task_id = _task_id(request.params["id"])
        if task_id is None or self.store.get_task(task_id) is None:
            return error(404, ERRORS[404])
        resume = _LAST_EVENT_ID.fullmatch(request.headers.get("last-event-id", "").strip())
        turn_after, call_after = (int(resume[1]), int(resume[2])) if resume else (0, 0)
        if not self._streams.acquire(blocking=False):
            return error(503, ERRORS[503], headers={"Retry-After": "5"})
        chunks = self._stream(task_id, turn_after, call_after)
        return Response(200, Stream(chunks, self._streams.release), SSE, {"Cache-Control": "no-cache"})

    def _stream(self, task_id: int, turn_after: int, call_after: int) -> Generator[bytes, None, None]:
        """Turns and tool calls as the store receives them, `status` on each change, then `done`."""
        yield b"retry: 2000\n\n"
        status, quiet_since = "", time.monotonic()
        while not self._stopping.is_set():
            task = self.store.get_task(task_id)  # read before the rows: once done, every row is there
            if task is None:
                return
            activity = self.store.task_activity(task_id, turn_after, call_after)
            rows = [("tool_call", c) for c in activity["tool_calls"]] + [("turn", t) for t in activity["turns"]]
            rows.sort(key=lambda item: (item[1]["created_at"], item[0] == "turn", item[1]["id"]))
            chunks = []
            for kind, row in rows:
                view: BaseModel
                if kind == "turn":
                    turn_after, view = int(row["id"]), TurnView.model_validate(self.redactor.value(row))
                else:
                    call_after, view = int(row["id"]), ToolCallView.model_validate(self.redactor.value(row))
                chunks.append(_sse(kind, view.model_dump_json(), f"{turn_after}.{call_after}"))
            state = TaskView.model_validate(self.redactor.value(_task_dict(task))).model_dump_json()
            if task.status != status:
                status = task.status
                chunks.append(_sse("status", state))
            if task.done:
                yield b"".join([*chunks, _sse("done", state)])
                return
            if chunks:
                yield b"".join(chunks)
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since > KEEPALIVE_S:
                yield b": keepalive\n\n"
                quiet_since = time.monotonic()
            self._stopping.wait(POLL_S)


# ------------------------------------------------------------------ the HTTP shell


def split_listen(listen: str) -> tuple[str, int]:
    """(host, port) of a `host:port` listen address."""
    host, sep, port = listen.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ConfigError(f"api.listen = {listen!r}: expected host:port, e.g. 127.0.0.1:8765")
    return host, int(port)


class _HTTPServer(ThreadingHTTPServer):
    request_queue_size = 64
    api: Api

    def handle_error(self, request: Any, client_address: Any) -> None:  # noqa: ARG002 - socketserver's signature
        """A client that went away is not worth a traceback on stderr."""
        log.debug("api connection error", exc_info=True)


class _HTTPServer6(_HTTPServer):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    server_version = "agentd"
    sys_version = ""
    timeout = 30  # a stalled client frees its thread

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: requests are logged through structlog."""

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:  # noqa: ARG002
        """Protocol-level errors (bad request line, unknown method) are JSON too."""
        self.close_connection = True
        self._send(error(code, message or "bad request"))

    def _serve(self) -> None:
        started = time.perf_counter()
        body = self._read_body()
        if body is None:
            return
        api = cast(_HTTPServer, self.server).api
        try:
            response = api.handle(self.command, self.path, dict(self.headers.items()), body)
        except Exception:
            log.exception("api request failed", method=self.command, path=urlsplit(self.path).path)
            response = error(500, "internal error; see the daemon's log")
        log.debug(
            "api request",
            method=self.command,
            path=urlsplit(self.path).path,
            status=response.status,
            ms=round((time.perf_counter() - started) * 1000, 2),  # handling time, before the answer is sent
        )
        self._send(response)

    def _read_body(self) -> bytes | None:
        if self.command not in {"POST", "PUT", "PATCH"}:
            return b""
        raw = self.headers.get("Content-Length")
        if raw is None or not raw.strip().isdigit():
            self.close_connection = True
            self._send(error(411, ERRORS[411]))
            return None
        length = int(raw)
        if length > MAX_BODY:
            if length <= _DRAIN_LIMIT:  # read and drop it, so the client sees the 413 rather than a reset
                self._drain(length)
            self.close_connection = True
            self._send(error(413, ERRORS[413]))
            return None
        try:
            return self.rfile.read(length)
        except OSError:
            self.close_connection = True
            return None

    def _drain(self, length: int) -> None:
        try:
            while length > 0:
                chunk = self.rfile.read(min(length, 1 << 16))
                if not chunk:
                    return
                length -= len(chunk)
        except OSError:
            return

    def _send(self, response: Response) -> None:
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("X-Content-Type-Options", "nosniff")
            for name, value in response.headers.items():
                self.send_header(name, value)
            if isinstance(response.body, Stream):
                self._stream(response.body)
                return
            if "Cache-Control" not in response.headers:
                self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)
        except OSError:
            self.close_connection = True  # the client went away

    def _stream(self, stream: Stream) -> None:
        self.close_connection = True
        try:
            self.send_header("X-Accel-Buffering", "no")
            self.end_headers()
            for chunk in stream:
                self.wfile.write(chunk)
                self.wfile.flush()
        except OSError:
            pass  # the client disconnected
        except Exception:
            log.exception("api event stream failed", path=urlsplit(self.path).path)
        finally:
            stream.close()

    def __getattr__(self, name: str) -> Any:
        """Every method reaches the router (`do_GET`, `do_QUERY`, …), which answers 405 for the ones it lacks."""
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)


class ApiServer:
    """The REST API and dashboard on a daemon thread; refuses to start without a bearer token."""

    def __init__(self, config: Config, store: Store, redactor: Redactor, env: Mapping[str, str] | None = None) -> None:
        if not config.api.listen:
            raise ConfigError("api.listen is not set; the API is off")
        self.host, self._port = split_listen(config.api.listen)
        token = (os.environ if env is None else env).get(config.api.token_env, "").strip()
        if not token:
            raise ConfigError(
                f"api.listen is set but ${config.api.token_env} is empty; set it to a long random token "
                "(e.g. `openssl rand -hex 32`)"
            )
        self._stopping = threading.Event()
        self.api = Api(config, store, redactor, token, self._stopping)
        self._http: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"ApiServer(listen={self.host}:{self._port})"  # never the token

    @property
    def port(self) -> int:
        """The bound port (the real one when `listen` asked for port 0)."""
        return self._port

    @property
    def url(self) -> str:
        """The base URL."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._port}"

    def start(self) -> None:
        """Bind and serve on a daemon thread."""
        if self._http is not None:
            return
        self._stopping.clear()
        try:
            http = (_HTTPServer6 if ":" in self.host else _HTTPServer)((self.host, self._port), _Handler)
        except OSError as exc:
            raise ConfigError(f"api.listen = {self.host}:{self._port}: cannot listen there: {exc}") from None
        http.api = self.api
        self._port = int(http.server_address[1])
        self._http = http
        self._thread = threading.Thread(target=http.serve_forever, args=(0.1,), name="agentd-api", daemon=True)
        self._thread.start()
        log.info("api listening", url=self.url)

    def stop(self) -> None:
        """End the live streams, stop serving and release the port."""
        http, self._http = self._http, None
        if http is None:
            return
        self._stopping.set()
        http.shutdown()
        http.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        log.info("api stopped", url=self.url)

    def __enter__(self) -> ApiServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
