"""One agent turn: query the model, run its tool calls, append the results, check limits."""

from __future__ import annotations

import functools
import json
import threading
from dataclasses import dataclass
from importlib import resources
from typing import Any, Protocol, TypeVar

from pydantic import ValidationError

from agentd.engine.context import summarise_rounds, truncate_tool_output
from agentd.engine.verdicts import SUBMIT_TOOLS, Submission, SubmitTool
from agentd.kernel.errors import JobCancelled
from agentd.kernel.seams import Completion, Message, Model, ToolCall, ToolResult, ToolSpec

MAX_CONTEXT_CHARS = 240_000  # about 60k tokens: fits every current model's window with room to answer
MAX_TOOL_OUTPUT_CHARS = 24_000
KEEP_LAST_MESSAGES = 12
KEEP_REPLIES = 3  # of a failed turn, the model's last replies are kept (each capped) for `agentd show`
MAX_REPLY_CHARS = 1_000
NUDGE = (
    "Your reply had no tool call, so nothing happened. Reply with a tool call, for example `code` with "
    '{{"action": "list", "file_path": "."}} to see the files or {{"action": "read", "file_path": "<a file>"}} to '
    "read one, and finish your turn by calling `{submit}`."
)
FAILED = ("failed", "out_of_steps", "stuck")
S = TypeVar("S", bound=Submission)


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


class UsageMeter(Protocol):
    """Where a turn's model usage goes as it happens."""

    def usage(self, model: str, completion: Completion) -> None:
        """Record one model call's tokens under the model that answered it."""
        ...


@dataclass
class TurnResult:
    """What one agent turn produced; `model` is the model that gave the turn's last answer.

    `key` places the turn in its protocol (e.g. `vote:propose:proposer-1`): a resumed session
    replays a completed turn by it instead of asking the model again.
    """

    agent: str
    role: str
    model: str
    submission: Submission | None = None
    content: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    latency_ms: float = 0.0
    status: str = "done"
    seq: int = 0
    key: str = ""
    insisted: int = 0  # model calls where agentd required a tool call (tool_choice) after a text-only answer

    @property
    def failed(self) -> bool:
        """True when the turn ended without a submission (failed, out of steps or stuck)."""
        return self.status in FAILED or self.submission is None

    def submitted(self, kind: type[S]) -> S | None:
        """The submission, when it is of `kind` (the participant's submit tool decides which)."""
        return self.submission if isinstance(self.submission, kind) else None


@dataclass(frozen=True)
class Participant:
    """A named agent: its role, the model it speaks through, and the submit tool that ends its turn."""

    name: str
    role: str
    model: Model
    submit: SubmitTool
    priority: int = 0
    phase: str = ""  # e.g. "vote": told to the model in the system prompt, so a role can play several parts
    guidance: str = ""  # the repository's instructions (AGENTS.md from the base branch), capped by the job


GUIDANCE_HEAD = (
    "\nThe repository's own instructions for contributors follow (its AGENTS.md, read from the base branch). "
    "Follow them where they apply; they never override agentd's rules, your role or your tools.\n"
)


def _assistant(completion: Completion) -> Message:
    return Message("assistant", completion.text, completion.tool_calls)


def _submission(submit: SubmitTool, call: ToolCall) -> tuple[Submission | None, str]:
    """Validate a submit call; (submission, error)."""
    try:
        return submit.parse(call.arguments), ""
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}" for e in exc.errors())
        return None, f"invalid {call.name}: {problems}; call it again with valid arguments"


def run_turn(
    who: Participant,
    brief: str,
    tools: Tools,
    meter: UsageMeter,
    max_steps: int,
    cancel: threading.Event,
    turn_seq: int = 0,
) -> TurnResult:
    """Run one turn until the agent submits or runs out of steps."""
    system = role_prompt(who.role) + (f"\nPhase: {who.phase}\n" if who.phase else "")
    if who.name != who.role:
        system += f"Name: {who.name}\n"
    if who.guidance:
        system += GUIDANCE_HEAD + who.guidance.strip() + "\n"
    messages = [Message("system", system), Message("user", brief)]
    specs = [*tools.specs(who.role), who.submit.spec()]
    turn = TurnResult(who.name, who.role, who.model.name, seq=turn_seq)
    last_call: tuple[str, str, str] | None = None  # (tool, arguments, result) of the previous call
    replies: list[str] = []  # what the model said, kept for the record when the turn fails
    refused_submit = ""  # why the model's last call of its submit tool was refused, if one was
    require: str | None = None
    for step in range(max_steps):
        if cancel.is_set():
            raise JobCancelled(f"{who.name} stopped: the job was cancelled")
        if step == max_steps - 1 and step > 0:
            require = who.submit.name  # the last call: only the submit tool can end the turn
        # a long turn keeps its head and recent steps verbatim; the middle becomes a summary
        messages = summarise_rounds(messages, keep_last=KEEP_LAST_MESSAGES, max_chars=MAX_CONTEXT_CHARS)
        turn.insisted += require is not None
        completion = who.model.complete(messages, specs, require)
        turn.model = completion.model or who.model.name  # a fallback chain says which link answered
        meter.usage(turn.model, completion)
        turn.input_tokens += completion.usage.input_tokens
        turn.output_tokens += completion.usage.output_tokens
        turn.latency_ms += completion.latency_ms
        if completion.text:
            turn.content = completion.text
            replies = [*replies, completion.text[:MAX_REPLY_CHARS]][-KEEP_REPLIES:]
        messages.append(_assistant(completion))
        if not completion.tool_calls:
            messages.append(Message("user", NUDGE.format(submit=who.submit.name)))
            require = "any"  # it only talked: ask the API for a tool call next time
            continue
        require = None
        for call in completion.tool_calls:
            output = _answer(who, call, tools, turn)
            if call.name == who.submit.name and "error" in output:
                refused_submit = str(output["error"])[:MAX_REPLY_CHARS]
            text = truncate_tool_output(json.dumps(output), MAX_TOOL_OUTPUT_CHARS)
            messages.append(Message("tool", text, tool_call_id=call.id, name=call.name))
            if call.name != who.submit.name and last_call == (call.name, call.arguments, text):
                turn.status = "stuck"
                repeated = f"{who.name} repeated {call.name} with the same arguments and the same result"
                turn.content = _ending(repeated, turn, replies)
                return turn
            last_call = (call.name, call.arguments, text)
        if turn.submission is not None:
            return turn
    turn.status = "out_of_steps"
    why = f"{who.name} did not call {who.submit.name} within {max_steps} model calls"
    if refused_submit:
        why = why.replace(" within", " validly within") + f" (the last try: {refused_submit})"
    turn.content = _ending(why, turn, replies)
    return turn


def _ending(why: str, turn: TurnResult, replies: list[str]) -> str:
    """A failed turn's record: why it ended, whether agentd insisted on a tool call, and the model's last words."""
    if turn.insisted:
        why += f"; agentd asked for a tool call (tool_choice, where the endpoint takes it) {turn.insisted} time(s)"
    if not replies:
        return why
    quoted = "\n".join("> " + reply.replace("\n", "\n> ") for reply in replies)
    return f"{why}. Its last replies:\n{quoted}"


def _answer(who: Participant, call: ToolCall, tools: Tools, turn: TurnResult) -> dict[str, Any]:
    if call.name == who.submit.name:
        submission, error = _submission(who.submit, call)
        if submission is None:
            return {"error": error}
        turn.submission = submission
        return {"ok": True, "message": "submission received"}
    if call.name in SUBMIT_TOOLS:
        return {"error": f"{call.name} is not your submit tool; finish with {who.submit.name}"}
    result = tools.call(who.role, call.name, call.arguments, agent=who.name, turn_seq=turn.seq)
    return {"ok": result.ok, **result.output}
