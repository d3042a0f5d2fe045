"""Real vendor APIs, opt-in only: set AGENTD_LIVE_TESTS=1 and the key variables to run these.

The network here reaches no LLM API, so by default they are skipped with that reason; every other
test uses agentd's scripted server over HTTP through the same SDK code paths.
"""

from __future__ import annotations

import os

import pytest

from agentd.kernel.seams import Message, ToolSpec
from agentd.models import build_model
from agentd.models.config import ModelConfig

LIVE = os.environ.get("AGENTD_LIVE_TESTS") == "1"
pytestmark = [pytest.mark.live, pytest.mark.skipif(not LIVE, reason="opt-in: set AGENTD_LIVE_TESTS=1 and API keys")]
ECHO = ToolSpec(
    "submit_review",
    "Finish with a verdict.",
    {
        "type": "object",
        "properties": {"verdict": {"type": "string", "enum": ["approve"]}, "summary": {"type": "string"}},
        "required": ["verdict", "summary"],
    },
)


@pytest.mark.parametrize(
    ("provider", "model", "key"),
    [
        ("openai", os.environ.get("AGENTD_LIVE_OPENAI_MODEL", "gpt-4.1-mini"), "OPENAI_API_KEY"),
        ("anthropic", os.environ.get("AGENTD_LIVE_ANTHROPIC_MODEL", "claude-sonnet-4-5"), "ANTHROPIC_API_KEY"),
    ],
)
def test_a_real_model_calls_the_submit_tool(provider: str, model: str, key: str) -> None:
    """A real model, asked to approve, answers with a valid submit_review tool call."""
    config = ModelConfig(provider=provider, model=model, api_key_env=key)  # type: ignore[arg-type]
    answer = build_model("live", config).complete(
        [Message("system", "Role: reviewer"), Message("user", "Approve this change by calling submit_review.")],
        [ECHO],
    )
    assert [call.name for call in answer.tool_calls] == ["submit_review"]
    assert answer.usage.input_tokens > 0
