"""What the OpenAI and Anthropic providers share: naming, agentd's own retries, latency."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from agentd.kernel.seams import Completion, Message, ToolSpec
from agentd.models.config import ModelConfig
from agentd.models.retry import Backoff, call_with_retries


class SdkModel:
    """A `Model` over an official SDK client; subclasses say how to build, send and read a request."""

    def __init__(
        self,
        name: str,
        config: ModelConfig,
        api_key: str,
        *,
        backoff: Backoff | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Keep what every call needs; the subclass builds its client."""
        self._label = name
        self._config = config
        self._secrets = (api_key,)
        self._backoff = backoff or Backoff(config.retry_base_s, config.retry_cap_s)
        self._sleep = sleep

    @property
    def name(self) -> str:
        """`NAME:model`, e.g. `default:gpt-4.1`."""
        return f"{self._label}:{self._config.model}"

    def _request(self, messages: list[Message], tools: list[ToolSpec]) -> dict[str, Any]:
        raise NotImplementedError

    def _send(self, kwargs: dict[str, Any]) -> Any:
        raise NotImplementedError

    def _read(self, response: Any) -> Completion:
        raise NotImplementedError

    def complete(self, messages: list[Message], tools: list[ToolSpec]) -> Completion:
        """One model call; latency_ms covers the whole call, retries and backoff included."""
        kwargs = self._request(messages, tools)
        started = time.monotonic()
        response = call_with_retries(
            lambda: self._send(kwargs),
            label=f"models.{self._label}",
            max_retries=self._config.max_retries,
            backoff=self._backoff,
            secrets=self._secrets,
            sleep=self._sleep,
        )
        return replace(self._read(response), latency_ms=(time.monotonic() - started) * 1000)
