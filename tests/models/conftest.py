"""Fixtures for the model layer: scripted servers and models built the way agentd builds them."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

from agentd.kernel.seams import Model
from agentd.models import build_model
from agentd.models.config import ModelConfig
from agentd.models.scripted import ScriptedModelServer

SECRET = "sk-test-0123456789abcdef-secret"
KEY_ENV = "AGENTD_TEST_MODEL_KEY"

ServerFactory = Callable[[Mapping[str, Any]], ScriptedModelServer]
ModelFactory = Callable[..., Model]


@pytest.fixture
def api_key() -> str:
    """The API key the models under test are given through their key variable."""
    return SECRET


@pytest.fixture
def serve() -> Iterator[ServerFactory]:
    """Start scripted servers for a test and stop them after it."""
    servers: list[ScriptedModelServer] = []

    def start(script: Mapping[str, Any]) -> ScriptedModelServer:
        server = ScriptedModelServer(script).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def sleeps() -> list[float]:
    """Every backoff the models under test waited, in order."""
    return []


@pytest.fixture
def make_model(sleeps: list[float]) -> Iterator[ModelFactory]:
    """Build a model on a scripted server through `build_model`, with a tiny backoff."""
    models: list[Any] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    def make(
        server: ScriptedModelServer,
        wire: str = "openai",
        name: str = "default",
        env: Mapping[str, str] | None = None,
        **fields: Any,
    ) -> Model:
        base_url = server.anthropic_base_url if wire == "anthropic" else server.openai_base_url
        settings: dict[str, Any] = {
            "provider": wire,
            "model": f"{wire}-test-model",
            "base_url": base_url,
            "api_key_env": KEY_ENV,
            "max_retries": 2,
            "retry_base_s": 0.001,
            "retry_cap_s": 0.2,
            "timeout_s": 5.0,
            **fields,
        }
        environ = {KEY_ENV: SECRET} if env is None else env
        model = build_model(name, ModelConfig(**settings), environ, sleep=sleep)
        models.append(model)
        return model

    yield make
    for model in models:
        model.close()
