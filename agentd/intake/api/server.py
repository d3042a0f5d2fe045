"""The API's HTTP shell: `ApiServer` serves `Api` on a daemon thread and refuses to start without a token."""

from __future__ import annotations

import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any, cast
from urllib.parse import urlsplit

import structlog

from agentd.intake import http as httpserve
from agentd.intake.api.routes import Api, ApiStore, error
from agentd.intake.api.schemas import ERRORS, MAX_BODY
from agentd.intake.config import ApiConfig
from agentd.intake.http import BackgroundHTTPServer, BodyRefused, OwnedHTTPServer, RequestHandler
from agentd.kernel.errors import ConfigError
from agentd.kernel.redact import Redactor
from agentd.service.health import HealthReport

log = structlog.get_logger("agentd.intake.api")

_DRAIN_LIMIT = 1 << 20


def split_listen(listen: str) -> tuple[str, int]:
    """(host, port) of a `host:port` listen address."""
    return httpserve.split_listen(listen, "api.listen", "127.0.0.1:8765")


class _Handler(RequestHandler):
    timeout = 30  # a stalled client frees its thread

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:  # noqa: ARG002
        """Protocol-level errors (bad request line, unknown method) are JSON too."""
        self.close_connection = True
        self.send(error(code, message or "bad request"))

    def _serve(self) -> None:
        started = time.perf_counter()
        try:
            body = self.read_body(MAX_BODY, _DRAIN_LIMIT) if self.command in {"POST", "PUT", "PATCH"} else b""
        except BodyRefused as refused:
            self.send(error(refused.status, ERRORS[refused.status]))
            return
        except OSError:
            self.close_connection = True
            return
        api = cast(OwnedHTTPServer[ApiServer], self.server).owner.api
        try:
            response = api.handle(self.command, self.path, dict(self.headers.items()), body)
        except Exception:
            log.exception("api request failed", method=self.command, path=urlsplit(self.path).path)
            response = error(500, "internal error; see the daemon's log")
        log.debug(
            "api request",
            method=self.command,
            path=urlsplit(self.path).path,
            status=response.status,
            ms=round((time.perf_counter() - started) * 1000, 2),  # handling time, before the answer is sent
        )
        self.send(response)

    def __getattr__(self, name: str) -> Any:
        """Every method reaches the router (`do_GET`, `do_QUERY`, …), which answers 405 for the ones it lacks."""
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)


class ApiServer(BackgroundHTTPServer):
    """The REST API and dashboard on a daemon thread; refuses to start without a bearer token."""

    def __init__(
        self,
        settings: ApiConfig,
        store: ApiStore,
        redactor: Redactor,
        *,
        repo: str,
        default_base: str,
        env: Mapping[str, str] | None = None,
        health: Callable[[], HealthReport] | None = None,
    ) -> None:
        if not settings.listen:
            raise ConfigError("api.listen is not set; the API is off")
        host, port = split_listen(settings.listen)
        token = (os.environ if env is None else env).get(settings.token_env, "").strip()
        if not token:
            raise ConfigError(
                f"api.listen is set but ${settings.token_env} is empty; set it to a long random token "
                "(e.g. `openssl rand -hex 32`)"
            )
        super().__init__(host, port, name="api", handler=_Handler, backlog=64)
        self._stopping = threading.Event()
        self.api = Api(store, redactor, token, self._stopping, repo=repo, default_base=default_base, health=health)

    def __repr__(self) -> str:
        return f"ApiServer(listen={self.host}:{self._port})"  # never the token

    def start(self) -> None:
        """Bind and serve on a daemon thread; a ConfigError when the address cannot be bound."""
        self._stopping.clear()
        try:
            super().start()
        except OSError as exc:
            raise ConfigError(f"api.listen = {self.host}:{self._port}: cannot listen there: {exc}") from None

    def stop(self) -> None:
        """End the live streams, stop serving and release the port."""
        self._stopping.set()
        super().stop()


def probe_health(listen: str, timeout_s: float) -> tuple[bool, str]:
    """Ask the /healthz of the API listening at `listen`: (healthy, what it said or why nothing answered)."""
    host, port = split_listen(listen)
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)  # noqa: S104 - a wildcard listen is asked locally
    url = f"http://{f'[{host}]' if ':' in host else host}:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as answer:
            return True, answer.read().decode()
    except urllib.error.HTTPError as refused:
        return False, f"unhealthy: {refused.read().decode()}"
    except OSError as exc:
        return False, f"no answer from {url}: {exc}"
