"""LLM providers behind the `Model` protocol: OpenAI, Anthropic, and the scripted test server.

`build_model` turns one `[models.NAME]` table into a `Model`; `FallbackModel` chains several.
Even the scripted provider goes through an official SDK over HTTP, to agentd's own
`ScriptedModelServer`, so tests and the offline demo exercise the real client path.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from agentd.kernel.errors import ConfigError
from agentd.kernel.seams import Completion, Message, Model, ToolSpec
from agentd.models.config import ModelConfig
from agentd.models.retry import Backoff, ModelUnavailableError
from agentd.models.scripted import Script, ScriptedModelServer

__all__ = ["AnthropicModel", "FallbackModel", "OpenAIModel", "build_model", "scripted_server"]

PLACEHOLDER_KEY = "agentd-no-key"  # OpenAI-compatible servers without auth still want a key
_SERVERS: dict[str, ScriptedModelServer] = {}
_SERVERS_LOCK = threading.Lock()


def _api_key(name: str, config: ModelConfig, env: Mapping[str, str]) -> str:
    """The key from the variable `api_key_env` names; a placeholder where none is needed."""
    if config.api_key_env:
        key = env.get(config.api_key_env, "")
        if not key:
            raise ConfigError(
                f"models.{name}: environment variable {config.api_key_env} is not set; export it "
                f"with the {config.provider} API key, or change models.{name}.api_key_env"
            )
        return key
    if config.provider == "scripted" or config.base_url:
        return PLACEHOLDER_KEY
    variable = "OPENAI_API_KEY" if config.provider == "openai" else "ANTHROPIC_API_KEY"
    raise ConfigError(
        f"models.{name}: api_key_env is not set; name the environment variable holding the "
        f'{config.provider} API key (e.g. api_key_env = "{variable}")'
    )


def scripted_server(script: str) -> ScriptedModelServer:
    """The process's running server for `script` (a built-in name or a path), started once."""
    with _SERVERS_LOCK:
        server = _SERVERS.get(script)
        if server is None:
            server = ScriptedModelServer(Script.load(script)).start()
            _SERVERS[script] = server
        return server


def build_model(
    name: str,
    config: ModelConfig,
    env: Mapping[str, str] | None = None,
    *,
    backoff: Backoff | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Model:
    """The `Model` for `[models.NAME]`; raises ConfigError naming the key to fix."""
    environ = os.environ if env is None else env
    key = _api_key(name, config, environ)
    base_url = config.base_url
    wire = config.provider
    if config.provider == "scripted":
        if not config.script:
            raise ConfigError(
                f'models.{name}: provider "scripted" needs `script`, a built-in '
                "script name or the path of a JSON script"
            )
        server = scripted_server(config.script)
        wire = config.wire
        base_url = server.anthropic_base_url if wire == "anthropic" else server.openai_base_url

    def client() -> Model:
        if wire == "anthropic":
            from agentd.models.anthropic_provider import AnthropicModel  # noqa: PLC0415 - each SDK on demand

            return AnthropicModel(name, config, key, base_url=base_url, backoff=backoff, sleep=sleep)
        from agentd.models.openai_provider import OpenAIModel  # noqa: PLC0415 - each SDK on demand

        return OpenAIModel(name, config, key, base_url=base_url, backoff=backoff, sleep=sleep)

    return DeferredModel(f"{name}:{config.model}", client)


class DeferredModel:
    """A model whose SDK client is built on its first call: an idle daemon loads no SDK.

    Everything that can fail fast (a missing key, a bad script) was checked by build_model.
    """

    def __init__(self, name: str, build: Callable[[], Model]) -> None:
        """Remember how to build the real model."""
        self._name = name
        self._build = build
        self._model: Model | None = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """`NAME:model`, as the real model names itself."""
        return self._name

    def _real(self) -> Model:
        with self._lock:
            if self._model is None:
                self._model = self._build()
            return self._model

    def complete(self, messages: list[Message], tools: list[ToolSpec], require: str | None = None) -> Completion:
        """One call through the real model (built now if this is the first)."""
        return self._real().complete(messages, tools, require)

    def warm(self) -> None:
        """Build the real model now (its SDK imported), so the first call does not wait for it."""
        self._real()

    def close(self) -> None:
        """Close the real model's client, if it was ever built."""
        close = getattr(self._model, "close", None)
        if callable(close):
            close()


def __getattr__(name: str) -> Any:
    """The providers, imported on first use (an SDK costs tens of MB; load only the one configured)."""
    if name == "OpenAIModel":
        from agentd.models.openai_provider import OpenAIModel  # noqa: PLC0415

        return OpenAIModel
    if name == "AnthropicModel":
        from agentd.models.anthropic_provider import AnthropicModel  # noqa: PLC0415

        return AnthropicModel
    raise AttributeError(name)


class FallbackModel:
    """Tries each model in turn while one is unavailable (retries exhausted or told to fall back);
    an error the retry table calls fatal stops the chain at once."""

    def __init__(self, models: list[Model]) -> None:
        """Chain `models`, first preferred."""
        if not models:
            raise ConfigError("a fallback chain needs at least one model")
        self.models = list(models)

    @property
    def name(self) -> str:
        """The chain's names, first preferred: `a | b`."""
        return " | ".join(model.name for model in self.models)

    def complete(self, messages: list[Message], tools: list[ToolSpec], require: str | None = None) -> Completion:
        """The first answer any model in the chain gives; `Completion.model` says which."""
        failures: list[str] = []
        last: ModelUnavailableError | None = None
        for model in self.models:
            try:
                return model.complete(messages, tools, require)
            except ModelUnavailableError as exc:
                failures.append(str(exc))
                last = exc
        status = last.status if last else None
        raise ModelUnavailableError("every model in the chain failed: " + "; ".join(failures), status)

    def close(self) -> None:
        """Close every model in the chain that can be closed."""
        for model in self.models:
            close = getattr(model, "close", None)
            if callable(close):
                close()
