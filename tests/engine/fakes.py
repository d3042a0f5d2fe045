"""In-memory lanes and a recorder for testing the protocols in milliseconds.

A fake, not a mock: the protocols' logic needs a workspace that changes and a test verdict, not
Docker or git; `test_debate_protocols.py` runs the same protocols on real lanes for the joints.
Models stay real: the OpenAI SDK talking to agentd's scripted model server.
"""

from __future__ import annotations

import difflib
import json
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from agentd.engine.config import DebateConfig, TeamConfig
from agentd.engine.lanes import Evidence
from agentd.engine.record import Replay, turn_row
from agentd.engine.session import Session
from agentd.engine.turn import TurnResult
from agentd.kernel.seams import CommandResult, Completion, Model, ToolResult, ToolSpec
from agentd.models.config import ModelConfig
from agentd.models.openai_provider import OpenAIModel
from agentd.models.scripted import Script, ScriptedModelServer

BUG = "total += it.Price\n"
FIX = "total += it.Price * it.Qty\n"
BASE = {"cart.go": f"func Total() int {{\n{BUG}}}\n"}
TEST_COMMAND = ["go", "test", "./..."]
CODE = ToolSpec(
    "code",
    "Read or replace text in a file.",
    {
        "type": "object",
        "properties": {
            "action": {"type": "string", "enum": ["read", "replace"]},
            "file_path": {"type": "string"},
            "old_text": {"type": "string"},
            "new_text": {"type": "string"},
        },
        "required": ["action", "file_path"],
    },
)


def fixed(files: Mapping[str, str]) -> bool:
    """The fake test suite: green when cart.go multiplies by the quantity."""
    return FIX in files.get("cart.go", "")


class FakeTools:
    """A `code` tool over a dict of files: read and replace, nothing else."""

    def __init__(self, files: dict[str, str]) -> None:
        """Work on `files` in place."""
        self.files = files

    def specs(self, role: str) -> list[ToolSpec]:
        """Every role gets the one tool."""
        return [CODE]

    def call(self, role: str, name: str, raw_arguments: str, agent: str = "", turn_seq: int = 0) -> ToolResult:
        """Read or replace; a bad call returns an error result, like the real toolbox."""
        args = json.loads(raw_arguments or "{}")
        path = str(args.get("file_path", ""))
        if name != "code" or path not in self.files:
            return ToolResult(False, {"error": f"no such tool or file: {name} {path}"}, "invalid")
        if args.get("action") == "read":
            return ToolResult(True, {"content": self.files[path]})
        old, new = str(args.get("old_text", "")), str(args.get("new_text", ""))
        if self.files[path].count(old) != 1:
            return ToolResult(False, {"error": "old_text must match exactly once"}, "invalid")
        self.files[path] = self.files[path].replace(old, new)
        return ToolResult(True, {"replaced": 1})


@dataclass
class FakeLane:
    """A lane over in-memory files; `test()` runs the fake suite and counts how often agentd tested."""

    name: str
    passes: Callable[[Mapping[str, str]], bool] = fixed
    files: dict[str, str] = field(default_factory=lambda: dict(BASE))
    tested: int = 0

    @property
    def tools(self) -> FakeTools:
        """The `code` tool over this lane's files."""
        return FakeTools(self.files)

    def diff(self) -> str:
        """A unified diff of the files against the base."""
        lines: list[str] = []
        for path, text in sorted(self.files.items()):
            before = BASE.get(path, "").splitlines(keepends=True)
            lines += difflib.unified_diff(before, text.splitlines(keepends=True), f"a/{path}", f"b/{path}")
        return "".join(lines)

    def test(self) -> Evidence:
        """agentd's (fake) test run: `ok` per package, like `go test` prints it."""
        self.tested += 1
        ok = self.passes(self.files)
        out = "ok  \texample/cart\t0.01s\n" if ok else "--- FAIL: TestTotal\nFAIL\texample/cart\t0.01s\n"
        return Evidence.of(CommandResult(0 if ok else 1, out, "", 10.0), TEST_COMMAND)


@dataclass
class FakeBench:
    """Lanes by name, made on first request."""

    passes: Callable[[Mapping[str, str]], bool] = fixed
    lanes: dict[str, FakeLane] = field(default_factory=dict)
    prepared: list[str] = field(default_factory=list)

    def prepare(self, names: Sequence[str]) -> None:
        """Note the lanes asked for ahead (the fake makes lanes instantly anyway)."""
        self.prepared += names

    def lane(self, name: str) -> FakeLane:
        """The lane called `name`."""
        return self.lanes.setdefault(name, FakeLane(name, self.passes))


class MemoryRecorder:
    """Keeps the rows the store would get, through the same conversion (`turn_row`)."""

    def __init__(self) -> None:
        """Nothing recorded yet."""
        self.rows: list[dict[str, Any]] = []
        self.usage_models: list[str] = []
        self._lock = threading.Lock()

    def usage(self, model: str, completion: Completion) -> None:
        """Note which model answered a call."""
        with self._lock:
            self.usage_models.append(model)

    def turn(self, turn: TurnResult) -> None:
        """Keep the turn's store row."""
        with self._lock:
            self.rows.append(turn_row(turn))


def scripted_model(server: ScriptedModelServer, name: str = "scripted", max_retries: int = 0) -> Model:
    """A model speaking through the OpenAI SDK to the scripted server."""
    config = ModelConfig(provider="openai", model="m", max_retries=max_retries, retry_base_s=0.001)
    return OpenAIModel(name, config, "k", base_url=server.openai_base_url)


@dataclass
class Scene:
    """A session over a scripted server with an in-memory recorder."""

    server: ScriptedModelServer
    session: Session
    recorder: MemoryRecorder

    def requests(self, name: str, phase: str | None = None) -> list[dict[str, Any]]:
        """The request bodies sent for the participant called `name` (in `phase`, when given)."""
        found = []
        for request in self.server.requests:
            system = next((m["content"] for m in request.body["messages"] if m["role"] == "system"), "")
            named = f"Name: {name}\n" in system or (system.startswith(f"Role: {name}\n") and "Name: " not in system)
            if named and (phase is None or f"Phase: {phase}\n" in system):
                found.append(request.body)
        return found

    def briefs(self, name: str, phase: str | None = None) -> list[str]:
        """The brief (first user message) of each request for `name`."""
        bodies = self.requests(name, phase)
        return [next(m["content"] for m in body["messages"] if m["role"] == "user") for body in bodies]

    def tool_results(self, name: str, phase: str | None = None) -> list[str]:
        """Every tool result the model was sent in the requests for `name`."""
        bodies = self.requests(name, phase)
        return [str(m["content"]) for body in bodies for m in body["messages"] if m["role"] == "tool"]

    def offered(self, name: str, tool: str, phase: str | None = None) -> dict[str, Any]:
        """The JSON schema of `tool` as offered in the first request for `name`."""
        tools = self.requests(name, phase)[0]["tools"]
        return next(t["function"]["parameters"] for t in tools if t["function"]["name"] == tool)


@dataclass(frozen=True)
class Stage:
    """The scripted server and a model speaking to it, shared by a module's tests (a new SDK client
    costs about 100 ms, stopping a server 50 ms; a call costs 2 ms)."""

    server: ScriptedModelServer
    model: Model


@contextmanager
def stage() -> Iterator[Stage]:
    """A running scripted server with an empty script, and a model on it."""
    with ScriptedModelServer(Script({})) as server:
        yield Stage(server, scripted_model(server))


def scene(
    on: Stage, script: Mapping[str, Any], *, replay: Replay | None = None, model: Model | None = None, **debate: Any
) -> Scene:
    """A fresh session on `on`'s server, now serving `script`; `debate` sets DebateConfig fields."""
    on.server.script = Script(script)
    on.server.reset()
    speaker = model or on.model
    recorder = MemoryRecorder()
    limits = TeamConfig(max_steps_per_turn=4)
    session = Session(lambda _role: speaker, recorder, DebateConfig(**debate), limits, threading.Event(), replay)
    return Scene(on.server, session, recorder)


# ---------------------------------------------------------------- script steps


def step(*calls: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    """One model reply making the given tool calls."""
    return {"tool_calls": [{"name": name, "arguments": arguments} for name, arguments in calls]}


def propose(new_text: str = FIX, summary: str = "multiply by the quantity") -> list[dict[str, Any]]:
    """A proposer's turn: replace the bug with `new_text` and submit, in one reply."""
    change = {"action": "replace", "file_path": "cart.go", "old_text": BUG, "new_text": new_text}
    return [step(("code", change), ("submit_patch", {"summary": summary}))]


def ballot(candidate: str | None, decision: str = "accept", **extra: Any) -> dict[str, Any]:
    """A voter's reply: cast_vote for `candidate` (left out when None)."""
    arguments = {"decision": decision, "confidence": 0.9, "rationale": "agentd's run is green", **extra}
    if candidate is not None:
        arguments["candidate"] = candidate
    return step(("cast_vote", arguments))


def review(verdict: str = "approve", *findings: dict[str, Any]) -> dict[str, Any]:
    """A critic's, tester's or reviewer's reply: submit_review with `findings`."""
    return step(("submit_review", {"verdict": verdict, "summary": f"{verdict}d", "findings": list(findings)}))


def finding(severity: str, message: str = "Total ignores negative quantities") -> dict[str, Any]:
    """A finding at cart.go:2."""
    return {"severity": severity, "file": "cart.go", "line": 2, "message": message}
