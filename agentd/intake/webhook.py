"""Webhook trigger: GitHub-style `push` and `pull_request` deliveries become jobs; `issue_comment` on a PR
carries `/agentd` commands.

The decisions are pure functions (`verify_signature`, `parse_delivery`); `WebhookServer` is the thin
HTTP shell around them. A request changes the store only once its signature and payload are good:
then, in one transaction, its delivery id is remembered (a replay is answered `duplicate`) and its
event enqueued, idempotent on the event key, so a webhook and a poll seeing the same head make one
job. Pull-request heads are ordered by the commit graph of agentd's clone, not by arrival.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlsplit

import structlog

from agentd.intake.http import (
    BackgroundHTTPServer,
    BodyRefused,
    OwnedHTTPServer,
    RequestHandler,
    Response,
    json_response,
    split_listen,
)
from agentd.kernel.errors import ConfigError, RepositoryError
from agentd.kernel.events import COMMAND_VERBS, CommitPushed, PullRequestCommand, PullRequestUpdated
from agentd.repo.mirror import Mirror
from agentd.store.base import Ancestry, Queue

log = structlog.get_logger("agentd.intake.webhook")

MAX_BODY = 1 << 20
# An oversized body is read and dropped up to this size so the sender sees the 413, not a reset.
_DRAIN_LIMIT = 8 << 20
_ZERO_SHA = re.compile(r"0{40}|0{64}")
_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_REF = re.compile(r"[^\s\x00-\x1f\x7f~^:?*\[\\-][^\s\x00-\x1f\x7f~^:?*\[\\]*")
_DELIVERY_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
OWN_PREFIX = "agentd/"
PR_ACTIONS = frozenset({"opened", "synchronize", "reopened"})
COMMANDS = COMMAND_VERBS
_COMMAND = re.compile(r"^[ \t]*/agentd(?:[ \t]+(\S+)(?:[ \t]+(.*?))?)?[ \t]*$", re.MULTILINE | re.IGNORECASE)


class WebhookRejected(Exception):  # noqa: N818 - a signal carrying the HTTP answer, not an agentd failure
    """A delivery refused with an HTTP status and a reason safe to send back."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status}: {reason}")
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class CommentCommand:
    """An `/agentd VERB [ARGUMENT]` comment on pull request `pr`; the forge decides whether `author` may command.

    `verb` is lower-cased as written: one of COMMANDS, or anything else for the job to refuse with an answer.
    `association` is GitHub's hint (OWNER, MEMBER, COLLABORATOR, …), never the authority.
    """

    repo: str
    pr: int
    verb: str
    argument: str
    author: str
    association: str
    comment_id: int

    @property
    def known(self) -> bool:
        """Whether the verb is a command agentd has."""
        return self.verb in COMMANDS

    @property
    def key(self) -> str:
        """Idempotency key: one answer per comment."""
        return f"command:{self.comment_id}"

    def event(self) -> PullRequestCommand:
        """The command as the job queue's event (same key)."""
        return PullRequestCommand(
            repo=self.repo,
            number=self.pr,
            verb=self.verb[:64],
            argument=self.argument[:1000],
            author=self.author[:200],
            comment_id=self.comment_id,
        )


def parse_command(body: str) -> tuple[str, str] | None:
    """The first `/agentd VERB [ARGUMENT]` line of a comment as (verb, argument); a bare `/agentd` is "help"."""
    match = _COMMAND.search(body.replace("\r\n", "\n"))
    if match is None:
        return None
    return (match.group(1) or "help").lower(), (match.group(2) or "").strip()


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
    before = payload.get("before")
    parent = _sha(payload, "before") if before is not None else None
    if parent is not None and _ZERO_SHA.fullmatch(parent):
        parent = None  # a new branch
    return CommitPushed(repo=repo, branch=branch, sha=after, parent_sha=parent)


def _pull_request(payload: Mapping[str, Any], repo: str) -> PullRequestUpdated | None:
    if _text(payload, "action") not in PR_ACTIONS:
        return None
    number = _field(payload, "pull_request", "number")
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        raise WebhookRejected(400, "payload field pull_request.number is not a pull request number")
    head_sha = _sha(payload, "pull_request", "head", "sha")
    if _ZERO_SHA.fullmatch(head_sha):
        raise WebhookRejected(400, "payload field pull_request.head.sha is not a commit sha")
    base_branch = _text(payload, "pull_request", "base", "ref", pattern=_REF)
    return PullRequestUpdated(
        repo=repo,
        number=number,
        head_sha=head_sha,
        base_branch=base_branch,
        author=_optional(payload, "pull_request", "user", "login"),
        head_repo=_optional(payload, "pull_request", "head", "repo", "full_name"),
        base_repo=_optional(payload, "pull_request", "base", "repo", "full_name"),
    )


def _optional(payload: Mapping[str, Any], *path: str) -> str | None:
    """A string field that may be missing (a deleted fork has no head repo), capped; None when absent."""
    value: Any = payload
    for part in path:
        value = value.get(part) if isinstance(value, Mapping) else None
    return value[:200] if isinstance(value, str) and value else None


def _comment(payload: Mapping[str, Any], repo: str) -> CommentCommand | None:
    if _text(payload, "action") != "created":
        return None  # an edit could replay a command answered already
    issue = _field(payload, "issue")
    if not isinstance(issue, Mapping) or not isinstance(issue.get("pull_request"), Mapping):
        return None  # a comment on an issue, not on a pull request
    user = _field(payload, "comment", "user")
    if not isinstance(user, Mapping) or user.get("type") == "Bot":
        return None  # bots, agentd among them, never command agentd
    parsed = parse_command(str(_field(payload, "comment", "body") or ""))
    if parsed is None:
        return None
    number, comment_id = _field(payload, "issue", "number"), _field(payload, "comment", "id")
    for name, value in (("issue.number", number), ("comment.id", comment_id)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise WebhookRejected(400, f"payload field {name} is not a positive integer")
    association = payload["comment"].get("author_association")
    return CommentCommand(
        repo=repo,
        pr=number,
        verb=parsed[0],
        argument=parsed[1],
        author=_text(payload, "comment", "user", "login"),
        association=association if isinstance(association, str) else "",
        comment_id=comment_id,
    )


def parse_delivery(
    event_name: str, payload: Mapping[str, Any], repo: str, watch_branches: list[str], pull_requests: bool
) -> CommitPushed | PullRequestUpdated | CommentCommand | None:
    """The event a delivery announces, or None when agentd ignores it; WebhookRejected(400) when malformed."""
    if event_name == "push":
        return _push(payload, repo, watch_branches)
    if event_name == "pull_request" and pull_requests:
        return _pull_request(payload, repo)
    if event_name == "issue_comment" and pull_requests:
        return _comment(payload, repo)
    return None


Delivered = CommitPushed | PullRequestUpdated | PullRequestCommand


def describe(event: Delivered, payload: Mapping[str, Any]) -> str:
    """The task description users see for a delivered event."""
    if isinstance(event, PullRequestCommand):
        return f"/agentd {event.verb} on PR #{event.number} by {event.author}"
    if isinstance(event, PullRequestUpdated):
        return f"PR #{event.number} head {event.head_sha[:7]} → {event.base_branch}"
    head = payload.get("head_commit")
    message = str(head.get("message") or "") if isinstance(head, Mapping) else ""
    subject = message.strip().splitlines()[0][:200] if message.strip() else ""
    text = f"Commit {event.sha[:7]} on {event.branch}"
    return f"{text}: {subject}" if subject else text


def _rejected(status: int, reason: str, headers: Mapping[str, str] | None = None) -> Response:
    return json_response(status, {"status": "rejected", "reason": reason}, headers)


class _Handler(RequestHandler):
    timeout = 10  # a stalled client frees its thread

    @property
    def _webhook(self) -> WebhookServer:
        return cast(OwnedHTTPServer[WebhookServer], self.server).owner

    def _reject(self, status: int, reason: str, headers: Mapping[str, str] | None = None) -> None:
        self.send(_rejected(status, reason, headers))

    def do_POST(self) -> None:  # noqa: N802 - http.server dispatches by name
        """Read the body within the size limit and hand the delivery to the webhook."""
        if urlsplit(self.path).path != self._webhook.path:
            self._reject(404, "not found")
            return
        try:
            body = self.read_body(MAX_BODY, _DRAIN_LIMIT)
        except BodyRefused as refused:
            reason = "Content-Length required" if refused.status == 411 else f"body over {MAX_BODY} bytes"
            self._reject(refused.status, reason)
            return
        self.send(self._webhook.handle(dict(self.headers.items()), body, self.client_address[0]))

    def do_GET(self) -> None:  # noqa: N802 - http.server dispatches by name
        """Only POST is served: 405 on the webhook path, 404 elsewhere."""
        if urlsplit(self.path).path != self._webhook.path:
            self._reject(404, "not found")
        else:
            self._reject(405, "method not allowed", {"Allow": "POST"})

    do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET  # noqa: N815 - http.server dispatches by name


class WebhookServer(BackgroundHTTPServer):
    """An HTTP endpoint for signed GitHub deliveries on a daemon thread; each good one becomes a job."""

    def __init__(
        self,
        listen: str,
        path: str,
        secret: bytes,
        store: Queue,
        repo: str,
        watch_branches: list[str],
        pull_requests: bool,
        mirror: Mirror | None = None,
        *,
        commands: bool = False,
    ) -> None:
        """Serve deliveries for `repo`; `mirror` (agentd's clone) orders PR heads by their commits, and with
        `commands` `/agentd` comment commands become jobs (they need a forge to check and answer them)."""
        if not secret:
            raise ConfigError("the webhook secret is empty; set the variable webhook.secret_env names")
        host, port = split_listen(listen, "webhook.listen", "127.0.0.1:8766")
        # deliveries come in bursts; they wait in the listen backlog instead of being refused
        super().__init__(host, port, name="webhook", handler=_Handler, backlog=128)
        self.path = path
        self._secret = secret
        self.store = store
        self.repo = repo
        self.watch_branches = list(watch_branches)
        self.pull_requests = pull_requests
        self.mirror = mirror
        self.commands = commands

    def __repr__(self) -> str:
        return f"WebhookServer(listen={self.host}:{self._port}, path={self.path!r})"  # never the secret

    @property
    def url(self) -> str:
        """The endpoint's URL."""
        return super().url + self.path

    def handle(self, headers: Mapping[str, str], body: bytes, remote: str = "") -> Response:
        """Decide one delivery's JSON answer. Only a good, signed delivery touches the store."""
        lowered = {name.lower(): value for name, value in headers.items()}
        delivery = lowered.get("x-github-delivery", "")
        event_name = lowered.get("x-github-event", "")
        if not verify_signature(self._secret, body, lowered.get("x-hub-signature-256")):
            log.warning("webhook signature rejected", remote=remote, delivery=delivery[:128], gh_event=event_name[:64])
            return _rejected(401, "missing or bad signature")
        try:
            event, payload = self._checked(event_name, delivery, body)
        except WebhookRejected as exc:
            log.warning(
                "webhook delivery rejected", delivery=delivery[:128], gh_event=event_name[:64], reason=exc.reason
            )
            return _rejected(exc.status, exc.reason)
        try:
            return self._record(delivery, event_name, event, payload)
        except Exception:
            log.exception("webhook delivery failed", delivery=delivery, gh_event=event_name)
            return json_response(500, {"status": "error", "reason": "the store failed; redeliver later"})

    def _checked(self, event_name: str, delivery: str, body: bytes) -> tuple[Delivered | None, Mapping[str, Any]]:
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
        event = parse_delivery(event_name, payload, self.repo, self.watch_branches, self.pull_requests)
        if isinstance(event, CommentCommand):
            if not self.commands:  # without a forge agentd can neither check the author nor answer
                log.info("webhook comment command ignored: no [forge]", pr=event.pr, verb=event.verb[:32])
                return None, payload
            return event.event(), payload
        return event, payload

    def _record(
        self,
        delivery: str,
        event_name: str,
        event: Delivered | None,
        payload: Mapping[str, Any],
    ) -> Response:
        # the commit the event is about; a command has none (its job asks the forge for the PR's head)
        head = event.sha if isinstance(event, CommitPushed) else getattr(event, "head_sha", None)
        if head is not None and self.store.made_by_agentd(head):
            event = None  # agentd's own commit (merged by fast-forward, or the head of agentd's own fix PR)
        if event is None:
            if self.store.accept_delivery(delivery, None, "", None).duplicate:
                return self._replayed(delivery, event_name)
            log.info("webhook delivery ignored", delivery=delivery, gh_event=event_name[:64])
            return json_response(202, {"status": "ignored"})
        ancestry = self._ancestry(event.head_sha) if isinstance(event, PullRequestUpdated) else None
        accepted = self.store.accept_delivery(delivery, event, describe(event, payload), head, ancestry=ancestry)
        if accepted.duplicate:
            return self._replayed(delivery, event_name)
        task_id, created = accepted.task_id, accepted.created
        log.info(
            "webhook delivery queued", delivery=delivery, gh_event=event_name, key=event.key, task=task_id, new=created
        )
        return json_response(202, {"status": "queued", "task": task_id, "new": created})

    @staticmethod
    def _replayed(delivery: str, event_name: str) -> Response:
        log.info("webhook delivery replayed", delivery=delivery, gh_event=event_name)
        return json_response(200, {"status": "duplicate"})

    def _ancestry(self, head: str) -> Ancestry | None:
        """How to order this head among the PR's others: agentd's clone, fetched first if it lacks the head."""
        mirror = self.mirror
        if mirror is None:
            return None
        if not mirror.has_commit(head):
            try:
                mirror.fetch()
            except RepositoryError as exc:  # ordered by arrival then; the job re-checks the forge's head
                log.warning("webhook fetch failed; ordering by arrival", error=str(exc))
        return mirror.is_ancestor
