"""One agent turn: query the model, run its tool calls, append the results, check limits."""

from __future__ import annotations

import functools
import json
import threading
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Protocol

from pydantic import ValidationError

from agentd.engine.context import summarise_rounds, truncate_tool_output
from agentd.engine.verdicts import SUBMIT_TOOLS, submit_spec
from agentd.kernel.errors import JobCancelled
from agentd.kernel.seams import Completion, Message, Model, ToolCall, ToolResult, ToolSpec

MAX_CONTEXT_CHARS = 240_000  # about 60k tokens: fits every current model's window with room to answer
MAX_TOOL_OUTPUT_CHARS = 24_000
KEEP_LAST_MESSAGES = 12
NUDGE = "Use your tools to work on the task, and finish your turn by calling `{submit}`."


@functools.cache
def role_prompt(role: str) -> str:
    """The system prompt of a role, shipped with the package."""
    return resources.files("agentd.engine").joinpath(f"prompts/{role}.md").read_text(encoding="utf-8")


class Tools(Protocol):
    """What an agent needs of the toolbox."""

    def specs(self, role: str) -> list[ToolSpec]:
        """The tools a role is offered."""
        ...

    def call(self, role: str, name: str, raw_arguments: str, agent: str = "", turn_seq: int = 0) -> ToolResult:
        """Run one tool call; never raises."""
        ...


class Recorder(Protocol):
    """Where a turn's usage goes as it happens."""

    def usage(self, model: str, completion: Completion) -> None:
        """Record one model call's tokens."""
        ...


@dataclass
class Turn:
    """What one agent turn produced."""

    agent: str
    role: str
    model: str
    submission: dict[str, Any] | None = None
    content: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    latency_ms: float = 0.0
    steps: int = 0
    status: str = "done"
    tool_calls: list[str] = field(default_factory=list)
    seq: int = 0
    last_call: tuple[str, str, str] | None = None  # (tool, arguments, result) of the previous call


@dataclass(frozen=True)
class Participant:
    """A named agent: its role, the model it speaks through, and the submit tool that ends its turn."""

    name: str
    role: str
    model: Model
    submit: str
    priority: int = 0
    phase: str = ""  # e.g. "vote": told to the model in the system prompt, so a role can play several parts


def _assistant(completion: Completion) -> Message:
    return Message("assistant", completion.text, completion.tool_calls)


def _submission(call: ToolCall) -> tuple[dict[str, Any] | None, str]:
    """Validate a submit call; (submission, error)."""
    try:
        parsed = SUBMIT_TOOLS[call.name].model_validate_json(call.arguments or "{}")
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}" for e in exc.errors())
        return None, f"invalid {call.name}: {problems}; call it again with valid arguments"
    return parsed.model_dump(), ""


def run_turn(
    who: Participant,
    brief: str,
    tools: Tools,
    recorder: Recorder,
    max_steps: int,
    cancel: threading.Event,
    turn_seq: int = 0,
) -> Turn:
    """Run one turn until the agent submits or runs out of steps."""
    system = role_prompt(who.role) + (f"\nPhase: {who.phase}\n" if who.phase else "")
    if who.name != who.role:
        system += f"Name: {who.name}\n"
    messages = [Message("system", system), Message("user", brief)]
    specs = [*tools.specs(who.role), submit_spec(who.submit)]
    turn = Turn(who.name, who.role, who.model.name, seq=turn_seq)
    for _ in range(max_steps):
        if cancel.is_set():
            raise JobCancelled(f"{who.name} stopped: the job was cancelled")
        # a long turn keeps its head and recent steps verbatim; the middle becomes a summary
        messages = summarise_rounds(messages, keep_last=KEEP_LAST_MESSAGES, max_chars=MAX_CONTEXT_CHARS)
        completion = who.model.complete(messages, specs)
        recorder.usage(who.model.name, completion)
        turn.steps += 1
        turn.input_tokens += completion.usage.input_tokens
        turn.output_tokens += completion.usage.output_tokens
        turn.latency_ms += completion.latency_ms
        if completion.text:
            turn.content = completion.text
        messages.append(_assistant(completion))
        if not completion.tool_calls:
            messages.append(Message("user", NUDGE.format(submit=who.submit)))
            continue
        for call in completion.tool_calls:
            output = _answer(who, call, tools, turn, turn_seq)
            text = truncate_tool_output(json.dumps(output), MAX_TOOL_OUTPUT_CHARS)
            messages.append(Message("tool", text, tool_call_id=call.id, name=call.name))
            if call.name != who.submit and turn.last_call == (call.name, call.arguments, text):
                turn.status = "stuck"
                turn.content = f"{who.name} repeated {call.name} with the same arguments and the same result"
                return turn
            turn.last_call = (call.name, call.arguments, text)
        if turn.submission is not None:
            return turn
    turn.status = "out_of_steps"
    turn.content = f"{who.name} did not call {who.submit} within {max_steps} model calls"
    return turn


def _answer(who: Participant, call: ToolCall, tools: Tools, turn: Turn, turn_seq: int) -> dict[str, Any]:
    turn.tool_calls.append(call.name)
    if call.name == who.submit:
        submission, error = _submission(call)
        if submission is None:
            return {"error": error}
        turn.submission = submission
        return {"ok": True, "message": "submission received"}
    if call.name in SUBMIT_TOOLS:
        return {"error": f"{call.name} is not your submit tool; finish with {who.submit}"}
    result = tools.call(who.role, call.name, call.arguments, agent=who.name, turn_seq=turn_seq)
    return {"ok": result.ok, **result.output}
