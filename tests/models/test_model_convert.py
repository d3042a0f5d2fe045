"""Message conversion to and from the OpenAI and Anthropic wire shapes, on plain data."""

from __future__ import annotations

import json

from anthropic.types import Message as AnthropicMessage
from openai.types.chat import ChatCompletion

from agentd.kernel.seams import Message, ToolCall, ToolSpec, Usage
from agentd.models.convert import (
    EMPTY_CONTENT,
    anthropic_request,
    completion_from_anthropic,
    completion_from_openai,
    openai_request,
)

CALLS = (
    ToolCall("c1", "code", '{"action": "read", "file_path": "a.go"}'),
    ToolCall("c2", "execute_command", '{"command": ["go", "test", "./..."]}'),
)
HISTORY = [
    Message("system", "Role: proposer"),
    Message("system", "Be brief."),
    Message("user", "Fix the bug."),
    Message("assistant", "Looking.", tool_calls=CALLS),
    Message("tool", "package a", tool_call_id="c1", name="code"),
    Message("tool", '{"exit_code": 0}', tool_call_id="c2", name="execute_command"),
    Message("user", "Go on."),
    Message("assistant", "Done."),
]
TOOL = ToolSpec("code", "Read files.", {"type": "object", "properties": {}})


def test_openai_request_keeps_every_message_in_order() -> None:
    """Messages map one to one, assistant tool calls become function calls, tools get wrapped."""
    kwargs = openai_request(HISTORY, [TOOL], model="gpt", max_tokens=100, temperature=0.2)
    assert [m["role"] for m in kwargs["messages"]] == [
        "system",
        "system",
        "user",
        "assistant",
        "tool",
        "tool",
        "user",
        "assistant",
    ]
    assistant = kwargs["messages"][3]
    assert assistant["tool_calls"][1] == {
        "id": "c2",
        "type": "function",
        "function": {"name": "execute_command", "arguments": '{"command": ["go", "test", "./..."]}'},
    }
    assert kwargs["messages"][5] == {"role": "tool", "tool_call_id": "c2", "content": '{"exit_code": 0}'}
    assert kwargs["tools"] == [
        {"type": "function", "function": {"name": "code", "description": "Read files.", "parameters": TOOL.parameters}}
    ]
    assert (kwargs["model"], kwargs["max_tokens"], kwargs["temperature"]) == ("gpt", 100, 0.2)


def test_openai_request_omits_what_is_not_set() -> None:
    """No tools and no temperature means neither key is sent."""
    kwargs = openai_request([Message("user", "hi")], [], model="m", max_tokens=5)
    assert set(kwargs) == {"model", "messages", "max_tokens"}


def test_anthropic_request_separates_system_and_merges_tool_results() -> None:
    """System text moves out, consecutive tool results and user text share one user message."""
    kwargs = anthropic_request(HISTORY, [TOOL], model="claude", max_tokens=100)
    assert kwargs["system"] == "Role: proposer\n\nBe brief."
    roles = [m["role"] for m in kwargs["messages"]]
    assert roles == ["user", "assistant", "user", "assistant"]
    assert kwargs["messages"][1]["content"] == [
        {"type": "text", "text": "Looking."},
        {"type": "tool_use", "id": "c1", "name": "code", "input": {"action": "read", "file_path": "a.go"}},
        {"type": "tool_use", "id": "c2", "name": "execute_command", "input": {"command": ["go", "test", "./..."]}},
    ]
    assert kwargs["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "c1", "content": "package a"},
        {"type": "tool_result", "tool_use_id": "c2", "content": '{"exit_code": 0}'},
        {"type": "text", "text": "Go on."},
    ]
    assert kwargs["tools"] == [{"name": "code", "description": "Read files.", "input_schema": TOOL.parameters}]
    assert "temperature" not in kwargs


def test_anthropic_request_keeps_malformed_and_empty_turns_visible() -> None:
    """A past call with invalid JSON keeps its raw text; an empty turn gets a placeholder."""
    broken = ToolCall("c9", "code", '{"action": ')
    kwargs = anthropic_request(
        [
            Message("user", "x"),
            Message("assistant", "", (broken,)),
            Message("tool", "", tool_call_id="c9"),
            Message("assistant"),
        ],
        [],
        model="m",
        max_tokens=5,
    )
    assert kwargs["messages"][1]["content"] == [
        {"type": "tool_use", "id": "c9", "name": "code", "input": {"_raw_arguments": '{"action": '}}
    ]
    assert kwargs["messages"][2]["content"][0]["content"] == EMPTY_CONTENT
    assert kwargs["messages"][3]["content"] == [{"type": "text", "text": EMPTY_CONTENT}]


def test_openai_round_trip_preserves_tool_calls() -> None:
    """An assistant turn sent as wire data and read back as a response yields the same calls."""
    wire = openai_request([HISTORY[3]], [], model="m", max_tokens=5)["messages"][0]
    response = ChatCompletion.model_validate(
        {
            "id": "x",
            "object": "chat.completion",
            "created": 0,
            "model": "gpt-4.1-2025",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": wire}],
            "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
        }
    )
    completion = completion_from_openai(response, "default")
    assert (completion.text, completion.tool_calls) == ("Looking.", CALLS)
    assert completion.usage == Usage(11, 7)
    assert completion.model == "default:gpt-4.1-2025"


def test_anthropic_round_trip_preserves_tool_calls() -> None:
    """tool_use blocks read back as calls whose JSON text parses to the original arguments."""
    blocks = anthropic_request([Message("user", "x"), HISTORY[3]], [], model="m", max_tokens=5)["messages"][1][
        "content"
    ]
    response = AnthropicMessage.model_validate(
        {
            "id": "msg",
            "type": "message",
            "role": "assistant",
            "model": "claude-x",
            "content": blocks,
            "stop_reason": "tool_use",
            "stop_sequence": None,
            "usage": {"input_tokens": 5, "output_tokens": 3, "cache_read_input_tokens": 100},
        }
    )
    completion = completion_from_anthropic(response)
    assert completion.text == "Looking."
    assert [(c.id, c.name, json.loads(c.arguments)) for c in completion.tool_calls] == [
        (c.id, c.name, json.loads(c.arguments)) for c in CALLS
    ]
    assert completion.usage == Usage(105, 3)
    assert completion.model == "claude-x"


def test_a_response_without_choices_or_usage_is_empty() -> None:
    """A response with no choices converts to an empty completion instead of failing."""
    response = ChatCompletion.model_validate(
        {"id": "x", "object": "chat.completion", "created": 0, "model": "m", "choices": []}
    )
    assert completion_from_openai(response).text == ""
