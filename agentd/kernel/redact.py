"""Secret redaction, in one place: secret values, DSNs and their passwords never reach a log, prompt or record."""

from __future__ import annotations

import os
import re
import urllib.parse
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any

MASK = "[REDACTED]"
# Names that hold secrets even when no config names them.
SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|DSN|DATABASE_URL|CREDENTIAL)", re.IGNORECASE)
# Bounded scheme and password: unbounded, every letter of a long word began a scan to its end (quadratic).
_DSN_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]{0,31}://[^:/@\s]+:)(?P<password>[^@\s]{1,1024})(?P<tail>@)")
# libpq key=value form: password=secret or password='quoted \' secret'
_KEYWORD_PASSWORD = re.compile(
    r"\bpassword\s*=\s*(?:'(?P<quoted>(?:[^'\\]|\\.){0,1024})'|(?P<bare>[^\s']{1,1024}))", re.IGNORECASE
)


def dsn_secrets(dsn: str) -> list[str]:
    """What of a DSN must never be shown: the DSN itself and its password, raw and URL-encoded.

    Both forms PostgreSQL accepts are read: `postgresql://user:password@host/db` and
    `host=… password=…` (quoted or not).
    """
    secrets = [dsn]
    passwords = [urllib.parse.unquote(m["password"]) for m in _DSN_PASSWORD.finditer(dsn)]
    for match in _KEYWORD_PASSWORD.finditer(dsn):
        quoted = match["quoted"]
        passwords.append(re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else match["bare"])
    for password in passwords:
        secrets += [password, urllib.parse.quote(password, safe="")]
    return secrets


class Redactor:
    """Replaces known secret values, and passwords inside URLs, with a mask."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    @classmethod
    def for_dsn(cls, dsn: str) -> Redactor:
        """A redactor that hides one DSN and its password, whatever form they appear in."""
        return cls(dsn_secrets(dsn))

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
        value = _DSN_PASSWORD.sub(lambda m: f"{m['head']}{MASK}{m['tail']}", value)
        return _KEYWORD_PASSWORD.sub(f"password={MASK}", value)

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
