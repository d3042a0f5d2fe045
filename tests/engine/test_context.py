"""Keeping a long debate in the context window: capped tool output and compacted rounds."""

from __future__ import annotations

import json

import pytest

from agentd.engine.context import MIN_SUMMARY_CHARS, summarise, summarise_rounds, truncate_tool_output
from agentd.kernel.seams import Message, ToolCall


def call(cid: str, name: str, **arguments: object) -> ToolCall:
    """A tool call with JSON arguments."""
    return ToolCall(cid, name, json.dumps(arguments))


def result(cid: str, name: str, **output: object) -> Message:
    """A tool result the way agentd's agent loop writes it."""
    return Message("tool", json.dumps(output), tool_call_id=cid, name=name)


def conversation() -> list[Message]:
    """A system prompt, a task, three rounds of tool use, and a last reply."""
    return [
        Message("system", "You are the proposer."),
        Message("user", "Fix the failing Add test."),
        Message("assistant", "Reading first.", (call("c1", "code", action="read", file_path="calc.go"),)),
        result("c1", "code", ok=True, file_path="calc.go", content="x" * 3000),
        Message(
            "assistant",
            "",
            (
                call("c2", "code", action="replace", file_path="calc.go", old_text="-", new_text="+"),
                call("c3", "code", action="create", file_path="notes.md", content="n"),
            ),
        ),
        result("c2", "code", ok=True, file_path="calc.go", replaced=1),
        result("c3", "code", error="notes.md: path denied by policy"),
        Message("assistant", "", (call("c4", "execute_command", command=["go", "test", "./..."]),)),
        result("c4", "execute_command", ok=False, exit_code=1, stdout="FAIL", stderr=""),
        Message("assistant", "", (call("c5", "execute_command", command="go vet ./..."),)),
        result("c5", "execute_command", ok=True, exit_code=0, stdout="", stderr=""),
        Message("assistant", "Done; submitting."),
    ]


def pairs_intact(messages: list[Message]) -> bool:
    """Every tool result follows the assistant message that asked for it, and every call is answered."""
    open_calls: set[str] = set()
    for message in messages:
        if message.role == "tool":
            if message.tool_call_id not in open_calls:
                return False
            open_calls.discard(message.tool_call_id)
        else:
            if open_calls:
                return False
            open_calls = {c.id for c in message.tool_calls}
    return not open_calls


# ---------------------------------------------------------------- tool output


def test_short_output_is_unchanged() -> None:
    """Output within the limit comes back as it was."""
    assert truncate_tool_output("hello", 5) == "hello"


def test_long_output_keeps_head_and_tail_within_the_limit() -> None:
    """Long output keeps its beginning and end around a marker saying how much was cut."""
    text = "HEAD" + "x" * 10_000 + "TAIL"
    cut = truncate_tool_output(text, 200)
    assert len(cut) <= 200
    assert cut.startswith("HEAD")
    assert cut.endswith("TAIL")
    head, marker, tail = cut.split("\n")
    assert marker == f"[... {len(text) - len(head) - len(tail)} characters omitted ...]"


def test_a_limit_smaller_than_the_marker_just_cuts() -> None:
    """With no room for a marker, the output is cut to the limit."""
    assert truncate_tool_output("abcdefghij" * 10, 8) == "abcdefgh"


# ---------------------------------------------------------------- compaction


def test_a_conversation_that_fits_is_unchanged() -> None:
    """Nothing is compacted while the messages fit in max_chars."""
    messages = conversation()
    assert summarise_rounds(messages, keep_last=2, max_chars=100_000) == messages


def test_compaction_keeps_system_first_user_and_the_tail() -> None:
    """The system message, the first user message and the last messages stay verbatim; one summary replaces the rest."""
    messages = conversation()
    compact = summarise_rounds(messages, keep_last=2, max_chars=1000)
    assert compact[:2] == messages[:2]
    assert compact[2].role == "user"
    assert compact[2].content.startswith("Summary of 7 earlier messages")
    assert compact[3:] == messages[-3:]  # the cut moved back one, so c5's result keeps its call
    assert pairs_intact(compact)


@pytest.mark.parametrize("keep_last", range(12))
def test_compaction_never_splits_a_tool_call_from_its_results(keep_last: int) -> None:
    """Wherever the cut falls, each assistant tool_calls message keeps all its tool results."""
    compact = summarise_rounds(conversation(), keep_last=keep_last, max_chars=500)
    assert pairs_intact(compact)
    assert len(compact) >= min(len(conversation()), keep_last + 2)


def test_the_summary_names_calls_outcomes_and_changed_files() -> None:
    """The summary lists each call with its arguments and outcome, and only the files really changed."""
    summary = summarise(conversation()[2:11])
    assert "- code(action=read, file_path=calc.go) → ok" in summary
    assert "- code(action=create, file_path=notes.md) → error: notes.md: path denied by policy" in summary
    assert "- execute_command(command=go test ./...) → exit 1" in summary
    assert "- execute_command(command=go vet ./...) → exit 0" in summary
    assert "Files changed: calc.go\n" in summary
    assert "1 assistant message(s) of discussion omitted" in summary


def test_the_summary_is_deterministic() -> None:
    """The same messages always give the same summary."""
    assert summarise(conversation()) == summarise(conversation())


def test_a_call_without_a_result_is_reported() -> None:
    """A call whose result never arrived, or a timed-out command, is named as such."""
    messages = [
        Message("assistant", "", (call("a", "execute_command", command="sleep 999"),)),
        result("a", "execute_command", ok=False, exit_code=-1, timed_out=True),
        Message("assistant", "", (call("b", "query_database", sql="SELECT 1"),)),
    ]
    summary = summarise(messages)
    assert "execute_command(command=sleep 999) → timed out" in summary
    assert "query_database(sql=SELECT 1) → no result" in summary
    assert "Files changed: none" in summary


def test_the_summary_takes_the_room_left_but_at_least_the_minimum() -> None:
    """A long summary is capped to what the kept messages leave, never below MIN_SUMMARY_CHARS."""
    messages = [
        Message("system", "s"),
        Message("user", "u"),
        *[
            m
            for i in range(200)
            for m in (
                Message("assistant", "", (call(f"c{i}", "code", action="read", file_path=f"f{i}.go"),)),
                result(f"c{i}", "code", ok=True, content="x"),
            )
        ],
    ]
    compact = summarise_rounds(messages, keep_last=2, max_chars=300)
    assert len(compact) == 5
    assert len(compact[2].content) <= MIN_SUMMARY_CHARS
    assert "characters omitted" in compact[2].content
    assert pairs_intact(compact)


def test_without_a_user_message_the_system_message_is_kept() -> None:
    """A conversation with no user message still keeps its system message verbatim."""
    messages = [Message("system", "s"), *[Message("assistant", "y" * 100) for _ in range(5)]]
    compact = summarise_rounds(messages, keep_last=1, max_chars=200)
    assert [m.role for m in compact] == ["system", "user", "assistant"]
