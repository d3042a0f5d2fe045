"""A real, small, messy model end to end: llama.cpp's OpenAI-compatible server with SmolLM2-135M-Instruct.

Opt-in, not in CI (building llama-cpp-python takes minutes): start the server with
`scripts/llama_server.sh start`, then `AGENTD_LLAMA_URL=$(scripts/llama_server.sh url) pytest -m llama`.
The model solves nothing; these tests prove agentd holds against what it really sends.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agentd.config import parse_config
from agentd.eval.commands import RunChoices, run_eval
from agentd.kernel.seams import Message, ToolSpec
from agentd.models import build_model
from agentd.models.config import ModelConfig

URL = os.environ.get("AGENTD_LLAMA_URL", "")
pytestmark = [pytest.mark.llama, pytest.mark.skipif(not URL, reason="opt-in: set AGENTD_LLAMA_URL (docs/eval.md)")]
STEPS = 4
CODE = ToolSpec(
    "code",
    "Read a file of the workspace.",
    {
        "type": "object",
        "properties": {"action": {"type": "string", "enum": ["read"]}, "file_path": {"type": "string"}},
        "required": ["action", "file_path"],
    },
)


def config_text() -> str:
    """agentd.toml for the server: small answers, few steps, a token budget per task."""
    model = f'provider = "openai"\nmodel = "smollm2-135m"\nbase_url = "{URL}"\ntimeout_s = 900\nmax_tokens = 256\n'
    return (
        f'[repository]\npath = "."\n[models.default]\n{model}[models.smollm2]\n{model}'
        f"[team]\nmax_steps_per_turn = {STEPS}\n[budget]\nmax_tokens_per_task = 60000\n"
    )


def test_the_server_takes_agentds_requests_after_a_tool_call() -> None:
    """tool_choice "required" (a 500 from this server) is dropped, and the assistant turn with tool calls goes
    back with content "" (this server refuses null) and is answered."""
    model = build_model("llama", ModelConfig(provider="openai", model="smollm2-135m", base_url=URL, max_retries=0))
    conversation = [Message("system", "Use the code tool."), Message("user", "Read go.mod.")]
    first = model.complete(conversation, [CODE], "any")
    call = first.tool_calls or ()
    later = [Message("assistant", first.text, tool_calls=call)] if call else [Message("assistant", first.text)]
    later += [Message("tool", '{"ok": true, "content": "module x"}', tool_call_id=c.id, name=c.name) for c in call]
    second = model.complete([*conversation, *later, Message("user", "Now say done.")], [CODE], "code")
    assert second.usage.input_tokens > first.usage.input_tokens


def test_an_eval_run_against_the_real_model_ends_in_a_clear_report(tmp_path: Path) -> None:
    """One task under `single`: no crash, the step limit held, nothing resolved, and a report saying what happened."""
    choices = RunChoices("builtin", ("single",), ("smollm2",), out=tmp_path / "out", only=("fix-nil-map-registry",))
    (record,) = run_eval(parse_config(config_text(), env={}), choices, lambda _line: None)
    assert record["error"] is None, record["error"]
    assert not record["resolved"]
    assert record["model_calls"] <= STEPS
    assert record["reason"]
    assert "| fix-nil-map-registry | single | smollm2 | 1 |" in (tmp_path / "out" / "report.md").read_text()
