"""The REST API, Prometheus metrics and web dashboard, served by the daemon's own process.

`Api` is the core: it maps one request (method, target, headers, body) to a `Response` and never
touches a socket. `ApiServer` is the thin HTTP shell around it (agentd.intake.http). The answers are
shaped by the pydantic models of agentd.intake.api_schemas, which also builds the OpenAPI document from
those models and the route table, so the document cannot drift from what the endpoints send.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Generator, Iterator, Mapping
from importlib import resources
from typing import Any, cast
from urllib.parse import parse_qs, unquote, urlsplit

import structlog
from pydantic import BaseModel, ValidationError

from agentd.intake import http as httpserve
from agentd.intake.api_schemas import (
    ERRORS,
    MAX_BODY,
    MAX_ID,
    ROUTES,
    TASK_STATES,
    AgentList,
    Error,
    Health,
    HistoryList,
    ListQuery,
    SessionList,
    TaskAccepted,
    TaskDetail,
    TaskList,
    TaskRequest,
    TaskStatus,
    TaskView,
    ToolCallView,
    TurnView,
    openapi_document,
)
from agentd.intake.config import ApiConfig
from agentd.intake.http import JSON, BackgroundHTTPServer, BodyRefused, OwnedHTTPServer, RequestHandler
from agentd.kernel.errors import ConfigError
from agentd.kernel.events import TaskRequested
from agentd.kernel.redact import Redactor
from agentd.models import retry
from agentd.store.base import Store, Task

# With the models moved to agentd.intake.api_schemas, these stay importable from here as before.
__all__ = [
    "ROUTES",
    "TASK_STATES",
    "Api",
    "ApiServer",
    "Request",
    "Response",
    "Stream",
    "TaskStatus",
    "error",
    "json_response",
    "openapi_document",
    "render_metrics",
    "split_listen",
]

log = structlog.get_logger("agentd.intake.api")

HTML = "text/html; charset=utf-8"
SSE = "text/event-stream; charset=utf-8"
PROMETHEUS = "text/plain; version=0.0.4; charset=utf-8"
_DRAIN_LIMIT = 1 << 20
POLL_S = 0.25
KEEPALIVE_S = 10.0  # also how soon a stream notices its client went away
MAX_STREAMS = 32
JOB_STATES = ("queued", "running", "done", "failed", "cancelled")
DECISIONS = ("allowed", "refused", "invalid", "failed")
_LAST_EVENT_ID = re.compile(r"(\d{1,18})\.(\d{1,18})")


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
        "# HELP agentd_task_duration_seconds Time from event to finished task.",
        "# TYPE agentd_task_duration_seconds summary",
        f"agentd_task_duration_seconds_sum {float(stats.get('task_seconds', 0.0))!r}",
        f"agentd_task_duration_seconds_count {int(stats.get('tasks_finished', 0))}",
        "# HELP agentd_sandbox_commands_total Commands run in sandboxes (allowed execute_command calls).",
        "# TYPE agentd_sandbox_commands_total counter",
        f"agentd_sandbox_commands_total {int(stats.get('sandbox_commands', 0))}",
        *family(
            "agentd_model_errors_unclassified_total",
            "counter",
            "Model SDK errors the retry table does not name (classified by status and base class).",
            "error",
            (),
            stats.get("unclassified_model_errors", {}),
        ),
    ]
    return "\n".join(lines) + "\n"


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

    def __init__(
        self, store: Store, redactor: Redactor, token: str, stopping: threading.Event, *, repo: str, default_base: str
    ) -> None:
        self.repo = repo
        self.default_base = default_base
        self.store = store
        self.redactor = redactor
        self._token = token.encode()
        self._stopping = stopping
        self._streams = threading.BoundedSemaphore(MAX_STREAMS)
        self._document = json.dumps(openapi_document()).encode()
        page = resources.files("agentd.intake").joinpath("dashboard/index.html").read_text(encoding="utf-8")
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

    def _query(self, request: Request) -> ListQuery | Response:
        raw = {name: values[0] for name, values in request.query.items() if name in ListQuery.model_fields}
        try:
            return ListQuery.model_validate(raw)
        except ValidationError as exc:
            return error(422, "invalid query parameters", _problems(exc))

    # -------------------------------------------------------------- endpoints

    def _health(self, _request: Request) -> Response:
        return json_response(200, Health())

    def _metrics(self, _request: Request) -> Response:
        stats = {**self.store.stats(), "unclassified_model_errors": dict(retry.unclassified)}
        return Response(200, render_metrics(stats).encode(), PROMETHEUS)

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
            repo=self.repo,
            description=wanted.description,
            base_ref=wanted.base_ref or self.default_base,
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
    return httpserve.split_listen(listen, "api.listen", "127.0.0.1:8765")


class _Handler(RequestHandler):
    timeout = 30  # a stalled client frees its thread

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:  # noqa: ARG002
        """Protocol-level errors (bad request line, unknown method) are JSON too."""
        self.close_connection = True
        self._send(error(code, message or "bad request"))

    def _serve(self) -> None:
        started = time.perf_counter()
        try:
            body = self.read_body(MAX_BODY, _DRAIN_LIMIT) if self.command in {"POST", "PUT", "PATCH"} else b""
        except BodyRefused as refused:
            self._send(error(refused.status, ERRORS[refused.status]))
            return
        except OSError:
            self.close_connection = True
            return
        api = cast(OwnedHTTPServer[ApiServer], self.server).owner.api
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

    def _send(self, response: Response) -> None:
        try:
            if isinstance(response.body, Stream):
                self.send_response(response.status)
                self.send_header("Content-Type", response.content_type)
                self.send_header("X-Content-Type-Options", "nosniff")
                for name, value in response.headers.items():
                    self.send_header(name, value)
                self._stream(response.body)
                return
            headers = {"X-Content-Type-Options": "nosniff", **response.headers}
            headers.setdefault("Cache-Control", "no-store")
            self.send_whole(response.status, response.content_type, response.body, headers)
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


class ApiServer(BackgroundHTTPServer):
    """The REST API and dashboard on a daemon thread; refuses to start without a bearer token."""

    def __init__(
        self,
        settings: ApiConfig,
        store: Store,
        redactor: Redactor,
        *,
        repo: str,
        default_base: str,
        env: Mapping[str, str] | None = None,
    ) -> None:
        if not settings.listen:
            raise ConfigError("api.listen is not set; the API is off")
        host, port = split_listen(settings.listen)
        token = (os.environ if env is None else env).get(settings.token_env, "").strip()
        if not token:
            raise ConfigError(
                f"api.listen is set but ${settings.token_env} is empty; set it to a long random token "
                "(e.g. `openssl rand -hex 32`)"
            )
        super().__init__(host, port, name="api", handler=_Handler, backlog=64)
        self._stopping = threading.Event()
        self.api = Api(store, redactor, token, self._stopping, repo=repo, default_base=default_base)

    def __repr__(self) -> str:
        return f"ApiServer(listen={self.host}:{self._port})"  # never the token

    def start(self) -> None:
        """Bind and serve on a daemon thread; a ConfigError when the address cannot be bound."""
        self._stopping.clear()
        try:
            super().start()
        except OSError as exc:
            raise ConfigError(f"api.listen = {self.host}:{self._port}: cannot listen there: {exc}") from None

    def stop(self) -> None:
        """End the live streams, stop serving and release the port."""
        self._stopping.set()
        super().stop()
