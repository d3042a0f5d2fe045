"""The HTTP shell the forge stand-ins share: a threaded JSON server on 127.0.0.1 around a pure `handle`."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

Answer = tuple[int, Any]
# (method, path, query, raw body, request headers) → (status, JSON answer or None)
Handle = Callable[[str, str, dict[str, list[str]], bytes, Mapping[str, str]], Answer]


def template_pattern(template: str) -> re.Pattern[str]:
    """A regex matching a path template's concrete paths: each `{name}` is one path segment."""
    return re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "([^/]+)", re.escape(template)) + "$")


class JsonServer:
    """Serves `handle` over real HTTP on a free local port until `close`."""

    def __init__(self, handle: Handle) -> None:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, answer = handle(self.command, parts.path, parse_qs(parts.query), raw, self.headers)
                data = b"" if answer is None else json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve  # noqa: N815 - dispatched by name

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"
        threading.Thread(target=self.http.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        """Stop serving and free the port."""
        self.http.shutdown()
        self.http.server_close()
