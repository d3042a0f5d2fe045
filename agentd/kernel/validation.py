"""How a pydantic validation error reads to a person: one line per problem naming the key, the value and the fix.

Shared by every file agentd validates (agentd.toml, a repository's .agentd.toml, eval tasks).
"""

from __future__ import annotations

import tomllib
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from agentd.kernel.errors import AgentdError, ConfigError

ModelT = TypeVar("ModelT", bound=BaseModel)


def describe_error(error: Any) -> str:
    """One pydantic validation error as a line naming the key and the fix."""
    key = ".".join(str(part) for part in error["loc"]) or "(top level)"
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "missing":
        return f"{key}: missing; add it to the file"
    if error["type"] == "extra_forbidden":
        return f"{key}: unknown key (a typo?); remove it"
    value = error.get("input")
    if isinstance(value, dict):
        return f"[{key}]: {message}"
    return f"{key} = {value!r}: {message}"


def problems(exc: ValidationError) -> str:
    """Every problem of a validation error, one after the other."""
    return "; ".join(describe_error(e) for e in exc.errors())


def toml_model(model: type[ModelT], text: str, source: str, error: type[AgentdError] = ConfigError) -> ModelT:
    """`text` (TOML) validated into `model`; `error` (ConfigError) naming `source`, each bad key and the fix."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{source}: not valid TOML: {exc}") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise error(f"{source}: {problems(exc)}") from None
