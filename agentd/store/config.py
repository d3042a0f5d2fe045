"""`[store]`: the database of record."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class StoreConfig(BaseModel):
    """The database of record."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str | None = Field(
        None, description="sqlite:////abs/path.db or postgresql://host/db; default: agentd.db in the state directory."
    )
    url_env: str | None = Field(
        None, description="Environment variable holding the store URL (use it for a PostgreSQL DSN with a password)."
    )
