"""Every phase of a job is an OpenTelemetry span: recorded in agentd's store, and exportable with OTLP.

Spans follow the GenAI semantic conventions where they apply (`invoke_agent`, `chat`,
`execute_tool` with `gen_ai.*` attributes). A job opens its root span with `job_trace`, handing
in where its spans go (the store); every span started under it, in any thread that carried the
context over (`in_context`), is written there when it ends.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol, TypeVar

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import Status, StatusCode
from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class TracingConfig(BaseModel):
    """`[tracing]`: spans always go to the store (`agentd show`); optionally also to an OpenTelemetry collector."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    otlp_endpoint: str | None = Field(
        None, description="OTLP/HTTP traces endpoint, e.g. http://127.0.0.1:4318/v1/traces; unset: no export."
    )
    otlp_headers_env: str | None = Field(
        None, description="Environment variable holding the exporter's headers as k=v,k=v (e.g. an auth token)."
    )
Attributes = Mapping[str, str | int | float | bool]


class SpanSink(Protocol):
    """Where one job's finished spans go (the store's recorder)."""

    def add_span(self, task_id: int, span: Mapping[str, Any]) -> None:
        """Record one finished span of a task."""
        ...


class _Router(SpanProcessor):
    """Sends each finished span to the sink of the job whose trace it belongs to."""

    def __init__(self) -> None:
        self._sinks: dict[int, tuple[SpanSink, int]] = {}  # trace id -> (sink, task id)
        self._lock = threading.Lock()

    def bind(self, trace_id: int, sink: SpanSink, task_id: int) -> None:
        with self._lock:
            self._sinks[trace_id] = (sink, task_id)

    def unbind(self, trace_id: int) -> None:
        with self._lock:
            self._sinks.pop(trace_id, None)

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Nothing to do until the span ends."""

    def on_end(self, span: ReadableSpan) -> None:
        context = span.context
        if context is None:
            return
        with self._lock:
            target = self._sinks.get(context.trace_id)
        if target is None:
            return
        sink, task_id = target
        try:
            sink.add_span(task_id, span_record(span))
        except Exception:  # noqa: BLE001 - a span the store cannot take must not fail the job it describes
            return

    def shutdown(self) -> None:
        """Nothing held."""

    def force_flush(self, timeout_millis: int = 30_000) -> bool:  # noqa: ARG002 - the SDK's signature
        """Spans are written as they end."""
        return True


_PROVIDER = TracerProvider()
_ROUTER = _Router()
_PROVIDER.add_span_processor(_ROUTER)
_TRACER = _PROVIDER.get_tracer("agentd")
_EXPORTERS: set[int] = set()
_EXPORTERS_LOCK = threading.Lock()


def export_to(exporter: SpanExporter, *, batch: bool = True) -> None:
    """Also send every span to `exporter` (OTLP to a collector, or the SDK's in-memory exporter in tests)."""
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: PLC0415

    with _EXPORTERS_LOCK:
        if id(exporter) in _EXPORTERS:
            return
        _EXPORTERS.add(id(exporter))
    _PROVIDER.add_span_processor(BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter))


def export_otlp(config: TracingConfig, env: Mapping[str, str]) -> None:
    """Send spans to an OpenTelemetry collector over OTLP/HTTP, when `[tracing] otlp_endpoint` is set."""
    if not config.otlp_endpoint:
        return
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: PLC0415

    raw = env.get(config.otlp_headers_env, "") if config.otlp_headers_env else ""
    headers = dict(pair.split("=", 1) for pair in raw.split(",") if "=" in pair)
    export_to(OTLPSpanExporter(endpoint=config.otlp_endpoint, headers=headers))


def flush() -> None:
    """Push every pending span to the exporters (tests, and before the process exits)."""
    _PROVIDER.force_flush()


@contextlib.contextmanager
def job_trace(sink: SpanSink, task_id: int, name: str = "job", **attributes: Any) -> Iterator[Span]:
    """The root span of one job; every span under it is recorded in `sink` under `task_id`."""
    root = _TRACER.start_span(name, attributes=_clean({"agentd.task_id": task_id, **attributes}))
    trace_id = root.get_span_context().trace_id
    _ROUTER.bind(trace_id, sink, task_id)
    try:
        with trace.use_span(root, end_on_exit=False, record_exception=False, set_status_on_exception=False):
            yield root  # type: ignore[misc]
    except BaseException as exc:
        root.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"[:200]))
        raise
    finally:
        root.end()  # ended while still bound, so the root is recorded too
        _ROUTER.unbind(trace_id)


@contextlib.contextmanager
def span(name: str, **attributes: Any) -> Iterator[Span]:
    """A span for one phase or call, a child of the current one; an exception marks it as an error."""
    with _TRACER.start_as_current_span(name, attributes=_clean(attributes), record_exception=False) as current:
        try:
            yield current  # type: ignore[misc]
        except BaseException as exc:
            current.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"[:200]))
            raise


def record(name: str, started: float, ended: float, **attributes: Any) -> None:
    """A span for something already over (e.g. the time a job waited in the queue), from wall-clock times."""
    done = _TRACER.start_span(name, attributes=_clean(attributes), start_time=int(started * 1e9))
    done.end(end_time=int(ended * 1e9))


def annotate(**attributes: Any) -> None:
    """Add attributes to the current span (e.g. token usage once the answer is in)."""
    trace.get_current_span().set_attributes(_clean(attributes))


def in_context(function: Callable[..., T]) -> Callable[..., T]:
    """`function` bound to the caller's context, so spans it starts on another thread keep their parent."""
    context = contextvars.copy_context()
    return lambda *args, **kwargs: context.copy().run(function, *args, **kwargs)


def _clean(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """OpenTelemetry takes only str, bool, int and float: drop None, stringify the rest."""
    clean: dict[str, Any] = {}
    for key, value in attributes.items():
        if value is None:
            continue
        clean[key] = value if isinstance(value, str | bool | int | float) else str(value)
    return clean


def span_record(span: ReadableSpan) -> dict[str, Any]:
    """A finished span as the store keeps it: ids, name, start (epoch seconds), duration, attributes."""
    context = span.context
    parent = span.parent
    started = (span.start_time or 0) / 1e9
    ended = (span.end_time or span.start_time or 0) / 1e9
    return {
        "span_id": f"{context.span_id:016x}" if context else "",
        "parent_id": f"{parent.span_id:016x}" if parent else None,
        "name": span.name,
        "started_at": started,
        "duration_ms": max(0.0, (ended - started) * 1000),
        "status": "error" if span.status.status_code == StatusCode.ERROR else "ok",
        "attributes": json.dumps(dict(span.attributes or {}), default=str),
    }


def now() -> float:
    """Wall-clock seconds, as span start times are kept."""
    return time.time()
