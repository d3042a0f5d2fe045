"""The HTTP plumbing agentd's endpoints (the REST API, the webhook) share.

A `Response` is what an endpoint's core decides, without a socket: status, body (bytes or a
`Stream`), content type, headers. `RequestHandler` says `agentd`, writes no access log to stderr
(the endpoints log through structlog), reads bodies within a size limit and sends a `Response`.
`BackgroundHTTPServer` binds a `host:port` (IPv4 or IPv6; port 0 takes a free one), serves on a
daemon thread and stops cleanly; each request handler reaches it as `server.owner`.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import sys
import threading
from collections.abc import Callable, Generator, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Generic, Self, TypeVar
from urllib.parse import urlsplit

import structlog
from pydantic import BaseModel

from agentd.kernel.errors import ConfigError

log = structlog.get_logger("agentd.intake.http")

JSON = "application/json"
OwnerT = TypeVar("OwnerT")


class Stream:
    """A streamed body; `close()` runs once, whether or not the stream was read."""

    def __init__(self, chunks: Generator[bytes, None, None], on_close: Callable[[], None]) -> None:
        self._chunks = chunks
        self._on_close = on_close
        self._closed = False

    def __iter__(self) -> Iterator[bytes]:
        return self._chunks

    def close(self) -> None:
        """Stop the stream and free its slot."""
        if not self._closed:
            self._closed = True
            self._chunks.close()
            self._on_close()


@dataclasses.dataclass(frozen=True)
class Response:
    """An answer: status, body (bytes or a stream), content type and extra headers."""

    status: int
    body: bytes | Stream
    content_type: str = JSON
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)


def json_response(
    status: int, value: BaseModel | Mapping[str, Any], headers: Mapping[str, str] | None = None
) -> Response:
    """A JSON answer from a model or a plain mapping."""
    body = value.model_dump_json().encode() if isinstance(value, BaseModel) else json.dumps(value).encode()
    return Response(status, body, JSON, headers or {})


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

    def send(self, response: Response) -> None:
        """Send an answer, whole or streamed; a client that went away closes the connection."""
        try:
            if isinstance(response.body, Stream):
                self._send_stream(response, response.body)
                return
            headers = {"X-Content-Type-Options": "nosniff", **response.headers}
            headers.setdefault("Cache-Control", "no-store")
            self._send_whole(response.status, response.content_type, response.body, headers)
        except OSError:
            self.close_connection = True

    def _send_whole(self, status: int, content_type: str, body: bytes, headers: Mapping[str, str]) -> None:
        """Send an answer with a known length (headers only, for HEAD)."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_stream(self, response: Response, stream: Stream) -> None:
        """Send each chunk as it comes, then close the stream and the connection."""
        self.close_connection = True
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("X-Content-Type-Options", "nosniff")
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("X-Accel-Buffering", "no")
            self.end_headers()
            for chunk in stream:
                self.wfile.write(chunk)
                self.wfile.flush()
        except OSError:
            pass  # the client disconnected
        except Exception:
            log.exception("event stream failed", path=urlsplit(self.path).path)
        finally:
            stream.close()


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
