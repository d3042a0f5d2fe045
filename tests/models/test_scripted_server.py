"""The scripted model server: script format, step selection, faults, and the wire it speaks."""

from __future__ import annotations

import json
import threading
import urllib.request
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from agentd.kernel.errors import ConfigError
from agentd.models.scripted import Script, ScriptedModelServer


def chat(role: str, assistant_turns: int = 0, user: str = "task") -> dict[str, object]:
    """An OpenAI wire request body for `role` with that many assistant messages so far."""
    messages: list[dict[str, str]] = [
        {"role": "system", "content": f"x\nRole: {role}\ny"},
        {"role": "user", "content": user},
    ]
    messages += [{"role": "assistant", "content": "..."}] * assistant_turns
    return {"model": "m", "messages": messages}


def text_of(server: ScriptedModelServer, body: dict[str, object]) -> str:
    """The text the server answers an OpenAI request body with."""
    reply = server.respond("/v1/chat/completions", {}, body)
    return str(reply.payload["choices"][0]["message"]["content"])


def test_steps_follow_the_role_and_the_assistant_count() -> None:
    """The role comes from the `Role:` line, the step from the count of assistant messages."""
    server = ScriptedModelServer({"proposer": [{"text": "p0"}, {"text": "p1"}], "critic": [{"text": "c0"}]})
    assert text_of(server, chat("proposer", 1)) == "p1"
    assert text_of(server, chat("critic")) == "c0"
    assert text_of(server, chat("proposer")) == "p0"


def test_unlisted_roles_use_the_star_entry_and_gaps_are_visible() -> None:
    """`*` serves unlisted roles; running past the script or a missing role answers plainly."""
    server = ScriptedModelServer({"*": [{"text": "anyone"}]})
    assert text_of(server, chat("judge")) == "anyone"
    assert text_of(server, chat("judge", 1)) == "script exhausted for role judge at step 1"
    bare = ScriptedModelServer({"proposer": [{"text": "p0"}]})
    assert "no steps for role judge" in text_of(bare, chat("judge"))


def test_faults_are_counted_per_conversation() -> None:
    """Each conversation sees a turn's faults once, in order, then the reply."""
    server = ScriptedModelServer({"tester": [{"error": 500}, {"error": 429, "retry_after": 1}, {"text": "ok"}]})
    statuses = [server.respond("/v1/chat/completions", {}, chat("tester", user="a")).status for _ in range(3)]
    assert statuses == [500, 429, 200]
    other = server.respond("/v1/chat/completions", {}, chat("tester", user="b"))
    assert other.status == 500
    assert (
        server.respond(
            "/v1/messages", {}, {"system": "Role: tester", "messages": [{"role": "user", "content": "c"}]}
        ).payload["error"]["type"]
        == "api_error"
    )


def test_concurrent_sessions_get_their_own_steps() -> None:
    """Parallel conversations at different steps each get the step their history asks for."""
    with ScriptedModelServer({"*": [{"text": f"s{i}", "delay_s": 0.05} for i in range(4)]}) as srv:
        client = openai.OpenAI(base_url=srv.openai_base_url, api_key="k", max_retries=0)
        answers: dict[int, str] = {}

        def ask(step: int) -> None:
            body = chat("worker", step)
            response = client.chat.completions.create(**body)  # type: ignore[call-overload]
            answers[step] = response.choices[0].message.content or ""

        threads = [threading.Thread(target=ask, args=(i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        client.close()
    assert answers == {i: f"s{i}" for i in range(4)}


def test_the_model_list_and_recorded_requests() -> None:
    """GET /v1/models answers in both vendors' shape and every request is recorded."""
    with ScriptedModelServer({}) as server:
        client = openai.OpenAI(base_url=server.openai_base_url, api_key="k", max_retries=0)
        assert [m.id for m in client.models.list()] == ["scripted"]
        client.close()
        claude = anthropic.Anthropic(base_url=server.anthropic_base_url, api_key="k")
        assert [m.id for m in claude.models.list()] == ["scripted"]
        claude.close()
        with urllib.request.urlopen(f"{server.url}/v1/models") as response:
            assert json.load(response)["has_more"] is False
        assert [r.path for r in server.requests] == ["/v1/models"] * 3
        server.reset()
        assert server.requests == []


def test_stop_is_idempotent_and_a_server_restarts() -> None:
    """stop() twice is harmless, and a stopped server can start again on a new port."""
    server = ScriptedModelServer({"*": [{"text": "hi", "delay_s": 0.01}]}).start()
    server.stop()
    server.stop()
    with pytest.raises(RuntimeError, match="not started"):
        _ = server.url
    with server:
        client = openai.OpenAI(base_url=server.openai_base_url, api_key="k", max_retries=0)
        response = client.chat.completions.create(**chat("x"))  # type: ignore[call-overload]
        assert response.choices[0].message.content == "hi"
        client.close()


@pytest.mark.parametrize("wire", ["openai", "anthropic"])
@pytest.mark.parametrize(
    ("fault", "said"),
    [
        ("hang", "did not answer within timeout_s"),
        ("malformed_json", "a body that is not JSON"),
        ("truncated", "cannot reach the model endpoint"),
    ],
)
def test_transport_faults_reach_the_sdk_as_real_failures_and_a_retry_gets_the_reply(
    wire: str, fault: str, said: str
) -> None:
    """Each transport fault, through the official SDK, is the error agentd names for it; the retry gets the reply."""
    from agentd.kernel.seams import Message  # noqa: PLC0415
    from agentd.models import build_model  # noqa: PLC0415
    from agentd.models.config import ModelConfig  # noqa: PLC0415
    from agentd.models.retry import ModelUnavailableError  # noqa: PLC0415

    script = {"critic": [{"fault": fault}, {"text": "answered after the fault"}]}
    with ScriptedModelServer(script) as server:
        base = server.anthropic_base_url if wire == "anthropic" else server.openai_base_url
        env = {"KEY": "k"}

        def model(retries: int) -> Any:
            config = ModelConfig(
                provider=wire, model="m", base_url=base, api_key_env="KEY", timeout_s=1, max_retries=retries
            )  # type: ignore[arg-type]
            return build_model("edge", config, env, sleep=lambda _s: None)

        ask = [Message("system", "Role: critic"), Message("user", "first")]
        with pytest.raises(ModelUnavailableError, match=said):
            model(0).complete(ask, [])
        again = [Message("system", "Role: critic"), Message("user", "second")]
        assert model(1).complete(again, []).text == "answered after the fault"


def test_builtin_and_file_scripts_load(tmp_path: Path) -> None:
    """A bare name loads from agentd/scripts/, anything else as a path."""
    assert "proposer" in Script.load("example").turns
    path = tmp_path / "mine.json"
    path.write_text('{"judge": [{"text": "ok"}]}')
    assert Script.load(path).turns_for("judge") is not None
    assert Script.load(str(path)).turns_for("other") is None


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ({"p": [{"txt": "typo"}]}, r"role 'p' step 0: unknown key\(s\) \['txt'\]"),
        ({"p": [{"delay_s": 1}]}, "needs one of text, tool_calls, error, fault, malformed"),
        ({"p": [{"fault": "slow"}, {"text": "a"}]}, r"fault must be one of \['hang', 'malformed_json', 'truncated'\]"),
        ({"p": [{"text": "a"}, {"error": 500}]}, "error steps must precede a reply step"),
        ({"p": {"text": "a"}}, "steps must be a list"),
        ({"p": [{"tool_calls": [{"arguments": {}}]}]}, "needs a string 'name'"),
        ([], "a script is a JSON object"),
    ],
)
def test_bad_scripts_are_refused_with_the_place(script: object, message: str) -> None:
    """A script error names the role, the step and the fix."""
    with pytest.raises(ConfigError, match=message):
        Script(script)  # type: ignore[arg-type]


def test_missing_and_invalid_script_files(tmp_path: Path) -> None:
    """An unreadable or non-JSON script is a ConfigError naming it."""
    with pytest.raises(ConfigError, match="'no-such-script': cannot read it"):
        Script.load("no-such-script")
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(ConfigError, match="not valid JSON"):
        Script.load(bad)
