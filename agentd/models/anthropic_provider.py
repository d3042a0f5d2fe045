"""The Anthropic Messages API provider."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import anthropic

from agentd.kernel.seams import Completion, Message, ToolSpec
from agentd.models.config import ModelConfig
from agentd.models.convert import anthropic_request, completion_from_anthropic
from agentd.models.retry import Backoff
from agentd.models.sdk import SdkModel


class AnthropicModel(SdkModel):
    """A `Model` over the official `anthropic` SDK; agentd retries (retry.py), the SDK does not."""

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
        self._client = anthropic.Anthropic(
            api_key=api_key, base_url=base_url or config.base_url, timeout=config.timeout_s, max_retries=0
        )

    def _request(self, messages: list[Message], tools: list[ToolSpec]) -> dict[str, Any]:
        return anthropic_request(
            messages,
            tools,
            model=self._config.model,
            max_tokens=self._config.max_tokens,
            temperature=self._config.temperature,
        )

    provider = "anthropic"

    def _tool_choice(self, require: str) -> Any:
        return {"type": "any"} if require == "any" else {"type": "tool", "name": require}

    def _send(self, kwargs: dict[str, Any]) -> Any:
        return self._client.messages.create(**kwargs)

    def _read(self, response: Any) -> Completion:
        return completion_from_anthropic(response, self._label)

    def close(self) -> None:
        """Close the HTTP client; safe to call twice."""
        self._client.close()
