"""`[webhook]` and `[api]`: the daemon's HTTP endpoints."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class WebhookConfig(BaseModel):
    """GitHub-style webhooks (push, pull_request); off unless `listen` is set."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    listen: str | None = Field(None, description="host:port to listen on, e.g. 127.0.0.1:8766.")
    secret_env: str = Field("AGENTD_WEBHOOK_SECRET", description="Environment variable holding the HMAC secret.")
    path: str = Field("/webhook", description="URL path of the endpoint.")


class ApiConfig(BaseModel):
    """The REST API, Prometheus metrics and web dashboard; off unless `listen` is set."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    listen: str | None = Field(None, description="host:port to listen on, e.g. 127.0.0.1:8765.")
    token_env: str = Field("AGENTD_API_TOKEN", description="Environment variable holding the bearer token.")
