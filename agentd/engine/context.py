"""Keep a long debate inside a model's context window: cap tool output, compact old rounds.

Both are pure functions over messages. Compaction is deterministic (no model call): the middle
of a conversation becomes one user message listing the tool calls made, their outcomes and the
files changed. An assistant message that asked for tools always stays with its tool results.
"""

from __future__ import annotations

import json
from typing import Any

from agentd.kernel.seams import Message, ToolCall

MARKER = "\n[... {} characters omitted ...]\n"
SUMMARY_TITLE = "Summary of {} earlier messages, compacted by agentd to save context:"
MIN_SUMMARY_CHARS = 400
WRITE_ACTIONS = frozenset({"create", "update", "delete", "replace"})  # the `code` tool's writes
_SHOWN_ARGUMENTS = ("action", "file_path", "command", "sql", "explain")


def truncate_tool_output(text: str, limit: int) -> str:
    """`text` if it fits in `limit` characters, else its head and tail around a marker, within `limit`."""
    if len(text) <= limit:
        return text
    room = limit - len(MARKER.format(len(text)))
    if room <= 0:
        return text[: max(0, limit)]
    head, tail = room - room // 2, room // 2
    return text[:head] + MARKER.format(len(text) - head - tail) + text[len(text) - tail :]


def _size(message: Message) -> int:
    return len(message.content) + sum(len(call.arguments) + len(call.name) for call in message.tool_calls)


def _head_end(messages: list[Message]) -> int:
    """Index just past the first user message, or past the leading system messages if none."""
    for index, message in enumerate(messages):
        if message.role == "user":
            return index + 1
    leading = 0
    while leading < len(messages) and messages[leading].role == "system":
        leading += 1
    return leading


def _tail_start(messages: list[Message], keep_last: int) -> int:
    """Where the verbatim tail begins: `keep_last` from the end, moved back to never orphan a tool result."""
    start = max(0, len(messages) - max(0, keep_last))
    while 0 < start < len(messages) and messages[start].role == "tool":
        start -= 1
    return start


def summarise_rounds(messages: list[Message], keep_last: int, max_chars: int) -> list[Message]:
    """`messages` if they fit in `max_chars`, else: system and first user message, a summary, the tail.

    The last `keep_last` messages stay verbatim (a few more when the cut would separate tool
    results from the assistant message that asked for them). The summary takes the room the
    kept messages leave, but never less than MIN_SUMMARY_CHARS.
    """
    if sum(map(_size, messages)) <= max_chars:
        return list(messages)
    head_end = _head_end(messages)
    tail_start = max(head_end, _tail_start(messages, keep_last))
    middle = messages[head_end:tail_start]
    if not middle:
        return list(messages)
    kept = [*messages[:head_end], *messages[tail_start:]]
    room = max(MIN_SUMMARY_CHARS, max_chars - sum(map(_size, kept)))
    summary = Message("user", truncate_tool_output(summarise(middle), room))
    return [*messages[:head_end], summary, *messages[tail_start:]]


def summarise(messages: list[Message]) -> str:
    """A deterministic account of `messages`: each tool call with its outcome, the files changed."""
    results = {m.tool_call_id: m.content for m in messages if m.role == "tool" and m.tool_call_id}
    calls = [call for m in messages if m.role == "assistant" for call in m.tool_calls]
    notes = sum(1 for m in messages if m.role == "assistant" and m.content)
    lines = [SUMMARY_TITLE.format(len(messages))]
    changed: set[str] = set()
    if calls:
        lines.append("Tool calls, in order:")
    for call in calls:
        arguments = _arguments(call)
        outcome, ok = _outcome(results.get(call.id))
        lines.append(f"- {call.name}({_describe(arguments)}) → {outcome}")
        path = arguments.get("file_path")
        if ok and call.name == "code" and arguments.get("action") in WRITE_ACTIONS and isinstance(path, str):
            changed.add(path)
    if not calls:
        lines.append("No tool calls.")
    lines.append("Files changed: " + (", ".join(sorted(changed)) if changed else "none"))
    if notes:
        lines.append(f"{notes} assistant message(s) of discussion omitted; the files hold the current state.")
    return "\n".join(lines)


def _arguments(call: ToolCall) -> dict[str, Any]:
    try:
        parsed = json.loads(call.arguments or "{}")
    except json.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _describe(arguments: dict[str, Any]) -> str:
    """The arguments worth naming (action, path, command, sql), each cut short."""
    parts: list[str] = []
    for key in _SHOWN_ARGUMENTS:
        value = arguments.get(key)
        if value is None:
            continue
        text = " ".join(map(str, value)) if isinstance(value, list) else str(value)
        text = " ".join(text.split())
        parts.append(f"{key}={text[:77] + '...' if len(text) > 80 else text}")
    return ", ".join(parts)


def _outcome(content: str | None) -> tuple[str, bool]:
    """(outcome in words, succeeded?) from a tool result as agentd writes it (a JSON object)."""
    if content is None:
        return "no result", False
    try:
        output = json.loads(content)
    except json.JSONDecodeError:
        return "returned text", True
    if not isinstance(output, dict):
        return "ok", True
    if output.get("error"):
        error = " ".join(str(output["error"]).split())
        return f"error: {error[:117] + '...' if len(error) > 120 else error}", False
    if output.get("timed_out") is True:
        return "timed out", False
    exit_code = output.get("exit_code")
    if isinstance(exit_code, int) and not isinstance(exit_code, bool):
        return (f"exit {exit_code}", exit_code == 0 and output.get("ok", True) is not False)
    if output.get("ok") is False:
        return "failed", False
    return "ok", True
