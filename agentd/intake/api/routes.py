"""The API's core: one request (method, target, headers, body) in, one `Response` out; no sockets.

`Api` routes by the table in agentd.intake.api.schemas, checks the bearer token before any
secured handler runs, and answers with the wire models of that module, converted from the store's
records after redaction.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import re
import threading
import uuid
from collections.abc import Callable, Mapping
from importlib import resources
from typing import Any, Protocol, cast
from urllib.parse import parse_qs, unquote, urlsplit

import structlog
from pydantic import ValidationError

from agentd.intake.api import events
from agentd.intake.api.metrics import PROMETHEUS, render_metrics
from agentd.intake.api.schemas import (
    ERRORS,
    MAX_ID,
    ROUTES,
    AgentList,
    Error,
    Health,
    HistoryList,
    ListQuery,
    SessionList,
    SpanList,
    TaskAccepted,
    TaskDetail,
    TaskList,
    TaskRequest,
    openapi_document,
    task_data,
)
from agentd.intake.http import JSON, Response, Stream, json_response
from agentd.kernel.events import TaskRequested
from agentd.kernel.redact import Redactor
from agentd.models import retry
from agentd.service.health import HealthReport
from agentd.store.base import Queue, Views
from agentd.store.records import Task, as_dict

log = structlog.get_logger("agentd.intake.api")

HTML = "text/html; charset=utf-8"


class ApiStore(Queue, Views, Protocol):
    """What the API needs of the store: the views, and the queue for POST /api/v1/tasks."""


def error(
    status: int, message: str, detail: list[dict[str, Any]] | None = None, headers: Mapping[str, str] | None = None
) -> Response:
    """A JSON error answer."""
    return json_response(status, Error(error=message, detail=detail), headers)


def _problems(exc: ValidationError) -> list[dict[str, Any]]:
    return cast(list[dict[str, Any]], exc.errors(include_url=False, include_context=False, include_input=False))


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
        self,
        store: ApiStore,
        redactor: Redactor,
        token: str,
        stopping: threading.Event,
        *,
        repo: str,
        default_base: str,
        health: Callable[[], HealthReport] | None = None,
    ) -> None:
        self.repo = repo
        self._daemon_health = health
        self.default_base = default_base
        self.store = store
        self.redactor = redactor
        self._token = token.encode()
        self._stopping = stopping
        self._streams = threading.BoundedSemaphore(events.MAX_STREAMS)
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

    def _redacted(self, records: list[Any]) -> list[Any]:
        """Store records as plain data with every secret masked, ready for a wire model."""
        return [self.redactor.value(as_dict(record)) for record in records]

    # -------------------------------------------------------------- endpoints

    def _health(self, _request: Request) -> Response:
        report = self._daemon_health() if self._daemon_health is not None else None
        if report is None or report.healthy:
            return json_response(200, Health())
        return json_response(503, Health(status="unhealthy", problems=report.problems), {"Retry-After": "10"})

    def _metrics(self, _request: Request) -> Response:
        stats = {**as_dict(self.store.stats()), "unclassified_model_errors": dict(retry.unclassified)}
        return Response(200, render_metrics(stats).encode(), PROMETHEUS)

    def _openapi(self, _request: Request) -> Response:
        return Response(200, self._document, JSON)

    def _list_tasks(self, request: Request) -> Response:
        query = self._query(request)
        if isinstance(query, Response):
            return query
        tasks = [self.redactor.value(task_data(t)) for t in self.store.list_tasks(query.limit, query.status)]
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

    def _task(self, request: Request) -> Task | None:
        """The task the path's {id} names, or None (a malformed id names none)."""
        task_id = _task_id(request.params["id"])
        return self.store.get_task(task_id) if task_id is not None else None

    def _get_task(self, request: Request) -> Response:
        task = self._task(request)
        if task is None:
            return error(404, ERRORS[404])
        record = as_dict(self.store.task_record(task.id))
        detail = self.redactor.value({"task": task_data(task), "record": record})
        return json_response(200, TaskDetail.model_validate(detail))

    def _task_spans(self, request: Request) -> Response:
        task = self._task(request)
        if task is None:
            return error(404, ERRORS[404])
        spans = self._redacted(self.store.task_spans(task.id))
        return json_response(200, SpanList.model_validate({"spans": spans}))

    def _agents(self, _request: Request) -> Response:
        return json_response(200, AgentList.model_validate({"agents": self._redacted(self.store.list_agents())}))

    def _sessions(self, request: Request) -> Response:
        query = self._query(request)
        if isinstance(query, Response):
            return query
        sessions = self._redacted(self.store.list_sessions(query.limit))
        return json_response(200, SessionList.model_validate({"sessions": sessions}))

    def _history(self, request: Request) -> Response:
        query = self._query(request)
        if isinstance(query, Response):
            return query
        history = self._redacted(self.store.list_history(query.limit))
        return json_response(200, HistoryList.model_validate({"history": history}))

    def _dashboard(self, request: Request) -> Response:
        if "id" in request.params and _task_id(request.params["id"]) is None:
            return error(404, ERRORS[404])
        return Response(200, self._page, HTML, self._page_headers)

    def _events(self, request: Request) -> Response:
        task_id = _task_id(request.params["id"])
        if task_id is None or self.store.get_task(task_id) is None:
            return error(404, ERRORS[404])
        after = events.resume_after(request.headers.get("last-event-id", ""))
        if not self._streams.acquire(blocking=False):
            return error(503, ERRORS[503], headers={"Retry-After": "5"})
        chunks = events.task_events(self.store, self.redactor, self._stopping, task_id, after)
        return Response(200, Stream(chunks, self._streams.release), events.SSE, {"Cache-Control": "no-cache"})
