"""Secret redaction: the values of secret environment variables never reach a log, prompt or record."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any

MASK = "[REDACTED]"
# Names that hold secrets even when no config names them.
SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|DSN|DATABASE_URL|CREDENTIAL)", re.IGNORECASE)
# Bounded scheme and password: unbounded, every letter of a long word began a scan to its end (quadratic).
_DSN_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]{0,31}://[^:/@\s]+:)(?P<password>[^@\s]{1,1024})(?P<tail>@)")


class Redactor:
    """Replaces known secret values, and passwords inside URLs, with a mask."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    @classmethod
    def from_environment(cls, names: Iterable[str] = (), env: Mapping[str, str] | None = None) -> Redactor:
        """Collect secrets from the named variables and from any variable whose name says secret."""
        environ = os.environ if env is None else env
        wanted = set(names) | {name for name in environ if SECRET_NAME.search(name)}
        return cls(environ[name] for name in wanted if environ.get(name))

    def text(self, value: str) -> str:
        """Mask every secret in a string."""
        for secret in self._secrets:
            if secret in value:
                value = value.replace(secret, MASK)
        return _DSN_PASSWORD.sub(lambda m: f"{m['head']}{MASK}{m['tail']}", value)

    def value(self, value: Any) -> Any:
        """Mask secrets in any JSON-like value."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(v) for v in value]
        return value

    def __call__(self, _logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> dict[str, Any]:
        """structlog processor: mask secrets in every field of a log event."""
        masked: dict[str, Any] = self.value(dict(event_dict))
        return masked
