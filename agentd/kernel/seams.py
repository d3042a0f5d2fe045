"""The seams between agentd's parts, in one place.

The team sees a `Model` and a `Toolbox`; tools see a `Sandbox`; everything that persists goes
through the `Store` (agentd.store.base). Swapping Docker for another runtime, or one LLM vendor for
another, touches one module behind one of these protocols.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

# ---------------------------------------------------------------- commands and sandboxes


@dataclass(frozen=True)
class CommandResult:
    """What one command did: exit code, capped output, and how long it took."""

    exit_code: int
    stdout: str
    stderr: str
    duration_ms: float
    truncated: bool = False
    timed_out: bool = False
    killed: int = 0  # processes the sandbox killed because they outlived the command

    @property
    def ok(self) -> bool:
        """True when the command exited 0 within its deadline."""
        return self.exit_code == 0 and not self.timed_out


class Sandbox(Protocol):
    """An isolated place to run commands over one workspace (a job's worktree)."""

    @property
    def workspace(self) -> Path:
        """The host path mounted as the sandbox's working directory."""
        ...

    def run(
        self,
        argv: list[str],
        cwd: str = ".",
        timeout_s: float = 300.0,
        env: dict[str, str] | None = None,
    ) -> CommandResult:
        """Run argv (never through a shell) in `cwd`, relative to the workspace root."""
        ...

    def freeze(self) -> int:
        """Kill every process in the sandbox (running commands too) and return how many there were.

        Call it right before reading the workspace for staging: until the next `run` nothing can
        change it. Raises SandboxError (DiskLimitExceeded) when the lane must not be staged.
        """
        ...

    def close(self) -> None:
        """Stop and remove the sandbox; safe to call twice."""
        ...


class SandboxFactory(Protocol):
    """Opens a sandbox over a workspace; one per job, one more for the gate."""

    def open(self, workspace: Path, job_id: str, *, read_only: bool = False, cache_dir: Path | None = None) -> Sandbox:
        """Start a sandbox over `workspace` (`cache_dir`: a Go build cache; jobs pass none); the caller closes it."""
        ...

    def reap(self) -> int:
        """Remove the sandboxes a crashed daemon left behind; returns how many."""
        ...

    def check_image(self) -> None:
        """Raise when the engine does not answer or the sandbox image is missing (with the fix)."""
        ...


# ---------------------------------------------------------------- models

MessageRole = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True)
class ToolCall:
    """One tool call a model asked for; `arguments` is the raw JSON text it sent."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class Message:
    """A vendor-neutral chat message; providers convert it to their wire format."""

    role: MessageRole
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None  # set on role="tool": the call this result answers
    name: str | None = None  # role="tool": the tool's name (Anthropic and some servers want it)


@dataclass(frozen=True)
class ToolSpec:
    """A tool offered to a model: name, description and JSON schema of its arguments."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True)
class Usage:
    """Tokens one model call used."""

    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True)
class Completion:
    """A model's answer: text, tool calls, usage, and the model that really answered."""

    text: str
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage = field(default_factory=Usage)
    model: str = ""
    latency_ms: float = 0.0
    cost_usd: float = 0.0  # set by the budget guard, the one place a call is priced


class Model(Protocol):
    """Turns (messages, tools) into a completion; raises agentd.kernel.errors.ModelError on failure."""

    @property
    def name(self) -> str:
        """The configured model name, for the record (e.g. 'default:gpt-4.1')."""
        ...

    def complete(self, messages: list[Message], tools: list[ToolSpec], require: str | None = None) -> Completion:
        """One model call; retries inside, raises ModelError when it cannot answer.

        `require`: None lets the model answer in text; "any" asks for some tool call; a tool's name
        asks for that tool (the API's tool_choice, where the endpoint supports it).
        """
        ...


# ---------------------------------------------------------------- tools


@dataclass(frozen=True)
class ToolResult:
    """What a tool call returned to the model, and how agentd decided on it."""

    ok: bool
    output: dict[str, Any]
    decision: Literal["allowed", "refused", "invalid", "failed"] = "allowed"
    rule: str = ""
    duration_ms: float = 0.0

    def error_text(self) -> str:
        """The error message carried in output, or an empty string."""
        return str(self.output.get("error", ""))
