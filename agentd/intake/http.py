"""The HTTP plumbing agentd's endpoints (the REST API, the webhook) share.

`BackgroundHTTPServer` binds a `host:port` (IPv4 or IPv6; port 0 takes a free one), serves on a
daemon thread and stops cleanly; each request handler reaches it as `server.owner`.
`RequestHandler` says `agentd`, writes no access log to stderr (requests are logged through
structlog by the endpoints), reads bodies within a size limit and sends whole answers.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

import structlog

from agentd.kernel.errors import ConfigError

log = structlog.get_logger("agentd.intake.http")

JSON = "application/json"
OwnerT = TypeVar("OwnerT")


def split_listen(listen: str, setting: str, example: str) -> tuple[str, int]:
    """(host, port) of a `host:port` listen address; a ConfigError naming `setting` when it is not one."""
    host, sep, port = listen.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ConfigError(f"{setting} = {listen!r}: expected host:port, e.g. {example}")
    return host, int(port)


class OwnedHTTPServer(ThreadingHTTPServer, Generic[OwnerT]):
    """A ThreadingHTTPServer whose handlers reach the object that runs it as `owner`."""

    owner: OwnerT

    def handle_error(self, request: Any, client_address: Any) -> None:  # noqa: ARG002 - socketserver's signature
        """A client that went away is not worth a traceback on stderr; anything else is logged with one."""
        if isinstance(sys.exc_info()[1], OSError):
            log.debug("http connection error", exc_info=True)
        else:
            log.exception("http handler failed")


class _OwnedHTTPServer6(OwnedHTTPServer[OwnerT]):
    address_family = socket.AF_INET6


class BodyRefused(Exception):  # noqa: N818 - a signal carrying the HTTP status, not an agentd failure
    """A request body not read: 411 (no usable Content-Length) or 413 (over the limit)."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class RequestHandler(BaseHTTPRequestHandler):
    """A handler that says `agentd`, logs nothing to stderr and reads bounded bodies."""

    server_version = "agentd"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: the endpoints log each request through structlog."""

    def read_body(self, limit: int, drain_limit: int) -> bytes:
        """The request body; BodyRefused when it has no length or is over `limit` bytes.

        A refused body up to `drain_limit` bytes is read and dropped first, so the client sees the
        answer rather than a reset; the connection closes after a refusal.
        """
        raw = self.headers.get("Content-Length")
        if raw is None or not raw.strip().isdigit():
            self.close_connection = True
            raise BodyRefused(411)
        length = int(raw)
        if length > limit:
            if length <= drain_limit:
                self._drain(length)
            self.close_connection = True
            raise BodyRefused(413)
        return self.rfile.read(length)

    def _drain(self, length: int) -> None:
        try:
            while length > 0:
                chunk = self.rfile.read(min(length, 1 << 16))
                if not chunk:
                    return
                length -= len(chunk)
        except OSError:
            return

    def send_whole(self, status: int, content_type: str, body: bytes, headers: Mapping[str, str] | None = None) -> None:
        """Send an answer with a known length (headers only, for HEAD)."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, status: int, value: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> None:
        """Send a JSON answer."""
        self.send_whole(status, JSON, json.dumps(value).encode(), headers)


class BackgroundHTTPServer:
    """An HTTP endpoint served by `handler` on a daemon thread; start and stop are idempotent."""

    def __init__(self, host: str, port: int, *, name: str, handler: type[RequestHandler], backlog: int) -> None:
        self.host = host
        self._port = port
        self._name = name
        self._handler = handler
        self._backlog = backlog  # bursts wait in the listen backlog instead of being refused
        self._http: OwnedHTTPServer[BackgroundHTTPServer] | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port (the real one when `listen` asked for port 0)."""
        return self._port

    @property
    def url(self) -> str:
        """The base URL."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._port}"

    def start(self) -> None:
        """Bind and serve on a daemon thread; OSError when the address cannot be bound."""
        if self._http is not None:
            return
        server_class = _OwnedHTTPServer6 if ":" in self.host else OwnedHTTPServer
        http: OwnedHTTPServer[BackgroundHTTPServer] = server_class(
            (self.host, self._port), self._handler, bind_and_activate=False
        )
        http.request_queue_size = self._backlog
        try:
            http.server_bind()
            http.server_activate()
        except BaseException:
            http.server_close()
            raise
        http.owner = self
        self._port = int(http.server_address[1])
        self._http = http
        self._thread = threading.Thread(
            target=http.serve_forever, args=(0.1,), name=f"agentd-{self._name}", daemon=True
        )
        self._thread.start()
        log.info(f"{self._name} listening", url=self.url)

    def stop(self) -> None:
        """Stop serving and release the port."""
        http, self._http = self._http, None
        if http is None:
            return
        http.shutdown()
        http.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        log.info(f"{self._name} stopped", url=self.url)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
