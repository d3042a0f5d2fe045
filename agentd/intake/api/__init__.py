"""The REST API, Prometheus metrics and web dashboard, served by the daemon's own process.

`routes` is the core (one request in, one Response out, no sockets); `events` streams a task's
debate as server-sent events; `metrics` renders Prometheus text; `server` is the HTTP shell;
`schemas` is the contract: wire models, route table and the OpenAPI document built from both.
"""

from __future__ import annotations

from agentd.intake.api.metrics import render_metrics
from agentd.intake.api.routes import Api, Request, error
from agentd.intake.api.schemas import ROUTES, TASK_STATES, TaskStatus, openapi_document
from agentd.intake.api.server import ApiServer, split_listen
from agentd.intake.http import Response, Stream, json_response

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
