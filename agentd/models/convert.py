"""Vendor-neutral messages to and from the OpenAI and Anthropic wire shapes; pure functions.

Requests are built as plain dicts (the keyword arguments of the SDKs' `create`), so they can be
checked with plain data; responses are read from the SDKs' typed response objects.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from agentd.kernel.seams import Completion, Message, ToolCall, ToolSpec, Usage

if TYPE_CHECKING:  # annotations only: a daemon on one vendor never imports the other vendor's SDK
    from anthropic.types import Message as AnthropicMessage
    from openai.types.chat import ChatCompletion

EMPTY_CONTENT = "(no content)"  # Anthropic refuses empty messages; this stands in for one


def openai_messages(messages: list[Message]) -> list[dict[str, Any]]:
    """Neutral messages as Chat Completions messages."""
    wire: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "tool":
            wire.append({"role": "tool", "tool_call_id": message.tool_call_id or "", "content": message.content})
        elif message.role == "assistant" and message.tool_calls:
            wire.append(
                {
                    "role": "assistant",
                    # "" not null: llama.cpp's server answers 500 to null content after tool calls
                    "content": message.content,
                    "tool_calls": [
                        {
                            "id": call.id,
                            "type": "function",
                            "function": {"name": call.name, "arguments": call.arguments},
                        }
                        for call in message.tool_calls
                    ],
                }
            )
        else:
            wire.append({"role": message.role, "content": message.content})
    return wire


def openai_tools(tools: list[ToolSpec]) -> list[dict[str, Any]]:
    """Tool specs as Chat Completions function tools."""
    return [
        {
            "type": "function",
            "function": {"name": tool.name, "description": tool.description, "parameters": tool.parameters},
        }
        for tool in tools
    ]


def openai_request(
    messages: list[Message], tools: list[ToolSpec], *, model: str, max_tokens: int, temperature: float | None = None
) -> dict[str, Any]:
    """Keyword arguments for `client.chat.completions.create`."""
    kwargs: dict[str, Any] = {"model": model, "messages": openai_messages(messages), "max_tokens": max_tokens}
    if tools:
        kwargs["tools"] = openai_tools(tools)
    if temperature is not None:
        kwargs["temperature"] = temperature
    return kwargs


def anthropic_tool_input(arguments: str) -> dict[str, Any]:
    """A past call's raw JSON arguments as a `tool_use` input object (which must be an object)."""
    try:
        parsed = json.loads(arguments)
    except json.JSONDecodeError:
        parsed = None
    # keep a malformed call visible to the model instead of pretending it sent `{}`
    return parsed if isinstance(parsed, dict) else {"_raw_arguments": arguments}


def _assistant_blocks(message: Message) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if message.content:
        blocks.append({"type": "text", "text": message.content})
    blocks += [
        {"type": "tool_use", "id": call.id, "name": call.name, "input": anthropic_tool_input(call.arguments)}
        for call in message.tool_calls
    ]
    return blocks or [{"type": "text", "text": EMPTY_CONTENT}]


def anthropic_messages(messages: list[Message]) -> tuple[str, list[dict[str, Any]]]:
    """(system prompt, Messages API messages); tool results and user text that follow each
    other are merged into one user message, as the API wants turns to alternate."""
    system = "\n\n".join(m.content for m in messages if m.role == "system")
    wire: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            continue
        if message.role == "assistant":
            wire.append({"role": "assistant", "content": _assistant_blocks(message)})
            continue
        if message.role == "tool":
            block: dict[str, Any] = {
                "type": "tool_result",
                "tool_use_id": message.tool_call_id or "",
                "content": message.content or EMPTY_CONTENT,
            }
        else:
            block = {"type": "text", "text": message.content or EMPTY_CONTENT}
        if wire and wire[-1]["role"] == "user":
            wire[-1]["content"].append(block)
        else:
            wire.append({"role": "user", "content": [block]})
    return system, wire


def anthropic_tools(tools: list[ToolSpec]) -> list[dict[str, Any]]:
    """Tool specs as Messages API tools."""
    return [{"name": tool.name, "description": tool.description, "input_schema": tool.parameters} for tool in tools]


def anthropic_request(
    messages: list[Message], tools: list[ToolSpec], *, model: str, max_tokens: int, temperature: float | None = None
) -> dict[str, Any]:
    """Keyword arguments for `client.messages.create`."""
    system, wire = anthropic_messages(messages)
    kwargs: dict[str, Any] = {"model": model, "messages": wire, "max_tokens": max_tokens}
    if system:
        kwargs["system"] = system
    if tools:
        kwargs["tools"] = anthropic_tools(tools)
    if temperature is not None:
        kwargs["temperature"] = temperature
    return kwargs


def completion_from_openai(response: ChatCompletion, label: str = "") -> Completion:
    """A Chat Completions response as a Completion; `label` prefixes the answering model."""
    if not response.choices:
        return Completion(text="", model=_model(label, response.model))
    message = response.choices[0].message
    calls = tuple(
        ToolCall(id=call.id, name=call.function.name, arguments=call.function.arguments)
        for call in message.tool_calls or ()
        if call.type == "function"
    )
    usage = response.usage
    return Completion(
        text=message.content or "",
        tool_calls=calls,
        usage=Usage(usage.prompt_tokens, usage.completion_tokens) if usage else Usage(),
        model=_model(label, response.model),
    )


def completion_from_anthropic(response: AnthropicMessage, label: str = "") -> Completion:
    """A Messages API response as a Completion; tool inputs become raw JSON text again."""
    texts: list[str] = []
    calls: list[ToolCall] = []
    for block in response.content:
        if block.type == "text":
            texts.append(block.text)
        elif block.type == "tool_use":
            raw: object = block.input
            # a non-object input is passed through as the model sent it, for the caller to refuse
            arguments = raw if isinstance(raw, str) else json.dumps(raw)
            calls.append(ToolCall(id=block.id, name=block.name, arguments=arguments))
    usage = response.usage
    cached = (usage.cache_creation_input_tokens or 0) + (usage.cache_read_input_tokens or 0)
    return Completion(
        text="".join(texts),
        tool_calls=tuple(calls),
        usage=Usage(usage.input_tokens + cached, usage.output_tokens),
        model=_model(label, response.model),
    )


def _model(label: str, model: str) -> str:
    return f"{label}:{model}" if label else model
