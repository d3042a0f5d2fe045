"""Webhook trigger: a real server on a free port, real HTTP requests, a real SQLite store."""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from agentd.intake.webhook import MAX_BODY, WebhookRejected, WebhookServer, parse_delivery, verify_signature
from agentd.kernel.events import CommitPushed, PullRequestUpdated, TaskRequested
from agentd.repo.mirror import Mirror
from agentd.store.sqlite import SQLiteStore
from tests.conftest import git

SECRET = b"s3cret-webhook-key"
REPO = "/srv/shop"
ZERO = "0" * 40


def sha(n: int | str) -> str:
    """A deterministic 40-hex commit id."""
    return hashlib.sha1(str(n).encode()).hexdigest()  # noqa: S324 - a fake commit id, not security


def sign(body: bytes, secret: bytes = SECRET) -> str:
    """GitHub's X-Hub-Signature-256 value for a body."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def push(branch: str = "main", after: str | None = None, before: str | None = None, **extra: Any) -> dict[str, Any]:
    """A push payload as GitHub sends it (the fields agentd reads)."""
    after = sha("push") if after is None else after
    return {
        "ref": branch if branch.startswith("refs/") else f"refs/heads/{branch}",
        "before": sha("parent") if before is None else before,
        "after": after,
        "deleted": after == ZERO,
        "head_commit": None if after == ZERO else {"id": after, "message": "Fix the cart total\n\nlong body"},
        **extra,
    }


def pull(
    action: str = "opened", number: int = 7, head: str | None = None, base: str = "main", head_ref: str = "fix"
) -> dict[str, Any]:
    """A pull_request payload as GitHub sends it (the fields agentd reads)."""
    return {
        "action": action,
        "number": number,
        "pull_request": {
            "number": number,
            "head": {"sha": sha(f"pr{number}") if head is None else head, "ref": head_ref},
            "base": {"ref": base, "sha": sha("base")},
        },
    }


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    """A real SQLite store in a temporary directory."""
    db = SQLiteStore(str(tmp_path / "agentd.db"))
    yield db
    db.close()


def task_ids(store: SQLiteStore) -> list[int]:
    """The ids of every task in the store, oldest first."""
    return sorted(task.id for task in store.list_tasks(limit=10_000))


@pytest.fixture
def server(store: SQLiteStore) -> Iterator[WebhookServer]:
    """A webhook server on 127.0.0.1 and a free port, watching main and release, reviewing PRs."""
    with WebhookServer("127.0.0.1:0", "/webhook", SECRET, store, REPO, ["main", "release"], True) as running:
        yield running


def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    method: str = "POST",
) -> tuple[int, dict[str, Any]]:
    """Send one request; (status, decoded JSON answer) for successes and HTTP errors alike."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        return exc.code, json.loads(raw) if raw else {}


def deliver(
    server: WebhookServer,
    event: str,
    payload: Any,
    delivery: str | None = None,
    secret: bytes = SECRET,
    signature: str | None = "auto",
    body: bytes | None = None,
) -> tuple[int, dict[str, Any]]:
    """Deliver a webhook the way GitHub does: JSON body, event name, delivery id, HMAC signature."""
    raw = json.dumps(payload).encode() if body is None else body
    headers = {"Content-Type": "application/json", "X-GitHub-Event": event}
    headers["X-GitHub-Delivery"] = delivery or str(uuid.uuid4())
    if signature == "auto":
        headers["X-Hub-Signature-256"] = sign(raw, secret)
    elif signature is not None:
        headers["X-Hub-Signature-256"] = signature
    return post(server.url, raw, headers)


def deliveries(tmp_path: Path) -> list[str]:
    """Delivery ids recorded in the store, read through a second connection."""
    with sqlite3.connect(tmp_path / "agentd.db") as db:
        return sorted(row[0] for row in db.execute("SELECT delivery_id FROM webhook_deliveries"))


def events(tmp_path: Path) -> list[str]:
    """Event keys recorded in the store, read through a second connection."""
    with sqlite3.connect(tmp_path / "agentd.db") as db:
        return sorted(row[0] for row in db.execute("SELECT key FROM events"))


# ---------------------------------------------------------------- pure functions


def test_verify_signature_accepts_only_the_exact_hmac() -> None:
    """Only sha256=<HMAC of the body under the secret> verifies; other secrets, bodies and forms do not."""
    body = b'{"a": 1}'
    assert verify_signature(SECRET, body, sign(body))
    assert verify_signature(SECRET, body, sign(body).upper().replace("SHA256=", "sha256="))
    assert not verify_signature(SECRET, body, sign(body, b"other"))
    assert not verify_signature(SECRET, body + b" ", sign(body))
    assert not verify_signature(SECRET, body, None)
    assert not verify_signature(SECRET, body, "")
    assert not verify_signature(SECRET, body, sign(body).replace("sha256=", "sha1="))
    assert not verify_signature(SECRET, body, "sha256=ü" + "0" * 63)
    assert not verify_signature(b"", body, sign(body, b""))


def test_parse_delivery_maps_push_and_pull_request_to_events() -> None:
    """A watched push becomes CommitPushed and an opened PR becomes PullRequestUpdated with its base."""
    assert parse_delivery("push", push(after=sha(1), before=sha(0)), REPO, ["main"], True) == CommitPushed(
        repo=REPO, branch="main", sha=sha(1), parent_sha=sha(0)
    )
    assert parse_delivery("push", push(after=sha(1), before=ZERO), REPO, ["main"], True) == CommitPushed(
        repo=REPO, branch="main", sha=sha(1), parent_sha=None
    )
    assert parse_delivery("pull_request", pull(head=sha(2), base="dev"), REPO, ["main"], True) == PullRequestUpdated(
        repo=REPO, number=7, head_sha=sha(2), base_branch="dev"
    )


@pytest.mark.parametrize(
    ("event", "payload", "pull_requests"),
    [
        ("push", push("agentd/pr-7"), True),
        ("push", push("feature"), True),
        ("push", push("refs/tags/v1.0"), True),
        ("push", push(after=ZERO), True),
        ("pull_request", pull("closed"), True),
        ("pull_request", pull("labeled"), True),
        ("pull_request", pull(), False),
        ("ping", {"zen": "Keep it logically awesome."}, True),
        ("issues", {"action": "opened"}, True),
    ],
)
def test_parse_delivery_ignores_what_agentd_does_not_review(event: str, payload: Any, pull_requests: bool) -> None:
    """agentd/ branches, unwatched branches, tags, deletions, other PR actions and events give None."""
    assert parse_delivery(event, payload, REPO, ["main"], pull_requests) is None


def test_what_a_stranger_can_write_does_not_hide_a_change_from_review() -> None:
    """A fork's PR branch named agentd/… and a pushed commit whose message carries agentd's trailer are events."""
    forked = pull(head_ref="agentd/pr-3")
    trailer = push(head_commit={"message": "innocent\n\nAgentd-Task: 4\n"})
    assert isinstance(parse_delivery("pull_request", forked, REPO, ["main"], True), PullRequestUpdated)
    assert isinstance(parse_delivery("push", trailer, REPO, ["main"], True), CommitPushed)


def test_a_pull_request_event_names_its_author_and_where_its_head_lives() -> None:
    """author, head_repo and base_repo come from the payload, for the trust decision; absent fields are None."""
    payload = pull()
    payload["pull_request"]["user"] = {"login": "mallory"}
    payload["pull_request"]["head"]["repo"] = {"full_name": "mallory/shop"}
    payload["pull_request"]["base"]["repo"] = {"full_name": "acme/shop"}
    event = parse_delivery("pull_request", payload, REPO, ["main"], True)
    assert isinstance(event, PullRequestUpdated)
    assert (event.author, event.head_repo, event.base_repo) == ("mallory", "mallory/shop", "acme/shop")
    bare = parse_delivery("pull_request", pull(), REPO, ["main"], True)
    assert isinstance(bare, PullRequestUpdated)
    assert (bare.author, bare.head_repo, bare.base_repo) == (None, None, None)


@pytest.mark.parametrize(
    ("event", "payload"),
    [
        ("push", {"after": sha(1)}),
        ("push", {"ref": "refs/heads/main"}),
        ("push", push(after="not-a-sha")),
        ("push", push(after=sha(1), ref=7)),
        ("pull_request", {"pull_request": {}}),
        ("pull_request", {"action": "opened"}),
        ("pull_request", {"action": "opened", "pull_request": {"head": {"ref": "x"}}}),
        ("pull_request", {**pull(), "pull_request": {**pull()["pull_request"], "number": "7"}}),
        ("pull_request", pull(head="--upload-pack=evil")),
        ("pull_request", pull(base="-x")),
    ],
)
def test_parse_delivery_rejects_payloads_missing_what_it_needs(event: str, payload: Any) -> None:
    """A push or pull_request payload without its ref, shas, number or base raises WebhookRejected(400)."""
    with pytest.raises(WebhookRejected) as caught:
        parse_delivery(event, payload, REPO, ["main"], True)
    assert caught.value.status == 400


# ---------------------------------------------------------------- the HTTP endpoint


def test_good_push_makes_one_job(server: WebhookServer, store: SQLiteStore) -> None:
    """A signed push to a watched branch enqueues one commit job with the commit as its base."""
    status, answer = deliver(server, "push", push("release", after=sha(1)))
    assert (status, answer["status"], answer["new"]) == (202, "queued", True)
    assert store.counts() == {"queued": 1}
    task = store.get_task(answer["task"])
    assert task is not None
    assert task.event == CommitPushed(repo=REPO, branch="release", sha=sha(1), parent_sha=sha("parent"))
    assert task.base_sha == sha(1)
    assert task.description == f"Commit {sha(1)[:7]} on release: Fix the cart total"
    assert task_ids(store) == [answer["task"]]


@pytest.mark.parametrize("action", ["opened", "synchronize", "reopened"])
def test_good_pull_request_makes_a_job_with_its_base(server: WebhookServer, store: SQLiteStore, action: str) -> None:
    """A signed opened/synchronize/reopened PR enqueues one PR job naming its head and base branch."""
    status, answer = deliver(server, "pull_request", pull(action, number=12, head=sha(5), base="release"))
    assert (status, answer["status"]) == (202, "queued")
    task = store.get_task(answer["task"])
    assert task is not None
    assert task.event == PullRequestUpdated(repo=REPO, number=12, head_sha=sha(5), base_branch="release")
    assert task.base_sha == sha(5)
    assert task.description == f"PR #12 head {sha(5)[:7]} → release"
    assert store.counts() == {"queued": 1}


@pytest.mark.parametrize(
    ("secret", "signature"),
    [(SECRET, "sha256=" + "0" * 64), (SECRET, None), (b"wrong-secret", "auto"), (SECRET, "sha1=abc")],
    ids=["bad", "missing", "wrong-secret", "sha1"],
)
def test_unsigned_or_badly_signed_delivery_is_401_and_changes_nothing(
    server: WebhookServer, store: SQLiteStore, tmp_path: Path, secret: bytes, signature: str | None
) -> None:
    """Without the right HMAC a delivery gets 401, and no delivery id, event or job reaches the store."""
    status, answer = deliver(server, "push", push(), delivery="d-1", secret=secret, signature=signature)
    assert (status, answer["status"]) == (401, "rejected")
    assert store.counts() == {}
    assert deliveries(tmp_path) == []
    assert events(tmp_path) == []
    # The same delivery id, correctly signed afterwards, is still accepted: the bad one left no trace.
    assert deliver(server, "push", push(), delivery="d-1")[1]["status"] == "queued"


@pytest.mark.parametrize(
    ("event", "body"),
    [
        ("push", b"{not json"),
        ("push", b"\xc3\x28"),
        ("push", b"[1, 2]"),
        ("push", json.dumps({"ref": "refs/heads/main"}).encode()),
        ("pull_request", json.dumps({"action": "opened", "pull_request": {"head": {}}}).encode()),
    ],
    ids=["malformed", "not-utf8", "not-object", "push-no-after", "pr-no-head"],
)
def test_malformed_or_incomplete_payload_is_400_and_changes_nothing(
    server: WebhookServer, store: SQLiteStore, tmp_path: Path, event: str, body: bytes
) -> None:
    """A signed body that is not JSON, not an object, or lacks the fields it needs gets 400 and changes nothing."""
    status, answer = deliver(server, event, None, delivery="d-2", body=body)
    assert (status, answer["status"]) == (400, "rejected")
    assert store.counts() == {}
    assert deliveries(tmp_path) == []
    assert events(tmp_path) == []


def test_missing_delivery_or_event_header_is_400(server: WebhookServer, store: SQLiteStore, tmp_path: Path) -> None:
    """A signed delivery without X-GitHub-Delivery or X-GitHub-Event gets 400 and changes nothing."""
    body = json.dumps(push()).encode()
    no_delivery = {"X-GitHub-Event": "push", "X-Hub-Signature-256": sign(body)}
    no_event = {"X-GitHub-Delivery": "d-3", "X-Hub-Signature-256": sign(body)}
    assert post(server.url, body, no_delivery)[0] == 400
    assert post(server.url, body, no_event)[0] == 400
    assert store.counts() == {}
    assert deliveries(tmp_path) == []


def test_replayed_delivery_makes_no_second_job(server: WebhookServer, store: SQLiteStore) -> None:
    """The same delivery id sent again is answered `duplicate` and enqueues nothing more."""
    first = deliver(server, "pull_request", pull(), delivery="replayed")
    again = deliver(server, "pull_request", pull(), delivery="replayed")
    assert first[0] == 202
    assert first[1]["status"] == "queued"
    assert again == (200, {"status": "duplicate"})
    assert store.counts() == {"queued": 1}
    assert len(task_ids(store)) == 1


def test_webhook_and_poll_seeing_the_same_head_make_one_job(server: WebhookServer, store: SQLiteStore) -> None:
    """A PR head the poller already enqueued, delivered again by webhook, maps to the same task and no new job."""
    polled = PullRequestUpdated(repo=REPO, number=7, head_sha=sha(9), base_branch="main")
    task_id, created = store.enqueue(polled, "PR #7 (poll)", sha(9))
    assert created
    status, answer = deliver(server, "pull_request", pull("synchronize", number=7, head=sha(9)))
    assert (status, answer) == (202, {"status": "queued", "task": task_id, "new": False})
    assert store.counts() == {"queued": 1}


@pytest.mark.parametrize(
    ("event", "payload"),
    [
        ("push", push("agentd/commit-1a2b3c4")),
        ("push", push("feature/x")),
        ("push", push("refs/tags/v2.0")),
        ("push", push(after=ZERO)),
        ("pull_request", pull("closed")),
        ("ping", {"zen": "Design for failure.", "hook_id": 1}),
    ],
    ids=["agentd-branch", "unwatched", "tag", "deletion", "closed-pr", "ping"],
)
def test_deliveries_agentd_does_not_review_are_ignored(
    server: WebhookServer, store: SQLiteStore, tmp_path: Path, event: str, payload: Any
) -> None:
    """Pushes to agentd/ or unwatched branches, tags, deletions, closed PRs and pings get 202 `ignored`, no job."""
    assert deliver(server, event, payload, delivery="ign-1") == (202, {"status": "ignored"})
    assert store.counts() == {}
    assert events(tmp_path) == []
    assert deliveries(tmp_path) == ["ign-1"]


def test_a_head_agentd_committed_itself_is_ignored_by_what_agentd_recorded(
    server: WebhookServer, store: SQLiteStore
) -> None:
    """A PR whose head is a commit agentd recorded publishing makes no job; another head on an agentd/ branch does."""
    own = TaskRequested(repo=REPO, description="fix", base_ref="main", request_id="r1")
    task_id, _ = store.enqueue(own, "fix", None)
    store.update_task(task_id, commit_sha=sha("own"), branch="agentd/task-1")
    assert deliver(server, "pull_request", pull(number=8, head=sha("own"), head_ref="agentd/task-1")) == (
        202,
        {"status": "ignored"},
    )
    status, answer = deliver(server, "pull_request", pull(number=9, head=sha("fork"), head_ref="agentd/pr-1"))
    assert (status, answer["status"], answer["new"]) == (202, "queued", True)


def test_body_over_the_limit_is_413(server: WebhookServer, store: SQLiteStore, tmp_path: Path) -> None:
    """A body over 1 MiB is refused with 413 before its signature is even looked at, and changes nothing."""
    body = b"{" + b" " * MAX_BODY + b"}"
    status, answer = deliver(server, "push", None, delivery="big", body=body)
    assert (status, answer["status"]) == (413, "rejected")
    assert store.counts() == {}
    assert deliveries(tmp_path) == []


def test_only_post_on_the_path_is_served(server: WebhookServer) -> None:
    """Another path answers 404 and another method on the webhook path answers 405."""
    body = json.dumps(push()).encode()
    headers = {"X-GitHub-Event": "push", "X-GitHub-Delivery": "p", "X-Hub-Signature-256": sign(body)}
    other = server.url.replace("/webhook", "/elsewhere")
    assert post(other, body, headers)[0] == 404
    assert post(server.url, b"", {}, method="GET")[0] == 405
    assert post(server.url, body, headers, method="PUT")[0] == 405
    assert post(other, b"", {}, method="GET")[0] == 404


def test_burst_of_deliveries_from_many_threads_loses_none(server: WebhookServer, store: SQLiteStore) -> None:
    """200 distinct deliveries from 8 threads make exactly one job per distinct head, and every one is answered."""

    def payload(i: int) -> tuple[str, dict[str, Any]]:
        if i % 2:
            return "push", push(after=sha(f"c{i % 30}"))
        return "pull_request", pull("synchronize", number=1 + i % 4, head=sha(f"p{i % 50}"))

    planned = [payload(i) for i in range(200)]
    keys = {
        f"commit:{p['after']}" if e == "push" else f"pr:{p['number']}:{p['pull_request']['head']['sha']}"
        for e, p in planned
    }
    lock = threading.Lock()
    answers: list[tuple[int, dict[str, Any]]] = []

    def send(item: tuple[str, dict[str, Any]]) -> None:
        result = deliver(server, item[0], item[1])
        with lock:
            answers.append(result)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(send, planned))

    assert len(answers) == 200
    assert {(status, answer["status"]) for status, answer in answers} == {(202, "queued")}
    assert sum(answer["new"] for _, answer in answers) == len(keys)
    assert sum(store.counts().values()) == len(keys)  # one job per distinct head, none lost
    tasks = store.list_tasks(limit=1000)
    assert sorted(t.event.key for t in tasks) == sorted(keys)
    # Every commit stays queued; of a PR's heads the store keeps at most one live (newer heads supersede).
    assert all(t.status == "queued" for t in tasks if isinstance(t.event, CommitPushed))
    live = [t.event.number for t in tasks if isinstance(t.event, PullRequestUpdated) and t.status == "queued"]
    assert len(live) == len(set(live))
    prs = {t.event.number for t in tasks if isinstance(t.event, PullRequestUpdated)}
    assert sorted(live) == sorted(prs)  # and exactly one live job per PR: none left without a job
    assert len(task_ids(store)) == len(keys)
    assert len({answer["task"] for _, answer in answers}) == len(keys)


def test_a_delivery_the_store_failed_to_queue_is_queued_when_redelivered(tmp_path: Path) -> None:
    """The store fails after the delivery id is written: 500, and the forge's redelivery is queued, not `duplicate`.

    The failure is real: a trigger makes the database refuse the job's row, as a full or broken
    database would, after the delivery and the event were written in the same transaction.
    """
    db = tmp_path / "agentd.db"
    store = SQLiteStore(str(db))
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TRIGGER refuse BEFORE INSERT ON jobs BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END")
    body = json.dumps(push()).encode()
    try:
        with WebhookServer("127.0.0.1:0", "/webhook", SECRET, store, REPO, ["main"], True) as running:
            assert deliver(running, "push", None, body=body, delivery="d-lost")[0] == 500
            assert deliver(running, "ping", {"zen": "x"}) == (202, {"status": "ignored"})  # the server lives on
            with sqlite3.connect(db) as conn:
                conn.execute("DROP TRIGGER refuse")
            status, answer = deliver(running, "push", None, body=body, delivery="d-lost")
    finally:
        store.close()
    assert (status, answer["status"], answer["new"]) == (202, "queued", True)
    assert [t.event.key for t in SQLiteStore(str(db)).list_tasks()] == [f"commit:{sha('push')}"]


def test_logs_never_hold_the_secret_or_the_signature(server: WebhookServer) -> None:
    """Neither the secret nor any signature header, good or bad, appears in the webhook's log events."""
    body = json.dumps(push()).encode()
    bad = "sha256=" + "ab" * 32
    with capture_logs() as logs:
        deliver(server, "push", None, body=body)
        deliver(server, "push", None, body=body, signature=bad)
    text = repr(logs)
    assert {entry["event"] for entry in logs} >= {"webhook delivery queued", "webhook signature rejected"}
    for secret in (SECRET.decode(), sign(body), sign(body).removeprefix("sha256="), bad.removeprefix("sha256=")):
        assert secret not in text


def test_an_older_pr_head_delivered_late_supersedes_nothing(tmp_path: Path, sample_repo: Path) -> None:
    """Two heads of one PR delivered newest first: the late older head ends superseded, the newest stays queued.

    Real git: the forge is a bare repository with the PR at refs/pull/7/head, and the webhook
    orders heads by agentd's clone of it (fetched on the delivery that names a commit it lacks).
    """
    remote = tmp_path / "forge.git"
    git(tmp_path, "clone", "-q", "--bare", str(sample_repo), str(remote))
    heads = []
    for name in ("a", "b"):
        (sample_repo / f"{name}.md").write_text(f"{name}\n")
        git(sample_repo, "add", f"{name}.md")
        git(sample_repo, "commit", "-qm", f"docs: {name}")
        git(sample_repo, "push", "-q", "--force", str(remote), "HEAD:refs/pull/7/head")
        heads.append(git(sample_repo, "rev-parse", "HEAD"))
    older, newer = heads
    mirror = Mirror(str(remote), tmp_path / "state" / "repo.git", push=False, pull_requests=True)
    mirror.ensure()
    store = SQLiteStore(str(tmp_path / "agentd.db"))
    try:
        with WebhookServer("127.0.0.1:0", "/webhook", SECRET, store, REPO, ["main"], True, mirror) as running:
            assert deliver(running, "pull_request", pull("synchronize", 7, newer))[0] == 202
            assert deliver(running, "pull_request", pull("synchronize", 7, older))[0] == 202
        by_head = {t.event.head_sha: t for t in store.list_tasks()}  # type: ignore[union-attr]
    finally:
        store.close()
    assert by_head[newer].status == "queued"
    assert by_head[older].status == "superseded"
    assert f"{older[:7]} is older than {newer[:7]}" in by_head[older].summary
