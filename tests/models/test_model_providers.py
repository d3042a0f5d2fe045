"""The OpenAI and Anthropic providers, driven through the official SDKs against a real server."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from agentd.kernel.errors import ConfigError, ModelHTTPError
from agentd.kernel.redact import MASK
from agentd.kernel.seams import Message, Model, ToolCall, ToolSpec
from agentd.models import FallbackModel, build_model
from agentd.models.config import ModelConfig
from agentd.models.retry import ModelUnavailableError
from agentd.models.scripted import MALFORMED_ARGUMENTS, ScriptedModelServer

ServerFactory = Callable[[Mapping[str, Any]], ScriptedModelServer]
ModelFactory = Callable[..., Model]
KEY_ENV = "AGENTD_TEST_MODEL_KEY"  # the variable conftest's make_model reads the key from

WIRES = ["openai", "anthropic"]
CODE = ToolSpec(
    "code",
    "Read or change files.",
    {
        "type": "object",
        "properties": {"action": {"type": "string"}, "file_path": {"type": "string"}},
        "required": ["action"],
    },
)
READ = {"action": "read", "file_path": "main.go"}


def conversation(role: str, *later: Message, task: str = "Fix the failing test.") -> list[Message]:
    """A conversation shaped like agentd's prompts: a system prompt naming the role, a task."""
    return [Message("system", f"You are one of agentd's agents.\nRole: {role}\n"), Message("user", task), *later]


@pytest.mark.parametrize("wire", WIRES)
def test_tool_calls_are_parsed(wire: str, serve: ServerFactory, make_model: ModelFactory) -> None:
    """A scripted tool call comes back as a ToolCall with its JSON arguments, text and usage."""
    server = serve(
        {
            "proposer": [
                {
                    "text": "Reading.",
                    "tool_calls": [
                        {"name": "code", "arguments": READ},
                        {"name": "code", "arguments": {"action": "list"}},
                    ],
                }
            ]
        }
    )
    completion = make_model(server, wire).complete(conversation("proposer"), [CODE])
    assert completion.text == "Reading."
    assert [c.name for c in completion.tool_calls] == ["code", "code"]
    assert json.loads(completion.tool_calls[0].arguments) == READ
    assert completion.tool_calls[0].id != completion.tool_calls[1].id
    assert completion.usage.input_tokens > 0
    assert completion.usage.output_tokens > 0
    assert completion.model == f"default:{wire}-test-model"
    assert completion.latency_ms > 0
    tools = server.requests[0].body["tools"]
    assert (tools[0]["function"]["name"] if wire == "openai" else tools[0]["name"]) == "code"


@pytest.mark.parametrize("wire", WIRES)
def test_a_tool_result_turn_reaches_the_next_step(wire: str, serve: ServerFactory, make_model: ModelFactory) -> None:
    """After a tool call and its result the server serves the role's next step."""
    server = serve({"critic": [{"tool_calls": [{"name": "code", "arguments": READ}]}, {"text": "Looks right."}]})
    model = make_model(server, wire)
    first = model.complete(conversation("critic"), [CODE])
    call = first.tool_calls[0]
    later = [
        Message("assistant", first.text, tool_calls=first.tool_calls),
        Message("tool", '{"content": "package main"}', tool_call_id=call.id, name="code"),
    ]
    assert model.complete(conversation("critic", *later), [CODE]).text == "Looks right."


@pytest.mark.parametrize("wire", WIRES)
def test_rate_limit_honours_retry_after(
    wire: str, serve: ServerFactory, make_model: ModelFactory, sleeps: list[float]
) -> None:
    """A 429 with Retry-After is retried after exactly that wait and then succeeds."""
    server = serve({"proposer": [{"error": 429, "retry_after": 0.05}, {"text": "done"}]})
    completion = make_model(server, wire).complete(conversation("proposer"), [])
    assert completion.text == "done"
    assert sleeps == [0.05]
    assert len(server.requests) == 2


@pytest.mark.parametrize("wire", WIRES)
def test_server_error_is_retried(
    wire: str, serve: ServerFactory, make_model: ModelFactory, sleeps: list[float]
) -> None:
    """Two 500s are retried with capped jittered backoff, and the third attempt answers."""
    server = serve({"judge": [{"error": 500}, {"error": 500}, {"text": "approve"}]})
    assert make_model(server, wire).complete(conversation("judge"), []).text == "approve"
    assert len(sleeps) == 2
    assert all(0 <= s <= 0.2 for s in sleeps)


def test_exhausted_retries_fall_back_to_the_next_model(serve: ServerFactory, make_model: ModelFactory) -> None:
    """When a model's retries run out, FallbackModel asks the next one, which answers."""
    failing = serve({"proposer": [{"error": 503}] * 3 + [{"text": "too late"}]})
    healthy = serve({"proposer": [{"text": "from the backup"}]})
    chain = FallbackModel(
        [make_model(failing, "openai", name="primary", max_retries=2), make_model(healthy, "anthropic", name="backup")]
    )
    completion = chain.complete(conversation("proposer"), [])
    assert completion.text == "from the backup"
    assert completion.model == "backup:anthropic-test-model"
    assert len(failing.requests) == 3
    assert chain.name == "primary:openai-test-model | backup:anthropic-test-model"


def test_a_chain_that_fails_everywhere_names_every_failure(serve: ServerFactory, make_model: ModelFactory) -> None:
    """When no model in the chain answers, the error lists each model's failure."""
    server = serve({"*": [{"error": 500}] * 4 + [{"text": "never"}]})
    chain = FallbackModel([make_model(server, name="a", max_retries=0), make_model(server, name="b", max_retries=0)])
    with pytest.raises(ModelUnavailableError, match=r"models\.a: .*models\.b: ") as caught:
        chain.complete(conversation("tester"), [])
    assert caught.value.status == 500


@pytest.mark.parametrize("wire", WIRES)
def test_unauthorized_fails_fast_without_the_key(
    wire: str, serve: ServerFactory, make_model: ModelFactory, api_key: str
) -> None:
    """A 401 stops at once, skips the fallback, and its message never shows the key."""
    server = serve({"proposer": [{"error": 401}, {"text": "unreachable"}]})
    backup = serve({"proposer": [{"text": "must not be asked"}]})
    chain = FallbackModel([make_model(server, wire), make_model(backup, wire, name="backup")])
    with pytest.raises(ModelHTTPError) as caught:
        chain.complete(conversation("proposer"), [])
    error = caught.value
    assert not isinstance(error, ModelUnavailableError)
    assert error.status == 401
    assert "API key was refused" in str(error)
    assert MASK in str(error)  # the server echoed the key, as some vendors do
    assert api_key not in str(error)
    assert error.__cause__ is None
    assert error.__context__ is None
    assert len(server.requests) == 1
    assert backup.requests == []


@pytest.mark.parametrize("wire", WIRES)
def test_timeout_is_retried(wire: str, serve: ServerFactory, make_model: ModelFactory) -> None:
    """A reply slower than timeout_s times out, and the retry gets the next step's answer."""
    server = serve({"tester": [{"error": 503, "delay_s": 2.0}, {"text": "ran the tests"}]})
    model = make_model(server, wire, timeout_s=0.3)
    assert model.complete(conversation("tester"), []).text == "ran the tests"
    assert len(server.requests) == 2


def test_timeouts_exhaust_and_fall_back(serve: ServerFactory, make_model: ModelFactory) -> None:
    """A model that always answers too late is given up after its retries; the next answers."""
    slow = serve({"optimizer": [{"text": "slow", "delay_s": 2.0}]})
    fast = serve({"optimizer": [{"text": "fast"}]})
    chain = FallbackModel([make_model(slow, timeout_s=0.2, max_retries=1), make_model(fast, name="backup")])
    assert chain.complete(conversation("optimizer"), []).text == "fast"
    assert len(slow.requests) == 2


@pytest.mark.parametrize("wire", WIRES)
def test_malformed_tool_arguments_come_back_raw(wire: str, serve: ServerFactory, make_model: ModelFactory) -> None:
    """Arguments that are not valid JSON are returned verbatim for the caller to refuse."""
    server = serve({"proposer": [{"malformed": True, "text": "Reading main.go"}]})
    completion = make_model(server, wire).complete(conversation("proposer"), [CODE])
    (call,) = completion.tool_calls
    assert call.name == "code"
    assert call.arguments == MALFORMED_ARGUMENTS
    with pytest.raises(json.JSONDecodeError):
        json.loads(call.arguments)


@pytest.mark.parametrize("wire", WIRES)
def test_a_malformed_call_can_be_answered_and_the_job_goes_on(
    wire: str, serve: ServerFactory, make_model: ModelFactory
) -> None:
    """The conversation holding a malformed call converts and continues to the next step."""
    server = serve({"proposer": [{"malformed": True}, {"text": "Retrying properly."}]})
    model = make_model(server, wire)
    first = model.complete(conversation("proposer"), [CODE])
    later = [
        Message("assistant", "", tool_calls=first.tool_calls),
        Message("tool", '{"error": "arguments are not valid JSON"}', tool_call_id=first.tool_calls[0].id, name="code"),
    ]
    assert model.complete(conversation("proposer", *later), [CODE]).text == "Retrying properly."


def test_missing_key_variable_is_a_config_error() -> None:
    """An unset api_key_env variable is a ConfigError that names the variable and the model."""
    config = ModelConfig(provider="openai", model="gpt-4.1", api_key_env="MY_OPENAI_KEY")
    with pytest.raises(
        ConfigError,
        match=r"models\.default: environment variable "
        r"MY_OPENAI_KEY is not set; export it",
    ):
        build_model("default", config, env={})


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_vendor_without_a_key_variable_is_a_config_error(provider: Any) -> None:
    """A vendor endpoint with no api_key_env at all is refused before any request."""
    with pytest.raises(ConfigError, match=r"models\.m: api_key_env is not set"):
        build_model("m", ModelConfig(provider=provider, model="x"), env={})


def test_a_compatible_server_without_a_key_gets_a_placeholder(serve: ServerFactory, make_model: ModelFactory) -> None:
    """An OpenAI-compatible server (base_url, no api_key_env) is called with a placeholder key."""
    server = serve({"*": [{"text": "hello from a local model"}]})
    model = make_model(server, "openai", api_key_env=None, env={})
    assert model.complete(conversation("reviewer"), []).text == "hello from a local model"
    assert server.requests[0].headers["authorization"] == "Bearer agentd-no-key"


def test_the_key_reaches_only_the_auth_header(serve: ServerFactory, make_model: ModelFactory, api_key: str) -> None:
    """The API key is sent as a header and appears in no request body the model sees."""
    server = serve({"*": [{"tool_calls": [{"name": "code", "arguments": READ}]}, {"text": "ok"}]})
    model = make_model(server, "anthropic")
    first = model.complete(conversation("reviewer"), [CODE])
    later = [
        Message("assistant", "", tool_calls=first.tool_calls),
        Message("tool", "file text", tool_call_id=first.tool_calls[0].id, name="code"),
    ]
    model.complete(conversation("reviewer", *later), [CODE])
    headers = server.requests[0].headers
    # the Anthropic SDK sends the key as `x-api-key` or, in recent versions, as a bearer token
    assert api_key in (headers.get("x-api-key"), headers.get("authorization", "")[7:])
    assert all(api_key not in json.dumps(request.body) for request in server.requests)


@pytest.mark.parametrize("wire", WIRES)
def test_scripted_provider_runs_a_shared_server(wire: Any, tmp_path: Any) -> None:
    """provider=scripted starts one server per script and speaks to it through the chosen SDK."""
    script = tmp_path / "demo.json"
    script.write_text(
        json.dumps({"judge": [{"tool_calls": [{"name": "cast_vote", "arguments": {"vote": "approve"}}]}]})
    )
    config = ModelConfig(provider="scripted", model="scripted", script=str(script), wire=wire)
    first, second = build_model("a", config, env={}), build_model("b", config, env={})
    try:
        completion = first.complete(conversation("judge"), [])
        assert completion.tool_calls == (
            ToolCall("call_judge_0_0" if wire == "openai" else "toolu_judge_0_0", "cast_vote", '{"vote": "approve"}'),
        )
        assert second.complete(conversation("judge"), []).text == completion.text
    finally:
        for model in (first, second):
            model.close()  # type: ignore[attr-defined]


def test_scripted_provider_needs_a_script() -> None:
    """provider=scripted without `script` is a ConfigError naming the key."""
    with pytest.raises(ConfigError, match=r"models\.s: provider \"scripted\" needs `script`"):
        build_model("s", ModelConfig(provider="scripted", model="scripted"), env={})


def test_key_env_name_is_used_as_given(serve: ServerFactory, make_model: ModelFactory) -> None:
    """The key is read from the variable api_key_env names, not from the SDK's default one."""
    server = serve({"*": [{"text": "ok"}]})
    make_model(server, env={KEY_ENV: "sk-other-key", "OPENAI_API_KEY": "sk-wrong"}).complete(conversation("judge"), [])
    assert server.requests[0].headers["authorization"] == "Bearer sk-other-key"


def test_an_unreachable_endpoint_retries_then_falls_back(
    serve: ServerFactory, make_model: ModelFactory, sleeps: list[float]
) -> None:
    """Connection refused is retried up to max_retries, then the chain's next model answers."""
    gone = serve({})
    gone_url = gone.openai_base_url
    gone.stop()
    backup = serve({"*": [{"text": "still here"}]})
    dead = make_model(backup, name="dead", base_url=gone_url, max_retries=1)
    chain = FallbackModel([dead, make_model(backup, name="backup")])
    assert chain.complete(conversation("judge"), []).text == "still here"
    assert len(sleeps) == 1


@pytest.mark.parametrize(
    ("wire", "require", "expected"),
    [
        ("openai", "any", "required"),
        ("openai", "code", {"type": "function", "function": {"name": "code"}}),
        ("anthropic", "any", {"type": "any"}),
        ("anthropic", "code", {"type": "tool", "name": "code"}),
    ],
)
def test_a_required_tool_call_reaches_the_api_as_tool_choice(
    wire: str, require: str, expected: Any, serve: ServerFactory, make_model: ModelFactory
) -> None:
    """`require` is sent as the vendor's tool_choice ("required"/any, or one tool by name); None sends none."""
    server = serve({"proposer": [{"text": "ok"}]})
    model = make_model(server, wire)
    model.complete(conversation("proposer"), [CODE], require)
    model.complete(conversation("proposer"), [CODE])
    assert server.requests[0].body["tool_choice"] == expected
    assert "tool_choice" not in server.requests[1].body


def test_an_endpoint_that_refuses_tool_choice_is_asked_without_it_from_then_on(
    serve: ServerFactory, make_model: ModelFactory
) -> None:
    """A 400 to a request carrying tool_choice is asked again without it, and later calls never send it."""
    server = serve({"proposer": [{"error": 400}, {"text": "fine without"}]})
    model = make_model(server, "openai", max_retries=0)
    assert model.complete(conversation("proposer"), [CODE], "any").text == "fine without"
    model.complete(conversation("proposer"), [CODE], "any")
    sent = ["tool_choice" in request.body for request in server.requests]
    assert sent == [True, False, False]


def test_an_assistant_turn_with_tool_calls_carries_empty_text_not_null(
    serve: ServerFactory, make_model: ModelFactory
) -> None:
    """After a tool call, the assistant message goes back with content "" (llama.cpp's server refuses null)."""
    server = serve({"critic": [{"tool_calls": [{"name": "code", "arguments": READ}]}, {"text": "done"}]})
    model = make_model(server, "openai")
    first = model.complete(conversation("critic"), [CODE])
    later = [
        Message("assistant", first.text, tool_calls=first.tool_calls),
        Message("tool", "{}", tool_call_id=first.tool_calls[0].id, name="code"),
    ]
    model.complete(conversation("critic", *later), [CODE])
    assistant = server.requests[1].body["messages"][2]
    assert assistant["role"] == "assistant"
    assert assistant["content"] == ""
def test_a_model_on_the_openai_wire_never_imports_the_anthropic_sdk() -> None:
    """A daemon whose models speak OpenAI loads only that SDK: its first call took 3 s longer importing the other."""
    code = (
        "import os, sys\n"
        "from agentd.kernel.seams import Message\n"
        "from agentd.models import build_model\n"
        "from agentd.models.config import ModelConfig\n"
        "from agentd.models.scripted import ScriptedModelServer\n"
        "with ScriptedModelServer({'*': [{'text': 'hi'}]}) as server:\n"
        "    config = ModelConfig(provider='openai', model='m', base_url=server.openai_base_url, api_key_env='K')\n"
        "    model = build_model('m', config, {'K': 'k'})\n"
        "    assert model.complete([Message('user', 'hello')], []).text == 'hi'\n"
        "print(sorted(name for name in ('openai', 'anthropic') if name in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "['openai']"
