"""A scripted model server speaking the OpenAI and Anthropic wire formats, for tests and the demo.

The official SDKs talk to it over real HTTP, so the scripted path exercises the same client code,
error mapping and retries as a real vendor. What it answers comes from a `Script`
(agentd.models.script). Only fault steps (`error`, `fault`) keep a counter, per conversation and
turn, so a retry of the same request sees the next fault, then the reply. A transport fault (`hang`,
`malformed_json`, `truncated`) is played on the socket, as a broken endpoint or proxy would.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import Counter
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from agentd.models.script import (
    MALFORMED_ARGUMENTS,
    NAME_LINE,
    PHASE_LINE,
    ROLE_LINE,
    RecordedRequest,
    Reply,
    Script,
    Step,
    anthropic_reply,
    conversation,
    error_reply,
    openai_reply,
)

__all__ = ["MALFORMED_ARGUMENTS", "Script", "ScriptedModelServer"]
HANG_S = 600.0  # how long a `hang` fault holds the connection silent, unless the step gives delay_s


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
        system, first_user, n = conversation(wire, body)
        found = ROLE_LINE.search(system)
        role = found.group(1) if found else ""
        role = self._script_key(system, role)
        step = self._step_for(role, n, f"{system}\0{first_user}")
        if "error" in step:
            return error_reply(wire, step, headers)
        ids = f"{role or 'none'}_{n}"
        render = anthropic_reply if wire == "anthropic" else openai_reply
        payload = render({"text": "(a reply the fault spoils)"} if "fault" in step else step, body, ids)
        return Reply(200, {}, payload, float(step.get("delay_s", 0.0)), str(step.get("fault", "")))

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
            if reply.fault == "hang":
                server.wait(reply.delay_s or HANG_S)  # not one byte: the client's timeout must end it
                self.close_connection = True
                return
            if reply.delay_s > 0:
                server.wait(reply.delay_s)
            data = json.dumps(reply.payload).encode()
            length = len(data)
            if reply.fault == "malformed_json":  # a 200 with a whole body that is not JSON
                data = data[: len(data) // 2]
                length = len(data)
            elif reply.fault == "truncated":
                data = data[: len(data) // 2]  # the promised length never arrives
            try:
                self.send_response(reply.status)
                for name, value in {
                    "content-type": "application/json",
                    "content-length": str(length),
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
