"""The OpenAI Chat Completions provider, for OpenAI and any OpenAI-compatible server."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import openai

from agentd.kernel.seams import Completion, Message, ToolSpec
from agentd.models.config import ModelConfig
from agentd.models.convert import completion_from_openai, openai_request
from agentd.models.retry import Backoff
from agentd.models.sdk import SdkModel


class OpenAIModel(SdkModel):
    """A `Model` over the official `openai` SDK; agentd retries (retry.py), the SDK does not."""

    def __init__(
        self,
        name: str,
        config: ModelConfig,
        api_key: str,
        *,
        base_url: str | None = None,
        backoff: Backoff | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Build the client for `[models.NAME]`; `base_url` overrides the config's."""
        super().__init__(name, config, api_key, backoff=backoff, sleep=sleep)
        self._client = openai.OpenAI(
            api_key=api_key, base_url=base_url or config.base_url, timeout=config.timeout_s, max_retries=0
        )

    def _request(self, messages: list[Message], tools: list[ToolSpec]) -> dict[str, Any]:
        return openai_request(
            messages,
            tools,
            model=self._config.model,
            max_tokens=self._config.max_tokens,
            temperature=self._config.temperature,
        )

    def _tool_choice(self, require: str) -> Any:
        return "required" if require == "any" else {"type": "function", "function": {"name": require}}

    def _send(self, kwargs: dict[str, Any]) -> Any:
        return self._client.chat.completions.create(**kwargs)

    def _read(self, response: Any) -> Completion:
        return completion_from_openai(response, self._label)

    def close(self) -> None:
        """Close the HTTP client; safe to call twice."""
        self._client.close()
