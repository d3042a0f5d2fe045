"""A scripted model server speaking the OpenAI and Anthropic wire formats, for tests and the demo.

The official SDKs talk to it over real HTTP, so the scripted path exercises the same client code,
error mapping and retries as a real vendor. Which reply a request gets is decided by the request
alone: the role comes from a `Role: <name>` line in the system prompt, the turn from the number of
assistant messages already in the conversation. Only fault steps (`error`) keep a counter, per
conversation and turn, so a retry of the same request sees the next fault, then the reply.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple

from agentd.kernel.errors import ConfigError

SCRIPTS_DIR = Path(__file__).with_name("scripts")
ROLE_LINE = re.compile(r"^Role:\s*(\S+)", re.MULTILINE)
PHASE_LINE = re.compile(r"^Phase:\s*(\S+)", re.MULTILINE)
NAME_LINE = re.compile(r"^Name:\s*(\S+)", re.MULTILINE)
MALFORMED_ARGUMENTS = '{"action": "read", "file_path": '
STEP_KEYS = frozenset({"text", "tool_calls", "error", "retry_after", "malformed", "name", "delay_s", "usage"})
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
class Turn:
    """One assistant turn of a role: faults served to successive attempts, then the reply."""

    faults: tuple[Step, ...]
    reply: Step


def _check_step(where: str, step: object) -> Step:
    if not isinstance(step, Mapping):
        raise ConfigError(f"{where}: a step must be a JSON object")
    unknown = set(step) - STEP_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(STEP_KEYS)}")
    if not {"text", "tool_calls", "error", "malformed"} & set(step):
        raise ConfigError(f"{where}: needs one of text, tool_calls, error, malformed")
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
        self.turns: dict[str, tuple[Turn, ...]] = {}
        for role, items in steps.items():
            if not isinstance(items, list):
                raise ConfigError(f"{source}: role {role!r}: steps must be a list")
            checked = [_check_step(f"{source}: role {role!r} step {i}", step) for i, step in enumerate(items)]
            turns: list[Turn] = []
            faults: list[Step] = []
            for step in checked:
                if "error" in step:
                    faults.append(step)
                else:
                    turns.append(Turn(tuple(faults), step))
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

    def turns_for(self, role: str) -> tuple[Turn, ...] | None:
        """The turns of `role`, else of `"*"`, else None."""
        return self.turns.get(role, self.turns.get("*"))


class RecordedRequest(NamedTuple):
    """One request the server received: path, headers (lower-case names) and JSON body."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class Reply(NamedTuple):
    """What the server answers: status, extra headers, JSON payload, and a delay before it."""

    status: int
    headers: dict[str, str]
    payload: dict[str, Any]
    delay_s: float = 0.0


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
    return ""


def _conversation(wire: str, body: Mapping[str, Any]) -> tuple[str, str, int]:
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


def _openai_reply(step: Step, body: Mapping[str, Any], ids: str) -> dict[str, Any]:
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


def _anthropic_reply(step: Step, body: Mapping[str, Any], ids: str) -> dict[str, Any]:
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


def _error_reply(wire: str, step: Step, headers: Mapping[str, str]) -> Reply:
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


class ScriptedModelServer:
    """A real HTTP server on 127.0.0.1 answering model requests from a `Script`."""

    def __init__(self, script: Script | Mapping[str, Any], port: int = 0) -> None:
        """Prepare the server; `start()` binds it (port 0 picks a free port)."""
        self.script = script if isinstance(script, Script) else Script(script)
        self.requests: list[RecordedRequest] = []
        self._attempts: Counter[tuple[str, int, str]] = Counter()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._port = port
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> ScriptedModelServer:
        """Bind and serve in a daemon thread; returns self."""
        if self._httpd is None:
            self._stopping.clear()
            self._httpd = ThreadingHTTPServer(("127.0.0.1", self._port), _handler_for(self))
            self._thread = threading.Thread(
                target=self._httpd.serve_forever, args=(0.05,), name="scripted-model-server", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port; in-flight delays end at once. Safe to call twice."""
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> ScriptedModelServer:
        """Start the server for a `with` block."""
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Stop the server when the `with` block ends."""
        self.stop()

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT`; the server must be started."""
        if self._httpd is None:
            raise RuntimeError("ScriptedModelServer is not started; call start()")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def openai_base_url(self) -> str:
        """The base URL for `openai.OpenAI(base_url=...)`."""
        return f"{self.url}/v1"

    @property
    def anthropic_base_url(self) -> str:
        """The base URL for `anthropic.Anthropic(base_url=...)`."""
        return self.url

    def reset(self) -> None:
        """Forget recorded requests and fault counters."""
        with self._lock:
            self.requests.clear()
            self._attempts.clear()

    def respond(self, path: str, headers: Mapping[str, str], body: dict[str, Any]) -> Reply:
        """Record a request and decide the reply; no I/O, so it can be called directly."""
        with self._lock:
            self.requests.append(RecordedRequest(path, dict(headers), body))
        if path == "/v1/models":
            return Reply(
                200,
                {},
                {
                    "object": "list",
                    "has_more": False,
                    "data": [
                        {
                            "id": "scripted",
                            "object": "model",
                            "type": "model",
                            "created": 0,
                            "owned_by": "agentd",
                            "display_name": "scripted",
                            "created_at": "1970-01-01T00:00:00Z",
                        }
                    ],
                },
            )
        wires = {"/v1/chat/completions": "openai", "/v1/messages": "anthropic"}
        if path not in wires:
            return Reply(404, {}, {"error": {"message": f"no route {path}", "type": "not_found"}})
        wire = wires[path]
        system, first_user, n = _conversation(wire, body)
        found = ROLE_LINE.search(system)
        role = found.group(1) if found else ""
        role = self._script_key(system, role)
        step = self._step_for(role, n, f"{system}\0{first_user}")
        if "error" in step:
            return _error_reply(wire, step, headers)
        ids = f"{role or 'none'}_{n}"
        render = _anthropic_reply if wire == "anthropic" else _openai_reply
        return Reply(200, {}, render(step, body, ids), float(step.get("delay_s", 0.0)))

    def _script_key(self, system: str, role: str) -> str:
        """The most specific script key for a request: name@phase, name, role@phase, role."""
        phase = PHASE_LINE.search(system)
        name = NAME_LINE.search(system)
        keys = []
        for who in ([name.group(1)] if name else []) + [role]:
            if phase:
                keys.append(f"{who}@{phase.group(1)}")
            keys.append(who)
        return next((key for key in keys if key in self.script.turns), role)

    def _step_for(self, role: str, n: int, conversation: str) -> Step:
        """The step answering turn `n` of `role`; faults count attempts per conversation."""
        turns = self.script.turns_for(role)
        if turns is None:
            return {"text": f"script has no steps for role {role or '(none)'} and no '*' entry"}
        if n >= len(turns):
            return {"text": f"script exhausted for role {role or '(none)'} at step {n}"}
        turn = turns[n]
        if not turn.faults:
            return turn.reply
        key = (role, n, hashlib.sha256(conversation.encode()).hexdigest()[:16])
        with self._lock:
            attempt = self._attempts[key]
            self._attempts[key] += 1
        return turn.faults[attempt] if attempt < len(turn.faults) else turn.reply

    def wait(self, seconds: float) -> None:
        """Sleep up to `seconds`, waking early when the server stops."""
        self._stopping.wait(seconds)


def _handler_for(server: ScriptedModelServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            """Stay quiet: tests read `server.requests` instead."""

        def do_GET(self) -> None:
            """Serve GET (the model list)."""
            self._serve({})

        def do_POST(self) -> None:
            """Serve POST (a completion)."""
            raw = self.rfile.read(int(self.headers.get("content-length") or 0))
            try:
                body = json.loads(raw or b"{}")
            except json.JSONDecodeError:
                body = {"_unparsed": raw.decode("utf-8", "replace")}
            self._serve(body if isinstance(body, dict) else {"_unparsed": body})

        def _serve(self, body: dict[str, Any]) -> None:
            headers = {k.lower(): v for k, v in self.headers.items()}
            reply = server.respond(self.path.split("?")[0], headers, body)
            if reply.delay_s > 0:
                server.wait(reply.delay_s)
            data = json.dumps(reply.payload).encode()
            try:
                self.send_response(reply.status)
                for name, value in {
                    "content-type": "application/json",
                    "content-length": str(len(data)),
                    "connection": "close",
                    **reply.headers,
                }.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (its timeout was shorter than the scripted delay)
            self.close_connection = True

    return Handler
