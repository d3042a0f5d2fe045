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
SERVER_ERROR = 500  # llama.cpp's Python server answers tool_choice "required" with a bare 500


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
        self._refused: set[str] = set()  # the tool_choice forms ("any", "named") this endpoint refused

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

        `require` becomes the API's tool_choice. An endpoint that refuses it is asked once more without
        it: a 400 or 422 (some OpenAI-compatible servers) refuses the parameter, never sent again; a 5xx
        to one form ("any" tool, or one tool by name) refuses that form only, when the same request
        without tool_choice is answered: llama.cpp's Python server answers 500 to "required" while it
        honours a named tool. Where only the named form works, "any" names the first tool offered.
        """
        kwargs = self._request(messages, tools)
        if require == "any" and "any" in self._refused and "named" not in self._refused and tools:
            require = tools[0].name  # the endpoint takes only a named tool_choice: name the first tool offered
        form = "any" if require == "any" else "named"
        insist = require is not None and bool(tools) and form not in self._refused
        if insist:
            kwargs["tool_choice"] = self._tool_choice(require or "any")
        model = self._config.model
        request = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": self.provider}
        with trace.span(f"chat {model}", **request, **{"gen_ai.request.model": model}) as current:
            started = time.monotonic()
            response = self._call_insisting(kwargs, form) if insist else self._call(kwargs)
            completion = replace(self._read(response), latency_ms=(time.monotonic() - started) * 1000)
            current.set_attributes(
                {
                    "gen_ai.response.model": completion.model.rsplit(":", 1)[-1],
                    "gen_ai.usage.input_tokens": completion.usage.input_tokens,
                    "gen_ai.usage.output_tokens": completion.usage.output_tokens,
                }
            )
        return completion

    def _call_insisting(self, kwargs: dict[str, Any], form: str) -> Any:
        """A call with tool_choice; where the endpoint refuses that form, the same call without it."""
        try:
            return self._call(kwargs)
        except ModelHTTPError as exc:
            status = exc.status or 0
            if status not in TOOL_CHOICE_REFUSED and status < SERVER_ERROR:
                raise
            kwargs.pop("tool_choice")
            if status in TOOL_CHOICE_REFUSED:
                self._refused |= {"any", "named"}  # the parameter itself is refused, whatever its value
            response = self._call(kwargs)  # a 5xx here too: the endpoint is failing, not refusing tool_choice
            self._refused.add(form)
            log.warning("tool_choice refused; asking without it from now on", model=self.name, status=status, form=form)
            return response

    def _call(self, kwargs: dict[str, Any]) -> Any:
        return call_with_retries(
            lambda: self._send(kwargs),
            label=f"models.{self._label}",
            max_retries=self._config.max_retries,
            backoff=self._backoff,
            secrets=self._secrets,
            sleep=self._sleep,
        )
