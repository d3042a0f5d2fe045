"""A script for the scripted model: what each role says, turn by turn, and how it looks on each wire.

Which reply a request gets is decided by the request alone: the role comes from a `Role: <name>`
line in the system prompt, the turn from the number of assistant messages already in the
conversation. Replies are shaped here as the OpenAI and Anthropic APIs send them.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from agentd.kernel.errors import ConfigError

SCRIPTS_DIR = Path(__file__).with_name("scripts")
ROLE_LINE = re.compile(r"^Role:\s*(\S+)", re.MULTILINE)
PHASE_LINE = re.compile(r"^Phase:\s*(\S+)", re.MULTILINE)
NAME_LINE = re.compile(r"^Name:\s*(\S+)", re.MULTILINE)
MALFORMED_ARGUMENTS = '{"action": "read", "file_path": '
STEP_KEYS = frozenset({"text", "tool_calls", "error", "fault", "retry_after", "malformed", "name", "delay_s", "usage"})
# Transport faults a step can serve instead of an answer: no bytes at all until the client gives up,
# a 200 whose body is not JSON, or a body cut off before its Content-Length.
TRANSPORT_FAULTS = frozenset({"hang", "malformed_json", "truncated"})
Step = Mapping[str, Any]

_OPENAI_ERRORS = {
    400: "invalid_request_error",
    401: "invalid_api_key",
    403: "permission_denied",
    404: "model_not_found",
    429: "rate_limit_exceeded",
}
_ANTHROPIC_ERRORS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


@dataclass(frozen=True)
class ScriptTurn:
    """One assistant turn of a role: faults served to successive attempts, then the reply."""

    faults: tuple[Step, ...]
    reply: Step


def _check_step(where: str, step: object) -> Step:
    if not isinstance(step, Mapping):
        raise ConfigError(f"{where}: a step must be a JSON object")
    unknown = set(step) - STEP_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(STEP_KEYS)}")
    if not {"text", "tool_calls", "error", "fault", "malformed"} & set(step):
        raise ConfigError(f"{where}: needs one of text, tool_calls, error, fault, malformed")
    if "fault" in step and step["fault"] not in TRANSPORT_FAULTS:
        raise ConfigError(f"{where}: fault must be one of {sorted(TRANSPORT_FAULTS)}")
    for call in step.get("tool_calls", []):
        if not isinstance(call, Mapping) or not isinstance(call.get("name"), str):
            raise ConfigError(f"{where}: each tool call needs a string 'name'")
        if not isinstance(call.get("arguments", {}), dict | str):
            raise ConfigError(f"{where}: tool call arguments must be an object or raw JSON text")
    return step


class Script:
    """A mapping role → steps; the key `"*"` serves roles the script does not list."""

    def __init__(self, steps: Mapping[str, Any], source: str = "script") -> None:
        """Validate `steps` (role → list of step objects) and group them into turns."""
        if not isinstance(steps, Mapping):
            raise ConfigError(f"{source}: a script is a JSON object mapping role → list of steps")
        self.source = source
        self.turns: dict[str, tuple[ScriptTurn, ...]] = {}
        for role, items in steps.items():
            if not isinstance(items, list):
                raise ConfigError(f"{source}: role {role!r}: steps must be a list")
            checked = [_check_step(f"{source}: role {role!r} step {i}", step) for i, step in enumerate(items)]
            turns: list[ScriptTurn] = []
            faults: list[Step] = []
            for step in checked:
                if "error" in step or "fault" in step:
                    faults.append(step)
                else:
                    turns.append(ScriptTurn(tuple(faults), step))
                    faults = []
            if faults:
                raise ConfigError(f"{source}: role {role!r}: error steps must precede a reply step")
            self.turns[str(role)] = tuple(turns)

    @classmethod
    def load(cls, name_or_path: str | Path) -> Script:
        """Load a script file, or a built-in one from `agentd/scripts/<name>.json` by bare name."""
        text_name = str(name_or_path)
        try:
            if isinstance(name_or_path, Path) or "/" in text_name or text_name.endswith(".json"):
                text = Path(name_or_path).read_text(encoding="utf-8")
            else:
                text = (SCRIPTS_DIR / f"{text_name}.json").read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"script {text_name!r}: cannot read it ({exc}); give a built-in name or a path to a JSON file"
            ) from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"script {text_name!r}: not valid JSON: {exc}") from None
        return cls(data, source=f"script {text_name!r}")

    def turns_for(self, role: str) -> tuple[ScriptTurn, ...] | None:
        """The turns of `role`, else of `"*"`, else None."""
        return self.turns.get(role, self.turns.get("*"))


class RecordedRequest(NamedTuple):
    """One request the server received: path, headers (lower-case names) and JSON body."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class Reply(NamedTuple):
    """What the server answers: status, extra headers, JSON payload, a delay before it, and a transport fault."""

    status: int
    headers: dict[str, str]
    payload: dict[str, Any]
    delay_s: float = 0.0
    fault: str = ""  # one of TRANSPORT_FAULTS: how the answer is (not) delivered


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
    return ""


def conversation(wire: str, body: Mapping[str, Any]) -> tuple[str, str, int]:
    """(system text, first user text, number of assistant messages) of a request body."""
    messages = [m for m in body.get("messages", []) if isinstance(m, Mapping)]
    if wire == "anthropic":
        system = _text_of(body.get("system", ""))
    else:
        system = "\n".join(_text_of(m.get("content")) for m in messages if m.get("role") in ("system", "developer"))
    first_user = next((_text_of(m.get("content")) for m in messages if m.get("role") == "user"), "")
    return system, first_user, sum(1 for m in messages if m.get("role") == "assistant")


def _calls_of(step: Step) -> list[tuple[str, str]]:
    """(name, raw JSON argument text) of every tool call a reply step makes."""
    calls = [
        (str(c["name"]), a if isinstance(a := c.get("arguments", {}), str) else json.dumps(a))
        for c in step.get("tool_calls", [])
    ]
    if step.get("malformed"):
        calls.append((str(step.get("name", "code")), MALFORMED_ARGUMENTS))
    return calls


def _usage_of(step: Step, body: Mapping[str, Any], text: str, calls: list[tuple[str, str]]) -> tuple[int, int]:
    given = step.get("usage") or {}
    prompt = max(1, len(json.dumps(body.get("messages", []))) // 4)
    output = max(1, (len(text) + sum(len(a) for _, a in calls)) // 4)
    return int(given.get("input_tokens", prompt)), int(given.get("output_tokens", output))


def openai_reply(step: Step, body: Mapping[str, Any], ids: str) -> dict[str, Any]:
    """A step as the body of an OpenAI chat completion."""
    text, calls = str(step.get("text", "")), _calls_of(step)
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    if calls:
        message["tool_calls"] = [
            {"id": f"call_{ids}_{i}", "type": "function", "function": {"name": n, "arguments": a}}
            for i, (n, a) in enumerate(calls)
        ]
    prompt, output = _usage_of(step, body, text, calls)
    return {
        "id": f"chatcmpl-{ids}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "scripted"),
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": "tool_calls" if calls else "stop"}
        ],
        "usage": {"prompt_tokens": prompt, "completion_tokens": output, "total_tokens": prompt + output},
    }


def _anthropic_input(raw: str) -> Any:
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError:
        return raw  # malformed on purpose: the client must cope with a non-object input
    return parsed if isinstance(parsed, dict) else raw


def anthropic_reply(step: Step, body: Mapping[str, Any], ids: str) -> dict[str, Any]:
    """A step as the body of an Anthropic message."""
    text, calls = str(step.get("text", "")), _calls_of(step)
    content: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    content += [
        {"type": "tool_use", "id": f"toolu_{ids}_{i}", "name": n, "input": _anthropic_input(a)}
        for i, (n, a) in enumerate(calls)
    ]
    prompt, output = _usage_of(step, body, text, calls)
    return {
        "id": f"msg_{ids}",
        "type": "message",
        "role": "assistant",
        "model": body.get("model", "scripted"),
        "content": content,
        "stop_reason": "tool_use" if calls else "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": prompt, "output_tokens": output},
    }


def error_reply(wire: str, step: Step, headers: Mapping[str, str]) -> Reply:
    """A fault step as the vendor's error status, body and headers."""
    status = int(step["error"])
    message = f"scripted error {status}"
    if status == 401:  # like some vendors, echo the key presented, so redaction gets tested
        key = headers.get("x-api-key") or headers.get("authorization", "").removeprefix("Bearer ")
        message = f"Incorrect API key provided: {key}"
    extra = {"retry-after": str(step["retry_after"])} if "retry_after" in step else {}
    if wire == "anthropic":
        kind = _ANTHROPIC_ERRORS.get(status, "api_error")
        payload: dict[str, Any] = {"type": "error", "error": {"type": kind, "message": message}}
    else:
        kind = _OPENAI_ERRORS.get(status, "server_error")
        payload = {"error": {"message": message, "type": kind, "param": None, "code": kind}}
    return Reply(status, extra, payload, float(step.get("delay_s", 0.0)))
