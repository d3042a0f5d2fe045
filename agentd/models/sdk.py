"""What the OpenAI and Anthropic providers share: naming, agentd's own retries, latency."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import structlog

from agentd.kernel import trace
from agentd.kernel.errors import ModelHTTPError
from agentd.kernel.seams import Completion, Message, ToolSpec
from agentd.models.config import ModelConfig
from agentd.models.retry import Backoff, call_with_retries

log = structlog.get_logger("agentd.models")
TOOL_CHOICE_REFUSED = frozenset({400, 422})


class SdkModel:
    """A `Model` over an official SDK client; subclasses say how to build, send and read a request."""

    provider = "openai"  # gen_ai.provider.name

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
        self._tool_choice_works = True

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

    def _tool_choice(self, require: str) -> Any:
        """The vendor's tool_choice for "any" tool or one tool by name."""
        raise NotImplementedError

    def complete(self, messages: list[Message], tools: list[ToolSpec], require: str | None = None) -> Completion:
        """One model call; latency_ms covers the whole call, retries and backoff included.

        `require` becomes the API's tool_choice. An endpoint that refuses tool_choice (some
        OpenAI-compatible servers answer 400 or 422) is asked once more without it, and never again.
        """
        kwargs = self._request(messages, tools)
        insist = require is not None and bool(tools) and self._tool_choice_works
        if insist:
            kwargs["tool_choice"] = self._tool_choice(require or "any")
        model = self._config.model
        request = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": self.provider}
        with trace.span(f"chat {model}", **request, **{"gen_ai.request.model": model}) as current:
            started = time.monotonic()
            try:
                response = self._call(kwargs)
            except ModelHTTPError as exc:
                if not insist or exc.status not in TOOL_CHOICE_REFUSED:
                    raise
                self._tool_choice_works = False
                log.warning("tool_choice refused; asking without it from now on", model=self.name, status=exc.status)
                kwargs.pop("tool_choice")
                response = self._call(kwargs)
            completion = replace(self._read(response), latency_ms=(time.monotonic() - started) * 1000)
            current.set_attributes(
                {
                    "gen_ai.response.model": completion.model.rsplit(":", 1)[-1],
                    "gen_ai.usage.input_tokens": completion.usage.input_tokens,
                    "gen_ai.usage.output_tokens": completion.usage.output_tokens,
                }
            )
        return completion

    def _call(self, kwargs: dict[str, Any]) -> Any:
        return call_with_retries(
            lambda: self._send(kwargs),
            label=f"models.{self._label}",
            max_retries=self._config.max_retries,
            backoff=self._backoff,
            secrets=self._secrets,
            sleep=self._sleep,
        )
