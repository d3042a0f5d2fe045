"""`[target_database]`: the project's PostgreSQL, for the query_database tool."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class QueryDatabaseConfig(BaseModel):
    """The target project's PostgreSQL, for query_database."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dsn_env: str | None = Field(None, description="Environment variable holding the DSN.")
    statement_timeout_ms: int = Field(5000, ge=1)
    max_rows: int = Field(200, ge=1)
    max_result_bytes: int = Field(
        1_000_000,
        ge=1024,
        description="Most bytes of values (text form) one result brings into agentd; checked by the server.",
    )
