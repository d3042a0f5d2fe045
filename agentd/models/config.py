"""`[models.NAME]`: one model endpoint."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ModelConfig(BaseModel):
    """One model endpoint; roles refer to it by its table name (`[models.NAME]`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: Literal["openai", "anthropic", "scripted"]
    model: str = Field(min_length=1)
    base_url: str | None = Field(None, description="Any OpenAI-compatible server (Ollama, vLLM, llama.cpp).")
    api_key_env: str | None = Field(None, description="Environment variable holding the API key.")
    script: str | None = Field(None, description="scripted: a built-in script name or a JSON script file.")
    wire: Literal["openai", "anthropic"] = Field("openai", description="scripted: which SDK and wire format to use.")
    timeout_s: float = Field(120.0, gt=0)
    max_retries: int = Field(2, ge=0)
    retry_base_s: float = Field(0.5, gt=0, description="Backoff before the first retry (doubles, full jitter).")
    retry_cap_s: float = Field(30.0, gt=0, description="Longest wait between retries, Retry-After included.")
    breaker_failures: int = Field(
        3, ge=1, description="Consecutive failed calls that open this endpoint's circuit (its chain moves on)."
    )
    breaker_reset_s: float = Field(30.0, gt=0, description="How long an open circuit waits before one trial call.")
    max_tokens: int = Field(4096, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
