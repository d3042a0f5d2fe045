"""Webhook trigger: GitHub-style `push` and `pull_request` deliveries become jobs.

The decisions are pure functions (`verify_signature`, `parse_delivery`); `WebhookServer` is the thin
HTTP shell around them. A request changes the store only once its signature and payload are good:
then its delivery id is remembered (a replay is answered `duplicate`) and its event enqueued, which
is idempotent on the event key, so a webhook and a poll seeing the same head make one job.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import socket
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, cast
from urllib.parse import urlsplit

import structlog

from agentd.errors import ConfigError
from agentd.events import CommitPushed, PullRequestUpdated
from agentd.store import Store
from agentd.triggers import OWN_TRAILER

log = structlog.get_logger("agentd.webhook")

MAX_BODY = 1 << 20
# An oversized body is read and dropped up to this size so the sender sees the 413, not a reset.
_DRAIN_LIMIT = 8 << 20
_ZERO_SHA = re.compile(r"0{40}|0{64}")
_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_REF = re.compile(r"[^\s\x00-\x1f\x7f~^:?*\[\\-][^\s\x00-\x1f\x7f~^:?*\[\\]*")
_DELIVERY_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
OWN_PREFIX = "agentd/"
PR_ACTIONS = frozenset({"opened", "synchronize", "reopened"})

Response = tuple[int, dict[str, Any]]


class WebhookRejected(Exception):  # noqa: N818 - a signal carrying the HTTP answer, not an agentd failure
    """A delivery refused with an HTTP status and a reason safe to send back."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status}: {reason}")
        self.status = status
        self.reason = reason


def verify_signature(secret: bytes, body: bytes, header: str | None) -> bool:
    """Whether `X-Hub-Signature-256` is `sha256=<hex HMAC of body>` under `secret` (constant time)."""
    if not secret or not header or not header.startswith("sha256="):
        return False
    try:
        given = header.removeprefix("sha256=").strip().lower().encode("ascii")
    except UnicodeEncodeError:
        return False
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest().encode("ascii")
    return hmac.compare_digest(given, expected)


def _field(payload: Mapping[str, Any], *path: str) -> Any:
    node: Any = payload
    for name in path:
        if not isinstance(node, Mapping) or name not in node:
            raise WebhookRejected(400, f"payload lacks {'.'.join(path)}")
        node = node[name]
    return node


def _text(payload: Mapping[str, Any], *path: str, pattern: re.Pattern[str] | None = None) -> str:
    value = _field(payload, *path)
    if not isinstance(value, str) or not value or (pattern is not None and not pattern.fullmatch(value)):
        raise WebhookRejected(400, f"payload field {'.'.join(path)} is not valid")
    return value


def _sha(payload: Mapping[str, Any], *path: str) -> str:
    value = _text(payload, *path)
    if not (_SHA.fullmatch(value) or _ZERO_SHA.fullmatch(value)):
        raise WebhookRejected(400, f"payload field {'.'.join(path)} is not a commit sha")
    return value


def _push(payload: Mapping[str, Any], repo: str, watch_branches: list[str]) -> CommitPushed | None:
    ref = _text(payload, "ref")
    after = _sha(payload, "after")
    if not ref.startswith("refs/heads/") or _ZERO_SHA.fullmatch(after) or payload.get("deleted") is True:
        return None  # a tag, or a branch deletion
    branch = ref.removeprefix("refs/heads/")
    if branch.startswith(OWN_PREFIX) or branch not in watch_branches:
        return None
    head = payload.get("head_commit")
    if isinstance(head, Mapping) and OWN_TRAILER in str(head.get("message") or ""):
        return None  # agentd's own commit, merged by fast-forward
    before = payload.get("before")
    parent = _sha(payload, "before") if before is not None else None
    if parent is not None and _ZERO_SHA.fullmatch(parent):
        parent = None  # a new branch
    return CommitPushed(repo=repo, branch=branch, sha=after, parent_sha=parent)


def _pull_request(payload: Mapping[str, Any], repo: str) -> PullRequestUpdated | None:
    if _text(payload, "action") not in PR_ACTIONS:
        return None
    if _text(payload, "pull_request", "head", "ref").startswith(OWN_PREFIX):
        return None
    number = _field(payload, "pull_request", "number")
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        raise WebhookRejected(400, "payload field pull_request.number is not a pull request number")
    head_sha = _sha(payload, "pull_request", "head", "sha")
    if _ZERO_SHA.fullmatch(head_sha):
        raise WebhookRejected(400, "payload field pull_request.head.sha is not a commit sha")
    base_branch = _text(payload, "pull_request", "base", "ref", pattern=_REF)
    return PullRequestUpdated(repo=repo, number=number, head_sha=head_sha, base_branch=base_branch)


def parse_delivery(
    event_name: str, payload: Mapping[str, Any], repo: str, watch_branches: list[str], pull_requests: bool
) -> CommitPushed | PullRequestUpdated | None:
    """The event a delivery announces, or None when agentd ignores it; WebhookRejected(400) when malformed."""
    if event_name == "push":
        return _push(payload, repo, watch_branches)
    if event_name == "pull_request" and pull_requests:
        return _pull_request(payload, repo)
    return None


def describe(event: CommitPushed | PullRequestUpdated, payload: Mapping[str, Any]) -> str:
    """The task description users see for a delivered event."""
    if isinstance(event, PullRequestUpdated):
        return f"PR #{event.number} head {event.head_sha[:7]} → {event.base_branch}"
    head = payload.get("head_commit")
    message = str(head.get("message") or "") if isinstance(head, Mapping) else ""
    subject = message.strip().splitlines()[0][:200] if message.strip() else ""
    text = f"Commit {event.sha[:7]} on {event.branch}"
    return f"{text}: {subject}" if subject else text


def _split_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ConfigError(f"webhook.listen = {listen!r}: expected host:port, e.g. 127.0.0.1:8766")
    return host, int(port)


class _HTTPServer(ThreadingHTTPServer):
    request_queue_size = 128  # bursts of deliveries wait in the backlog instead of being refused
    webhook: WebhookServer


class _HTTPServer6(_HTTPServer):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    server_version = "agentd"
    sys_version = ""
    timeout = 10  # a stalled client frees its thread

    @property
    def _webhook(self) -> WebhookServer:
        return cast(_HTTPServer, self.server).webhook

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: every request is logged once, through structlog, by the webhook itself."""

    def _answer(self, status: int, body: dict[str, Any], extra: Mapping[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_POST(self) -> None:
        """Read the body within the size limit and hand the delivery to the webhook."""
        if urlsplit(self.path).path != self._webhook.path:
            self._answer(404, {"status": "rejected", "reason": "not found"})
            return
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self._answer(411, {"status": "rejected", "reason": "Content-Length required"})
            return
        if length < 0 or length > MAX_BODY:
            if 0 < length <= _DRAIN_LIMIT:
                self._drain(length)
            self.close_connection = True
            self._answer(413, {"status": "rejected", "reason": f"body over {MAX_BODY} bytes"})
            return
        body = self.rfile.read(length)
        status, answer = self._webhook.handle(dict(self.headers.items()), body, self.client_address[0])
        self._answer(status, answer)

    def _drain(self, length: int) -> None:
        try:
            while length > 0:
                chunk = self.rfile.read(min(length, 1 << 16))
                if not chunk:
                    return
                length -= len(chunk)
        except OSError:
            return

    def do_GET(self) -> None:
        """Only POST is served: 405 on the webhook path, 404 elsewhere."""
        if urlsplit(self.path).path != self._webhook.path:
            self._answer(404, {"status": "rejected", "reason": "not found"})
        else:
            self._answer(405, {"status": "rejected", "reason": "method not allowed"}, {"Allow": "POST"})

    do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET  # noqa: N815 - http.server dispatches by name


class WebhookServer:
    """An HTTP endpoint for signed GitHub deliveries on a daemon thread; each good one becomes a job."""

    def __init__(
        self,
        listen: str,
        path: str,
        secret: bytes,
        store: Store,
        repo: str,
        watch_branches: list[str],
        pull_requests: bool,
        on_enqueued: Callable[[int], None] | None = None,
    ) -> None:
        if not secret:
            raise ConfigError("the webhook secret is empty; set the variable webhook.secret_env names")
        self.host, self._port = _split_listen(listen)
        self.path = path
        self._secret = secret
        self.store = store
        self.repo = repo
        self.watch_branches = list(watch_branches)
        self.pull_requests = pull_requests
        self.on_enqueued = on_enqueued
        self._http: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"WebhookServer(listen={self.host}:{self._port}, path={self.path!r})"  # never the secret

    @property
    def port(self) -> int:
        """The bound port (the real one when `listen` asked for port 0)."""
        return self._port

    @property
    def url(self) -> str:
        """The endpoint's URL."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._port}{self.path}"

    def start(self) -> None:
        """Bind and serve on a daemon thread."""
        if self._http is not None:
            return
        server_class = _HTTPServer6 if ":" in self.host else _HTTPServer
        http = server_class((self.host, self._port), _Handler)
        http.webhook = self
        self._port = int(http.server_address[1])
        self._http = http
        self._thread = threading.Thread(target=http.serve_forever, args=(0.1,), name="agentd-webhook", daemon=True)
        self._thread.start()
        log.info("webhook listening", url=self.url)

    def stop(self) -> None:
        """Stop serving and release the port."""
        http, self._http = self._http, None
        if http is None:
            return
        http.shutdown()
        http.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        log.info("webhook stopped", url=self.url)

    def __enter__(self) -> WebhookServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def handle(self, headers: Mapping[str, str], body: bytes, remote: str = "") -> Response:
        """Decide one delivery: (HTTP status, JSON answer). Only a good, signed delivery touches the store."""
        lowered = {name.lower(): value for name, value in headers.items()}
        delivery = lowered.get("x-github-delivery", "")
        event_name = lowered.get("x-github-event", "")
        if not verify_signature(self._secret, body, lowered.get("x-hub-signature-256")):
            log.warning("webhook signature rejected", remote=remote, delivery=delivery[:128], gh_event=event_name[:64])
            return 401, {"status": "rejected", "reason": "missing or bad signature"}
        try:
            event, payload = self._checked(event_name, delivery, body)
        except WebhookRejected as exc:
            log.warning(
                "webhook delivery rejected", delivery=delivery[:128], gh_event=event_name[:64], reason=exc.reason
            )
            return exc.status, {"status": "rejected", "reason": exc.reason}
        try:
            return self._record(delivery, event_name, event, payload)
        except Exception:
            log.exception("webhook delivery failed", delivery=delivery, gh_event=event_name)
            return 500, {"status": "error", "reason": "the store failed; redeliver later"}

    def _checked(
        self, event_name: str, delivery: str, body: bytes
    ) -> tuple[CommitPushed | PullRequestUpdated | None, Mapping[str, Any]]:
        try:
            payload = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise WebhookRejected(400, "body is not JSON") from None
        if not isinstance(payload, dict):
            raise WebhookRejected(400, "body is not a JSON object")
        if not _DELIVERY_ID.fullmatch(delivery):
            raise WebhookRejected(400, "X-GitHub-Delivery header missing or malformed")
        if not event_name:
            raise WebhookRejected(400, "X-GitHub-Event header missing")
        return parse_delivery(event_name, payload, self.repo, self.watch_branches, self.pull_requests), payload

    def _record(
        self,
        delivery: str,
        event_name: str,
        event: CommitPushed | PullRequestUpdated | None,
        payload: Mapping[str, Any],
    ) -> Response:
        if not self.store.remember_delivery(delivery):
            log.info("webhook delivery replayed", delivery=delivery, gh_event=event_name)
            return 200, {"status": "duplicate"}
        if event is None:
            log.info("webhook delivery ignored", delivery=delivery, gh_event=event_name[:64])
            return 202, {"status": "ignored"}
        base_sha = event.sha if isinstance(event, CommitPushed) else event.head_sha
        task_id, created = self.store.enqueue(event, describe(event, payload), base_sha)
        log.info(
            "webhook delivery queued", delivery=delivery, gh_event=event_name, key=event.key, task=task_id, new=created
        )
        if created and self.on_enqueued is not None:
            try:
                self.on_enqueued(task_id)
            except Exception:
                log.exception("on_enqueued callback failed", task=task_id)
        return 202, {"status": "queued", "task": task_id, "new": created}
