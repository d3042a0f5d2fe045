"""REST API: a real server on a free port, real HTTP, a real SQLite store written as the daemon writes it."""

from __future__ import annotations

import http.client
import json
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate
from structlog.testing import capture_logs

from agentd.app import api_server
from agentd.config import Config, parse_config
from agentd.intake.api import ROUTES, TASK_STATES, ApiServer, TaskStatus, openapi_document, render_metrics
from agentd.kernel.errors import ConfigError, StoreError
from agentd.kernel.events import CommitPushed, TaskRequested
from agentd.kernel.redact import MASK, Redactor
from agentd.store.base import Store, Task
from agentd.store.sqlite import SQLiteStore

TOKEN = "test-token-0123456789abcdef"
CONFIG = """
[daemon]
state_dir = "{state}"
[repository]
path = "/srv/repos/shop"
watch_branches = ["main"]
[models.default]
provider = "scripted"
model = "scripted-1"
script = "demo"
[api]
listen = "127.0.0.1:0"
"""
DIFF = (
    "diff --git a/cart.go b/cart.go\n--- a/cart.go\n+++ b/cart.go\n@@ -1,3 +1,3 @@\n-\treturn a - b\n+\treturn a + b\n"
)


def api_config(tmp_path: Path) -> Config:
    """A config with the API on 127.0.0.1 and a free port."""
    return parse_config(CONFIG.format(state=tmp_path / "state"), env={})


def task_event(request_id: str, description: str = "Fix the cart total") -> TaskRequested:
    """A task request as the CLI makes it."""
    return TaskRequested(repo="/srv/repos/shop", description=description, base_ref="main", request_id=request_id)


def record_debate(store: Store, task_id: int, finish: bool = True) -> int:
    """Write a task's debate the way the daemon does: tested trees, turns, tool calls, usage, verdict, commit."""
    lease = store.claim_job("test-worker", 60)
    assert lease is not None and lease.task_id == task_id
    store.add_code_version(task_id, {"kind": "base", "sha": "b" * 40, "tests_passed": False, "test_output": "FAIL"})
    session = store.start_session(task_id, "debate", "round_robin")
    calls = [
        ("proposer", 0, "code", {"action": "read", "file_path": "cart.go"}, "allowed", "", True, None),
        (
            "proposer",
            0,
            "execute_command",
            {"command": ["curl", "x"]},
            "refused",
            "command:not-allowlisted",
            False,
            None,
        ),
        ("proposer", 0, "execute_command", {"command": ["go", "test", "./..."]}, "allowed", "", True, 0),
    ]
    for agent, seq, tool, arguments, decision, rule, ok, exit_code in calls:
        store.add_tool_call(
            session,
            {
                "agent": agent,
                "turn_seq": seq,
                "tool": tool,
                "arguments": json.dumps(arguments),
                "decision": decision,
                "rule": rule,
                "ok": ok,
                "exit_code": exit_code,
                "duration_ms": 12.5,
                "output": json.dumps({"error": "not allowed"} if not ok else {"exit_code": exit_code}),
            },
        )
    turns = [
        ("proposer", "Changed the minus to a plus in Total.", {"summary": "Fix Total", "confidence": 0.9}, 900, 120),
        ("critic", "The change is right.", {"verdict": "approve", "summary": "Looks right", "findings": []}, 700, 60),
        ("judge", "Tests pass.", {"decision": "accept", "confidence": 0.95, "rationale": "green tests"}, 650, 40),
    ]
    costs = [0.5, 0.25, 0.25]
    for seq, (role, content, submission, tokens_in, tokens_out) in enumerate(turns):
        store.add_turn(
            session,
            {
                "seq": seq,
                "agent": role,
                "role": role,
                "model": "scripted-1",
                "content": content,
                "submission": submission,
                "input_tokens": tokens_in,
                "output_tokens": tokens_out,
                "latency_ms": 30.0,
            },
        )
        store.add_usage(task_id, "scripted-1", tokens_in, tokens_out, cost_usd=costs[seq])
    if not finish:
        return session
    store.add_code_version(task_id, {"kind": "candidate", "diff": DIFF, "tests_passed": True, "test_output": "ok"})
    store.add_code_version(
        task_id, {"kind": "final", "sha": "c" * 40, "diff": DIFF, "tests_passed": True, "test_output": "ok"}
    )
    verdict = {
        "accepted": True,
        "summary": "Fix Total",
        "reason": "the judge accepted and agentd's tests pass",
        "votes": ["critic=approve", "judge=accept(0.95)"],
        "models": ["proposer=scripted-1"],
        "findings": [],
    }
    store.finish_session(session, "agreed", verdict)
    store.update_task(
        task_id,
        status="fixed",
        summary="Fix Total",
        branch=f"agentd/task-{task_id}",
        commit_sha="c" * 40,
        tests_passed=True,
        finished_at=time.time(),
    )
    store.finish_job(lease, "done")
    return session


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    """A real SQLite store in a temporary directory."""
    db = SQLiteStore(str(tmp_path / "agentd.db"))
    yield db
    db.close()


@pytest.fixture
def server(tmp_path: Path, store: SQLiteStore) -> Iterator[ApiServer]:
    """The API on 127.0.0.1 and a free port, its token from the (given) environment."""
    with api_server(api_config(tmp_path), store, Redactor([TOKEN]), env={"AGENTD_API_TOKEN": TOKEN}) as running:
        yield running


def call(
    server: ApiServer,
    path: str,
    method: str = "GET",
    body: bytes | None = None,
    token: str | None = TOKEN,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One request; (status, headers, body) for successes and HTTP errors alike."""
    sent = dict(headers or {})
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    if body is not None:
        sent.setdefault("Content-Type", "application/json")
    request = urllib.request.Request(server.url + path, data=body, method=method, headers=sent)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers.items()), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers.items()), exc.read()


def get_json(server: ApiServer, path: str, **kwargs: Any) -> tuple[int, Any]:
    """(status, decoded JSON) of a request that must answer JSON."""
    status, headers, body = call(server, path, **kwargs)
    assert headers["Content-Type"] == "application/json", (path, headers)
    return status, json.loads(body)


def post_task(server: ApiServer, payload: Any, **kwargs: Any) -> tuple[int, Any]:
    """POST a task request."""
    return get_json(server, "/api/v1/tasks", method="POST", body=json.dumps(payload).encode(), **kwargs)


SECURED = [
    ("GET", "/api/v1/tasks"),
    ("POST", "/api/v1/tasks"),
    ("GET", "/api/v1/tasks/1"),
    ("GET", "/api/v1/tasks/1/events"),
    ("GET", "/api/v1/agents"),
    ("GET", "/api/v1/sessions"),
    ("GET", "/api/v1/history"),
    ("GET", "/api/v1/openapi.json"),
    ("GET", "/metrics"),
]


# ---------------------------------------------------------------- authentication


@pytest.mark.parametrize(("method", "path"), SECURED)
@pytest.mark.parametrize("token", [None, "wrong-token", TOKEN + "x", ""])
def test_secured_routes_refuse_a_missing_or_wrong_token(
    server: ApiServer, store: SQLiteStore, method: str, path: str, token: str | None
) -> None:
    """Every route but /healthz and the pages answers 401 JSON with a Bearer challenge, and changes nothing."""
    store.enqueue(task_event("r1"), "d", None)
    body = json.dumps({"description": "x"}).encode() if method == "POST" else None
    status, headers, raw = call(server, path, method=method, body=body, token=token)
    assert status == 401
    assert headers["Content-Type"] == "application/json"
    assert headers["WWW-Authenticate"].startswith("Bearer")
    assert json.loads(raw)["error"]
    assert len(store.list_tasks()) == 1


def test_other_schemes_are_refused(server: ApiServer) -> None:
    """The token only counts as a Bearer credential: the same value under another scheme is refused."""
    for header in (f"Basic {TOKEN}", TOKEN, f"Bearer{TOKEN}"):
        assert call(server, "/api/v1/tasks", token=None, headers={"Authorization": header})[0] == 401
    assert call(server, "/api/v1/tasks", token=None, headers={"Authorization": f"bearer  {TOKEN} "})[0] == 200


def test_healthz_and_the_pages_need_no_token(server: ApiServer) -> None:
    """/healthz answers 200 {"status":"ok"} (no problems) without a token, and the dashboard HTML loads without one."""
    assert get_json(server, "/healthz", token=None) == (200, {"status": "ok", "problems": []})
    for path in ("/", "/tasks/7"):
        status, headers, body = call(server, path, token=None)
        assert status == 200
        assert headers["Content-Type"] == "text/html; charset=utf-8"
        assert b"<title>agentd</title>" in body


def test_server_refuses_to_start_without_a_token(tmp_path: Path, store: SQLiteStore) -> None:
    """With api.listen set, an empty or unset token variable is a ConfigError naming the variable, not a server."""
    for env in ({}, {"AGENTD_API_TOKEN": ""}, {"AGENTD_API_TOKEN": "   "}):
        with pytest.raises(ConfigError, match=r"\$AGENTD_API_TOKEN is empty"):
            api_server(api_config(tmp_path), store, Redactor(), env=env)


def test_the_token_variable_is_a_secret_only_when_listening(tmp_path: Path) -> None:
    """secret_env_names() names api.token_env when the API listens, so its value is masked in logs and sandboxes."""
    assert "AGENTD_API_TOKEN" in api_config(tmp_path).secret_env_names()
    quiet = parse_config(CONFIG.replace('listen = "127.0.0.1:0"', "").format(state=tmp_path), env={})
    assert "AGENTD_API_TOKEN" not in quiet.secret_env_names()


def test_the_token_is_never_returned_or_logged(server: ApiServer, store: SQLiteStore) -> None:
    """A description holding the token comes back masked, and no log event or repr holds the token."""
    with capture_logs() as logs:
        status, answer = post_task(server, {"description": f"leak {TOKEN} please", "request_id": "leak"})
        assert status == 202
        _, _, detail = call(server, f"/api/v1/tasks/{answer['id']}")
        _, _, listing = call(server, "/api/v1/tasks")
        call(server, "/api/v1/tasks", token="wrong")
    assert TOKEN.encode() not in detail + listing
    assert MASK.encode() in detail
    assert TOKEN not in repr(logs) + repr(server)


# ---------------------------------------------------------------- tasks


def test_post_creates_a_task_and_the_same_request_id_gives_the_same_task(server: ApiServer, store: SQLiteStore) -> None:
    """POST answers 202 {id} with a Location; repeating its request_id returns that id and queues nothing new."""
    payload = {"description": "Make checkout faster", "kind": "optimize", "request_id": "req-42"}
    status, headers, raw = call(server, "/api/v1/tasks", method="POST", body=json.dumps(payload).encode())
    assert status == 202
    first = json.loads(raw)
    assert first == {"id": first["id"], "created": True}
    assert headers["Location"] == f"/api/v1/tasks/{first['id']}"
    assert post_task(server, payload) == (202, {"id": first["id"], "created": False})
    assert post_task(server, {**payload, "description": "something else"})[1]["id"] == first["id"]
    tasks = store.list_tasks()
    assert [t.id for t in tasks] == [first["id"]]
    event = tasks[0].event
    assert isinstance(event, TaskRequested)
    assert (event.kind, event.base_ref, event.repo, event.request_id) == (
        "optimize",
        "main",
        "/srv/repos/shop",
        "req-42",
    )
    assert store.counts() == {"queued": 1}


def test_post_without_request_id_makes_a_new_task_each_time(server: ApiServer) -> None:
    """Without a request_id each POST is a new task; base_ref defaults to the first watched branch."""
    first = post_task(server, {"description": "a"})[1]["id"]
    second = post_task(server, {"description": "a", "base_ref": "release/1.2"})[1]["id"]
    assert first != second


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"{not json", "application/json", 400),
        (b"\xff\xfe{}", "application/json", 400),
        (b'{"description": "\\ud800"}', "application/json", 400),
        (b"[" * 5000 + b"]" * 5000, "application/json", 400),
        (b'{"description": 1' + b"0" * 5000 + b"}", "application/json", 400),
        (b"[]", "application/json", 422),
        (b'"fix it"', "application/json", 422),
        (b"{}", "application/json", 422),
        (b'{"description": ""}', "application/json", 422),
        (b'{"description": "   "}', "application/json", 422),
        (b'{"description": null}', "application/json", 422),
        (b'{"description": "x", "kind": "rewrite"}', "application/json", 422),
        (b'{"description": "x", "request_id": "no spaces"}', "application/json", 422),
        (b'{"description": "x", "base_ref": "-rf"}', "application/json", 422),
        (b'{"description": "x", "colour": "blue"}', "application/json", 422),
        (b'{"description": "x"}', "text/plain", 415),
        (b'{"description": "' + b"x" * 70_000 + b'"}', "application/json", 413),
    ],
)
def test_bad_bodies_are_4xx_json_and_queue_nothing(
    server: ApiServer, store: SQLiteStore, body: bytes, content_type: str, status: int
) -> None:
    """Malformed, invalid, mistyped or oversized bodies get a 4xx JSON error (422 lists the problems), never a 5xx."""
    answer = get_json(server, "/api/v1/tasks", method="POST", body=body, headers={"Content-Type": content_type})
    assert answer[0] == status
    assert answer[1]["error"]
    if status == 422:
        assert answer[1]["detail"] and all("loc" in problem and "msg" in problem for problem in answer[1]["detail"])
    assert store.list_tasks() == []


def test_post_without_content_length_is_411(server: ApiServer) -> None:
    """A POST that does not say its length is refused with 411 JSON instead of waiting for a body."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.putrequest("POST", "/api/v1/tasks")
    connection.putheader("Authorization", f"Bearer {TOKEN}")
    connection.putheader("Content-Type", "application/json")
    connection.endheaders()
    response = connection.getresponse()
    assert response.status == 411
    assert json.loads(response.read())["error"]
    connection.close()


def test_list_is_newest_first_with_limit_and_status(server: ApiServer, store: SQLiteStore) -> None:
    """GET /api/v1/tasks lists newest first, honours limit and status, and rejects bad values with 422."""
    ids = [store.enqueue(task_event(f"r{n}", f"task {n}"), f"task {n}", None)[0] for n in range(5)]
    store.enqueue(CommitPushed(repo="/r", branch="main", sha="a" * 40), "commit", "a" * 40)
    record_debate(store, ids[0])
    status, answer = get_json(server, "/api/v1/tasks")
    assert status == 200
    assert [t["id"] for t in answer["tasks"]] == sorted([*ids, ids[-1] + 1], reverse=True)
    assert answer["tasks"][0]["event"]["type"] == "commit"
    assert [t["id"] for t in get_json(server, "/api/v1/tasks?limit=2")[1]["tasks"]] == [ids[-1] + 1, ids[-1]]
    fixed = get_json(server, "/api/v1/tasks?status=fixed")[1]["tasks"]
    assert [(t["id"], t["done"], t["tests_passed"]) for t in fixed] == [(ids[0], True, True)]
    for query in ("limit=0", "limit=1001", "limit=many", "status=bogus"):
        status, answer = get_json(server, f"/api/v1/tasks?{query}")
        assert status == 422, query
        assert answer["detail"]


def test_detail_holds_the_whole_record(server: ApiServer, store: SQLiteStore) -> None:
    """GET /api/v1/tasks/{id} returns the task and its record: turns, tool calls and rules, verdict, versions, usage."""
    task_id = store.enqueue(task_event("r1"), "Fix the cart total", None)[0]
    record_debate(store, task_id)
    status, answer = get_json(server, f"/api/v1/tasks/{task_id}")
    assert status == 200
    task, record = answer["task"], answer["record"]
    assert (task["status"], task["branch"], task["tests_passed"], task["done"]) == (
        "fixed",
        f"agentd/task-{task_id}",
        True,
        True,
    )
    (session,) = record["sessions"]
    assert [t["agent"] for t in session["turns"]] == ["proposer", "critic", "judge"]
    assert session["turns"][2]["submission"]["decision"] == "accept"
    refused = [c for c in session["tool_calls"] if c["decision"] == "refused"]
    assert refused[0]["rule"] == "command:not-allowlisted"
    assert refused[0]["ok"] is False
    assert session["verdict"]["accepted"] is True
    assert session["verdict"]["votes"] == ["critic=approve", "judge=accept(0.95)"]
    assert [(v["kind"], v["tests_passed"]) for v in record["versions"]] == [
        ("base", False),
        ("candidate", True),
        ("final", True),
    ]
    assert record["usage"] == {"input_tokens": 2250, "output_tokens": 220, "calls": 3, "cost_usd": 1.0}
    assert record["job"] == {"status": "done", "attempts": 1, "error": None}


@pytest.mark.parametrize("path", ["/api/v1/tasks/999", "/api/v1/tasks/0", "/api/v1/tasks/abc", "/api/v1/tasks/-1"])
def test_missing_or_malformed_task_ids_are_404(server: ApiServer, path: str) -> None:
    """An id that is not a stored task (or not an id at all, or past 64 bits) is a 404 JSON error."""
    assert get_json(server, path)[0] == 404
    assert get_json(server, "/api/v1/tasks/" + "9" * 40)[0] == 404
    assert get_json(server, path + "/events")[0] == 404


def test_unknown_paths_and_methods_are_json(server: ApiServer) -> None:
    """An unknown path is 404 JSON; a known path with another method (even an invented one) is 405 with Allow."""
    assert get_json(server, "/api/v2/tasks")[0] == 404
    for method in ("DELETE", "PUT", "PATCH", "QUERY"):
        status, headers, raw = call(server, "/api/v1/tasks", method=method)
        assert status == 405, method
        assert headers["Allow"] == "GET, POST"
        assert json.loads(raw)["error"]


def test_agents_sessions_and_history(server: ApiServer, store: SQLiteStore) -> None:
    """Agents come from the agents table; sessions newest first with counts; history only holds finished tasks."""
    done_id = store.enqueue(task_event("r1"), "one", None)[0]
    record_debate(store, done_id)
    store.enqueue(task_event("r2"), "two", None)
    agents = get_json(server, "/api/v1/agents")[1]["agents"]
    assert [(a["name"], a["role"], a["model"]) for a in agents] == [
        ("critic", "critic", "scripted-1"),
        ("judge", "judge", "scripted-1"),
        ("proposer", "proposer", "scripted-1"),
    ]
    (session,) = get_json(server, "/api/v1/sessions")[1]["sessions"]
    assert (session["task_id"], session["turns"], session["tool_calls"], session["status"]) == (done_id, 3, 3, "agreed")
    (entry,) = get_json(server, "/api/v1/history?limit=10")[1]["history"]
    assert entry["id"] == done_id
    assert (entry["status"], entry["commit_sha"], entry["tests_passed"]) == ("fixed", "c" * 40, True)
    assert (entry["input_tokens"], entry["output_tokens"], entry["model_calls"]) == (2250, 220, 3)


# ---------------------------------------------------------------- live events


def read_events(response: http.client.HTTPResponse, until: str, found: list[dict[str, str]]) -> None:
    """Parse server-sent events off a response into `found` until an event named `until` (or the end)."""
    fields: dict[str, str] = {}
    for raw in response:
        line = raw.decode().rstrip("\n")
        if line == "":
            if "event" in fields:
                found.append(fields)
                if fields["event"] == until:
                    return
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(": ")
            fields[name] = value


def open_stream(server: ApiServer, task_id: int, last_event_id: str | None = None) -> http.client.HTTPResponse:
    """Open the event stream of a task."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    if last_event_id:
        headers["Last-Event-ID"] = last_event_id
    connection.request("GET", f"/api/v1/tasks/{task_id}/events", headers=headers)
    response = connection.getresponse()
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/event-stream; charset=utf-8"
    return response


def wait_for(predicate: Any, timeout: float = 5.0) -> None:
    """Poll until `predicate()` is true."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_stream_delivers_a_turn_written_after_connecting_and_ends_with_done(
    server: ApiServer, store: SQLiteStore
) -> None:
    """A client connected to a running task receives a turn written later, then `done` when the task finishes."""
    task_id = store.enqueue(task_event("live"), "live", None)[0]
    store.claim_job("worker", 60)
    session = store.start_session(task_id, "debate", "round_robin")
    found: list[dict[str, str]] = []
    response = open_stream(server, task_id)
    reader = threading.Thread(target=read_events, args=(response, "done", found))
    reader.start()
    wait_for(lambda: any(e["event"] == "status" for e in found))
    assert json.loads(found[0]["data"])["status"] == "running"
    turn = {"seq": 0, "agent": "proposer", "role": "proposer", "model": "m", "content": "late words"}
    store.add_turn(session, turn)
    wait_for(lambda: any(e["event"] == "turn" for e in found))
    store.update_task(task_id, status="no_fix", finished_at=time.time())
    reader.join(timeout=5)
    assert not reader.is_alive()
    names = [e["event"] for e in found]
    assert names == ["status", "turn", "status", "done"]
    late = json.loads(found[1]["data"])
    assert (late["agent"], late["content"]) == ("proposer", "late words")
    assert json.loads(found[-1]["data"])["status"] == "no_fix"
    assert response.read() == b""  # the server closed the stream


def test_stream_of_a_finished_task_replays_it_and_resumes_after_last_event_id(
    server: ApiServer, store: SQLiteStore
) -> None:
    """A finished task's stream replays its tool calls and turns in order, and Last-Event-ID skips what was seen."""
    task_id = store.enqueue(task_event("done"), "done", None)[0]
    record_debate(store, task_id)
    found: list[dict[str, str]] = []
    read_events(open_stream(server, task_id), "done", found)
    names = [e["event"] for e in found]
    assert names == ["tool_call", "tool_call", "tool_call", "turn", "turn", "turn", "status", "done"]
    assert json.loads(found[1]["data"])["decision"] == "refused"
    resumed: list[dict[str, str]] = []
    read_events(open_stream(server, task_id, found[3]["id"]), "done", resumed)
    assert [json.loads(e["data"])["agent"] for e in resumed if e["event"] == "turn"] == ["critic", "judge"]
    assert not any(e["event"] == "tool_call" for e in resumed)


def test_stopping_the_server_ends_live_streams(tmp_path: Path, store: SQLiteStore) -> None:
    """stop() ends open streams of unfinished tasks promptly instead of hanging on them."""
    task_id = store.enqueue(task_event("open"), "open", None)[0]
    running = api_server(api_config(tmp_path), store, Redactor(), env={"AGENTD_API_TOKEN": TOKEN})
    running.start()
    found: list[dict[str, str]] = []
    reader = threading.Thread(target=read_events, args=(open_stream(running, task_id), "done", found))
    reader.start()
    wait_for(lambda: bool(found))
    started = time.monotonic()
    running.stop()
    reader.join(timeout=5)
    assert not reader.is_alive()
    assert time.monotonic() - started < 3


def test_streams_beyond_the_limit_are_503(server: ApiServer, store: SQLiteStore, monkeypatch: Any) -> None:
    """When every stream slot is taken a new stream is refused with 503 and Retry-After; an ended one frees its slot."""
    monkeypatch.setattr(server.api, "_streams", threading.BoundedSemaphore(1))
    task_id = store.enqueue(task_event("busy"), "busy", None)[0]
    first = open_stream(server, task_id)
    first.readline()
    status, headers, _ = call(server, f"/api/v1/tasks/{task_id}/events")
    assert status == 503
    assert headers["Retry-After"] == "5"
    first.close()
    store.update_task(task_id, status="failed", finished_at=time.time())
    wait_for(lambda: call(server, f"/api/v1/tasks/{task_id}/events")[0] == 200)


# ---------------------------------------------------------------- metrics


def test_metrics_count_what_the_store_holds(server: ApiServer, store: SQLiteStore) -> None:
    """/metrics is Prometheus text with jobs and tasks by status, tool calls by decision, tokens and model calls."""
    done_id = store.enqueue(task_event("r1"), "one", None)[0]
    record_debate(store, done_id)
    store.enqueue(task_event("r2"), "two", None)
    store.enqueue(task_event("r3"), "three", None)
    status, headers, raw = call(server, "/metrics")
    assert status == 200
    assert headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    samples = dict(line.rsplit(" ", 1) for line in raw.decode().splitlines() if not line.startswith("#"))
    assert samples['agentd_jobs{status="queued"}'] == "2"
    assert samples['agentd_jobs{status="done"}'] == "1"
    assert samples['agentd_jobs{status="failed"}'] == "0"
    assert samples['agentd_tasks{status="fixed"}'] == "1"
    assert samples['agentd_tasks{status="queued"}'] == "2"
    assert samples['agentd_tool_calls_total{decision="allowed"}'] == "2"
    assert samples['agentd_tool_calls_total{decision="refused"}'] == "1"
    assert samples['agentd_tokens_total{direction="input"}'] == "2250"
    assert samples['agentd_tokens_total{direction="output"}'] == "220"
    assert samples["agentd_model_calls_total"] == "3"
    assert samples["agentd_cost_usd_total"] == "1.0"
    assert samples["agentd_task_duration_seconds_count"] == "1"
    assert float(samples["agentd_task_duration_seconds_sum"]) >= 0
    assert int(samples["agentd_sandbox_commands_total"]) == sum(
        1
        for c in store.task_record(done_id).sessions[0].tool_calls
        if c.tool == "execute_command" and c.decision == "allowed"
    )
    assert "# TYPE agentd_tool_calls_total counter" in raw.decode()


def test_metric_labels_are_escaped() -> None:
    """Label values with quotes, backslashes or newlines are escaped as the exposition format requires."""
    stats = {"jobs": {}, "tasks": {'we"ird\\\n': 2}, "tool_calls": {}, "input_tokens": 0, "output_tokens": 0}
    text = render_metrics({**stats, "model_calls": 0, "cost_usd": 0.0})
    assert 'agentd_tasks{status="we\\"ird\\\\\\n"} 2' in text


# ---------------------------------------------------------------- failures


class BrokenStore(SQLiteStore):
    """A real SQLite store whose reads fail, as a broken database would."""

    def list_tasks(self, limit: int = 50, status: str | None = None) -> list[Task]:
        """Fail like a database that went away."""
        raise StoreError("database disk image is malformed at /secret/path")


def test_unexpected_failure_is_500_json_without_a_traceback(tmp_path: Path) -> None:
    """An exception in a handler is logged and answered 500 JSON that names nothing internal; the server lives on."""
    broken = BrokenStore(str(tmp_path / "broken.db"))
    try:
        with (
            api_server(api_config(tmp_path), broken, Redactor(), env={"AGENTD_API_TOKEN": TOKEN}) as running,
            capture_logs() as logs,
        ):
            status, headers, raw = call(running, "/api/v1/tasks")
            assert status == 500
            assert headers["Content-Type"] == "application/json"
            assert b"Traceback" not in raw
            assert b"secret" not in raw
            assert json.loads(raw)["error"]
            assert get_json(running, "/healthz")[0] == 200
        assert any(e["event"] == "api request failed" and e["log_level"] == "error" for e in logs)
    finally:
        broken.close()


def test_a_request_http_server_rejects_is_answered_in_json(server: ApiServer) -> None:
    """Even a request the HTTP layer refuses before routing (too many headers) gets a JSON error, not HTML."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw:
        headers = "".join(f"X-Filler-{n}: {n}\r\n" for n in range(120))
        raw.sendall(f"GET /healthz HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode())
        answer = b""
        while chunk := raw.recv(65536):
            answer += chunk
    head, _, body = answer.decode().partition("\r\n\r\n")
    assert head.startswith("HTTP/1.0 431")
    assert "Content-Type: application/json" in head
    assert json.loads(body)["error"]


# ---------------------------------------------------------------- OpenAPI


def test_openapi_document_is_valid_and_describes_every_route(server: ApiServer) -> None:
    """The served document validates as OpenAPI 3.1 and names every route, its parameters and its schemas."""
    status, document = get_json(server, "/api/v1/openapi.json")
    assert status == 200
    validate(document)
    assert document == json.loads(json.dumps(openapi_document()))
    for route in ROUTES:
        operation = document["paths"][route.path][route.method.lower()]
        assert route.ok[0] in operation["responses"]
        assert ("401" in operation["responses"]) == route.secured
        assert [p["name"] for p in operation.get("parameters", [])] == [
            {"last_event_id": "Last-Event-ID"}.get(name, name) for name in route.params
        ]
    schemas = document["components"]["schemas"]
    assert {"TaskRequest", "TaskDetail", "TurnView", "ToolCallView", "Error"} <= set(schemas)
    assert schemas["TaskRequest"]["additionalProperties"] is False
    assert set(schemas["TaskRequest"]["required"]) == {"description"}


def test_task_status_enum_matches_the_store() -> None:
    """The status enum the API documents and validates is exactly the store's set of task states."""
    assert set(TaskStatus.__args__) == set(TASK_STATES)  # type: ignore[attr-defined]


def test_schemathesis_finds_no_server_error_or_schema_mismatch(
    server: ApiServer, store: SQLiteStore, tmp_path: Path
) -> None:
    """Schemathesis fuzzes every operation of the live document (25 examples each) and every check passes."""
    record_debate(store, store.enqueue(task_event("fuzz"), "fuzz", None)[0])
    schemathesis = Path(sys.executable).with_name("schemathesis")
    argv = [
        str(schemathesis),
        "run",
        f"{server.url}/api/v1/openapi.json",
        "--header",
        f"Authorization: Bearer {TOKEN}",
        "--checks",
        "all",
        "--max-examples",
        "25",
        "--seed",
        "20240601",
        "--exclude-path-regex",
        "/events$",  # a stream of an unfinished task never ends; the stream tests above cover it
        "--generation-database",
        "none",
        "--request-timeout",
        "10",
        "--no-color",
    ]
    result = subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path, timeout=500, check=False)
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
    tested = re.search(r"Tested: (\d+)", result.stdout)
    # every operation but the excluded stream and the document itself (schemathesis leaves its own source out)
    assert tested and int(tested[1]) == len(ROUTES) - 2, result.stdout[-2000:]
    assert re.search(r"(\d+) generated, \1 passed", result.stdout), result.stdout[-2000:]


# ---------------------------------------------------------------- the daemon


def daemon_config(tmp_path: Path, repo: Path) -> Config:
    """A daemon config watching a real repository, with the API on a free port."""
    text = CONFIG.format(state=tmp_path / "state").replace("/srv/repos/shop", str(repo))
    return parse_config(text, env={})


@pytest.mark.docker
def test_daemon_serves_the_api_while_it_runs(
    tmp_path: Path, sample_repo: Path, docker_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Daemon.run() starts the API after recovery and stops it, freeing the port, when the daemon stops."""
    from agentd.app import App  # noqa: PLC0415 - the daemon needs Docker; only these tests load it

    monkeypatch.setenv("AGENTD_API_TOKEN", TOKEN)
    daemon = App(daemon_config(tmp_path, sample_repo))
    thread = threading.Thread(target=daemon.run, kwargs={"install_signals": False}, daemon=True)
    thread.start()
    try:
        wait_for(lambda: daemon.api is not None and daemon.api.port != 0, timeout=30)
        assert daemon.api is not None
        assert get_json(daemon.api, "/healthz", token=None) == (200, {"status": "ok", "problems": []})
        status, answer = post_task(daemon.api, {"description": "just queue it", "request_id": "daemon"})
        assert status == 202
        assert get_json(daemon.api, f"/api/v1/tasks/{answer['id']}")[0] == 200
    finally:
        daemon.request_stop()
        thread.join(timeout=30)
    assert not thread.is_alive()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", daemon.api.port), timeout=2).close()


@pytest.mark.docker
def test_daemon_refuses_to_start_with_an_empty_token(
    tmp_path: Path, sample_repo: Path, docker_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With api.listen set and the token variable empty, Daemon.run() raises ConfigError before doing any work."""
    from agentd.app import App  # noqa: PLC0415 - the daemon needs Docker; only these tests load it

    monkeypatch.setenv("AGENTD_API_TOKEN", "")
    daemon = App(daemon_config(tmp_path, sample_repo))
    with pytest.raises(ConfigError, match="AGENTD_API_TOKEN"):
        daemon.run(install_signals=False)
    assert daemon.store.live_daemons(within_s=60) == []


# ---------------------------------------------------------------- PostgreSQL


@pytest.mark.postgres
def test_the_api_reads_a_postgres_store_the_same_way(tmp_path: Path, postgres_schema_dsn: str) -> None:
    """Served from the PostgreSQL store, the same debate gives the same detail, lists, history, stream and metrics."""
    from agentd.store.postgres import PostgresStore  # noqa: PLC0415 - psycopg loads only for this test

    store = PostgresStore(postgres_schema_dsn)
    try:
        task_id = store.enqueue(task_event("pg"), "Fix the cart total", None)[0]
        record_debate(store, task_id)
        store.enqueue(task_event("pg-2"), "queued one", None)
        with api_server(api_config(tmp_path), store, Redactor(), env={"AGENTD_API_TOKEN": TOKEN}) as running:
            record = get_json(running, f"/api/v1/tasks/{task_id}")[1]["record"]
            assert record["usage"] == {"input_tokens": 2250, "output_tokens": 220, "calls": 3, "cost_usd": 1.0}
            assert [t["agent"] for t in record["sessions"][0]["turns"]] == ["proposer", "critic", "judge"]
            assert [v["tests_passed"] for v in record["versions"]] == [False, True, True]
            assert [t["status"] for t in get_json(running, "/api/v1/tasks")[1]["tasks"]] == ["queued", "fixed"]
            assert [t["id"] for t in get_json(running, "/api/v1/tasks?status=fixed")[1]["tasks"]] == [task_id]
            (entry,) = get_json(running, "/api/v1/history")[1]["history"]
            assert (entry["tests_passed"], entry["input_tokens"], entry["model_calls"]) == (True, 2250, 3)
            (session,) = get_json(running, "/api/v1/sessions")[1]["sessions"]
            assert (session["turns"], session["tool_calls"]) == (3, 3)
            assert len(get_json(running, "/api/v1/agents")[1]["agents"]) == 3
            found: list[dict[str, str]] = []
            read_events(open_stream(running, task_id), "done", found)
            assert [e["event"] for e in found].count("turn") == 3
            metrics = call(running, "/metrics")[2].decode()
            assert 'agentd_tool_calls_total{decision="refused"} 1' in metrics
            assert "agentd_cost_usd_total 1.0" in metrics
    finally:
        store.close()
