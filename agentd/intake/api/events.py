"""GET /api/v1/tasks/{id}/events: a task's turns, tool calls and status as server-sent events.

The stream polls the store: each new turn and tool call goes out as it is written, `status` on
each change of the task, then `done`. Event ids are `<turn id>.<tool call id>`, so a client that
sends the last one back as Last-Event-ID resumes right after it.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Generator

from pydantic import BaseModel

from agentd.intake.api.schemas import TaskView, ToolCallView, TurnView, task_data
from agentd.kernel.redact import Redactor
from agentd.store.base import Views
from agentd.store.records import ToolCall, Turn, as_dict

SSE = "text/event-stream; charset=utf-8"
POLL_S = 0.25
KEEPALIVE_S = 10.0  # also how soon a stream notices its client went away
MAX_STREAMS = 32
_LAST_EVENT_ID = re.compile(r"(\d{1,18})\.(\d{1,18})")


def resume_after(last_event_id: str) -> tuple[int, int]:
    """The (turn id, tool call id) a Last-Event-ID header names; (0, 0) for none or a malformed one."""
    resume = _LAST_EVENT_ID.fullmatch(last_event_id.strip())
    return (int(resume[1]), int(resume[2])) if resume else (0, 0)


def _sse(event: str, data: str, event_id: str | None = None) -> bytes:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {data}\n\n".encode()


def task_events(
    store: Views, redactor: Redactor, stopping: threading.Event, task_id: int, after: tuple[int, int]
) -> Generator[bytes, None, None]:
    """Turns and tool calls as the store receives them, `status` on each change, then `done`."""
    yield b"retry: 2000\n\n"
    turn_after, call_after = after
    status, quiet_since = "", time.monotonic()
    while not stopping.is_set():
        task = store.get_task(task_id)  # read before the rows: once done, every row is there
        if task is None:
            return
        activity = store.task_activity(task_id, turn_after, call_after)
        rows: list[Turn | ToolCall] = [*activity.tool_calls, *activity.turns]
        rows.sort(key=lambda row: (row.created_at, isinstance(row, Turn), row.id))
        chunks = []
        for row in rows:
            view: BaseModel
            if isinstance(row, Turn):
                turn_after, view = row.id, TurnView.model_validate(redactor.value(as_dict(row)))
            else:
                call_after, view = row.id, ToolCallView.model_validate(redactor.value(as_dict(row)))
            kind = "turn" if isinstance(row, Turn) else "tool_call"
            chunks.append(_sse(kind, view.model_dump_json(), f"{turn_after}.{call_after}"))
        state = TaskView.model_validate(redactor.value(task_data(task))).model_dump_json()
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
        stopping.wait(POLL_S)
