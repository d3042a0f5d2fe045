"""A local stand-in for GitLab's REST API (v4), checking requests against python-gitlab's own endpoint table.

python-gitlab declares each endpoint in its managers (`_path`, the mixins that give the methods, the
attributes a create or update takes, the filters a list takes); `gitlab_endpoints` reads that table from
the installed package. A request whose method and path no manager declares, or whose body or query holds
something the manager does not declare (or lacks a required attribute), is a violation. GitLab publishes
no machine-readable description of these endpoints, so the answers are minimal objects shaped like the
API documentation's examples, holding the fields a client reads.
"""

from __future__ import annotations

import inspect
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import gitlab.base
import gitlab.v4.objects
from gitlab.types import RequiredOptional

Answer = tuple[int, Any]
_PAGING = frozenset({"page", "per_page", "pagination", "order_by", "sort"})
# GitLab's documented position fields for a diff discussion (python-gitlab only declares `position`)
_POSITION_REQUIRED = frozenset({"position_type", "base_sha", "start_sha", "head_sha"})
_POSITION_KEYS = _POSITION_REQUIRED | {"new_path", "old_path", "new_line", "old_line", "line_range"}


@dataclass(frozen=True)
class Endpoint:
    """One method and path python-gitlab declares, with what it may carry."""

    method: str
    template: str
    manager: str
    attrs: RequiredOptional | None
    filters: frozenset[str]
    pattern: re.Pattern[str]


def _endpoint(method: str, template: str, manager: type, attrs: Any, filters: Any) -> Endpoint:
    pattern = re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "([^/]+)", re.escape(template)) + "$")
    return Endpoint(method, template, manager.__name__, attrs, frozenset(filters or ()), pattern)


def gitlab_endpoints() -> list[Endpoint]:
    """Every endpoint the installed python-gitlab declares through its managers."""
    endpoints = []
    for _, manager in inspect.getmembers(gitlab.v4.objects, inspect.isclass):
        path = getattr(manager, "_path", None)
        if not issubclass(manager, gitlab.base.RESTManager) or not path:
            continue
        mixins = {cls.__name__ for cls in manager.__mro__}
        item = path + "/{id}"
        if "ListMixin" in mixins:
            endpoints.append(_endpoint("GET", path, manager, None, manager._list_filters))
        if "GetWithoutIdMixin" in mixins:
            endpoints.append(_endpoint("GET", path, manager, None, manager._optional_get_attrs))
        if "GetMixin" in mixins:
            endpoints.append(_endpoint("GET", item, manager, None, manager._optional_get_attrs))
        if "CreateMixin" in mixins:
            endpoints.append(_endpoint("POST", path, manager, manager._create_attrs, ()))
        if "UpdateMixin" in mixins:
            method = {1: "PUT", 2: "POST", 3: "PATCH"}[int(manager._update_method.value)]
            endpoints.append(_endpoint(method, item, manager, manager._update_attrs, ()))
        if "DeleteMixin" in mixins:
            endpoints.append(_endpoint("DELETE", item, manager, None, ()))
    # ProjectCommitStatusManager.create posts to another path than its list (python-gitlab's own override)
    status = gitlab.v4.objects.ProjectCommitStatusManager
    endpoints.append(_endpoint("POST", "/projects/{project_id}/statuses/{commit_id}", status, status._create_attrs, ()))
    return endpoints


def _body_problems(endpoint: Endpoint, body: Any) -> list[str]:
    attrs = endpoint.attrs
    if attrs is None:
        return [f"{endpoint.manager}: {endpoint.method} takes no body"] if body else []
    if not isinstance(body, dict):
        return [f"{endpoint.manager}: the body is not a JSON object"]
    allowed = set(attrs.required) | set(attrs.optional) | set(attrs.exclusive)
    problems = [f"{endpoint.manager}: attribute {k!r} is not declared" for k in body if k not in allowed]
    problems += [f"{endpoint.manager}: required attribute {k!r} is missing" for k in attrs.required if k not in body]
    if attrs.exclusive and sum(k in body for k in attrs.exclusive) != 1:
        problems.append(f"{endpoint.manager}: exactly one of {attrs.exclusive} is required")
    position = body.get("position")
    if position is not None:
        problems += [f"position lacks {k}" for k in sorted(_POSITION_REQUIRED - set(position))]
        problems += [f"position field {k!r} is unknown" for k in sorted(set(position) - _POSITION_KEYS)]
    return problems


@dataclass
class MergeRequest:
    """A merge request as the stand-in keeps it."""

    iid: int
    sha: str
    source_branch: str
    target_branch: str
    author: str
    source_project_id: int = 42
    title: str = "A change"
    description: str = ""
    state: str = "opened"


@dataclass
class GitLabState:
    """The project `acme/shop` (id 42): merge requests, notes, statuses, users and members."""

    project_id: int = 42
    path: str = "acme/shop"
    merge_requests: dict[int, MergeRequest] = field(default_factory=dict)
    notes: dict[int, dict[str, Any]] = field(default_factory=dict)  # id → {mr, body, discussion, position}
    statuses: list[dict[str, Any]] = field(default_factory=list)
    commit_comments: list[dict[str, Any]] = field(default_factory=list)
    users: dict[str, int] = field(default_factory=dict)
    members: dict[int, int] = field(default_factory=dict)  # user id → access level
    next_id: int = 500

    def new_id(self) -> int:
        """A fresh object id."""
        self.next_id += 1
        return self.next_id


class GitLabStandIn:
    """The stand-in on 127.0.0.1; `url` is the GitLab base URL (the API is under /api/v4)."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.endpoints = gitlab_endpoints()
        self.state = GitLabState()
        self.seen: list[tuple[str, str, str]] = []  # (method, manager, raw path)
        self.violations: list[str] = []
        self._lock = threading.Lock()
        self.http = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"
        threading.Thread(target=self.http.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        """Stop the server."""
        self.http.shutdown()
        self.http.server_close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, answer = stand_in.handle(
                    self.command, parts.path, parse_qs(parts.query), raw, self.headers.get("PRIVATE-TOKEN") or ""
                )
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve  # noqa: N815 - dispatched by name

        return Handler

    def handle(self, method: str, path: str, query: dict[str, list[str]], raw: bytes, token: str) -> Answer:
        """Check a request against python-gitlab's endpoints and the token, then answer from the state."""
        if not path.startswith("/api/v4/"):
            return self._violation(f"{method} {path}: not under /api/v4", 404)
        route = path.removeprefix("/api/v4")
        matches = [(e, e.pattern.match(route)) for e in self.endpoints if e.method == method]
        found = [(e, m) for e, m in matches if m is not None]
        if not found:
            return self._violation(f"{method} {route}: python-gitlab declares no such endpoint", 404)
        endpoint, match = min(found, key=lambda pair: pair[0].template.count("{"))
        with self._lock:
            self.seen.append((method, endpoint.manager, route))
        if token != self.token:
            return 401, {"message": "401 Unauthorized"}
        body = json.loads(raw) if raw else None
        problems = _body_problems(endpoint, body)
        problems += [
            f"{endpoint.manager}: query {k!r} is not declared" for k in query if k not in endpoint.filters | _PAGING
        ]
        if problems:
            return self._violation("; ".join(problems), 400)
        names = re.findall(r"\{([^}]+)\}", endpoint.template)
        params = {n: unquote(v) for n, v in zip(names, match.groups(), strict=True)}
        with self._lock:
            return self._answer(method, endpoint.template, params, query, body or {})

    def _violation(self, text: str, status: int) -> Answer:
        with self._lock:
            self.violations.append(text)
        return status, {"message": text}

    # ------------------------------------------------------------ answers

    def _mr_json(self, mr: MergeRequest) -> dict[str, Any]:
        return {
            "id": 9000 + mr.iid,
            "iid": mr.iid,
            "project_id": 42,
            "title": mr.title,
            "description": mr.description,
            "state": mr.state,
            "source_branch": mr.source_branch,
            "target_branch": mr.target_branch,
            "source_project_id": mr.source_project_id,
            "target_project_id": 42,
            "sha": mr.sha,
            "draft": mr.title.lower().startswith("draft:"),
            "author": {"username": mr.author, "id": 1},
            "web_url": f"https://gitlab.test/acme/shop/-/merge_requests/{mr.iid}",
            "diff_refs": {"base_sha": "0" * 39 + "1", "start_sha": "0" * 39 + "2", "head_sha": mr.sha},
        }

    def _note_json(self, note_id: int) -> dict[str, Any]:
        note = self.state.notes[note_id]
        return {"id": note_id, "body": note["body"], "author": {"username": "agentd"}, "system": False}

    def _answer(
        self, method: str, template: str, params: dict[str, str], query: dict[str, list[str]], body: dict[str, Any]
    ) -> Answer:
        state = self.state
        mrs = state.merge_requests
        if template == "/projects/{id}" and params["id"] in (state.path, str(state.project_id)):
            return 200, {"id": state.project_id, "path_with_namespace": state.path}
        if template == "/users" and method == "GET":
            login = query.get("username", [""])[0]
            return 200, [{"id": state.users[login], "username": login}] if login in state.users else []
        if template == "/projects/{project_id}/members/all/{id}":
            level = state.members.get(int(params["id"]))
            return (
                (404, {"message": "404 Not found"})
                if level is None
                else (200, {"id": int(params["id"]), "access_level": level})
            )
        if template == "/projects/{project_id}/merge_requests/{id}" and method == "GET":
            mr = mrs.get(int(params["id"]))
            return (404, {"message": "404 Not found"}) if mr is None else (200, self._mr_json(mr))
        if template == "/projects/{project_id}/merge_requests" and method == "GET":
            chosen = [
                m
                for m in mrs.values()
                if all(getattr(m, k) == query[k][0] for k in ("state", "source_branch", "target_branch") if k in query)
            ]
            return 200, [self._mr_json(m) for m in chosen]
        if template == "/projects/{project_id}/merge_requests" and method == "POST":
            iid = max(mrs, default=0) + 1
            mrs[iid] = MergeRequest(
                iid,
                "f" * 40,
                body["source_branch"],
                body["target_branch"],
                "agentd",
                42,
                body["title"],
                body.get("description", ""),
            )
            return 201, self._mr_json(mrs[iid])
        if template == "/projects/{project_id}/merge_requests/{id}" and method == "PUT":
            mr = mrs[int(params["id"])]
            mr.title, mr.description = body.get("title", mr.title), body.get("description", mr.description)
            return 200, self._mr_json(mr)
        if template.endswith("/merge_requests/{mr_iid}/notes") and method == "GET":
            return 200, [self._note_json(i) for i, n in state.notes.items() if n["mr"] == int(params["mr_iid"])]
        if template.endswith("/merge_requests/{mr_iid}/notes") and method == "POST":
            note_id = state.new_id()
            state.notes[note_id] = {"mr": int(params["mr_iid"]), "body": body["body"], "discussion": None}
            return 201, self._note_json(note_id)
        if template.endswith("/merge_requests/{mr_iid}/notes/{id}") and method == "PUT":
            note_id = int(params["id"])
            if note_id not in state.notes:
                return 404, {"message": "404 Not found"}
            state.notes[note_id]["body"] = body["body"]
            return 200, self._note_json(note_id)
        if template.endswith("/merge_requests/{mr_iid}/discussions") and method == "POST":
            note_id, discussion = state.new_id(), f"d{state.new_id()}"
            state.notes[note_id] = {
                "mr": int(params["mr_iid"]),
                "body": body["body"],
                "discussion": discussion,
                "position": body.get("position"),
            }
            return 201, {"id": discussion, "notes": [self._note_json(note_id)]}
        if template.endswith("/discussions/{discussion_id}/notes") and method == "POST":
            note_id = state.new_id()
            state.notes[note_id] = {
                "mr": int(params["mr_iid"]),
                "body": body["body"],
                "discussion": params["discussion_id"],
            }
            return 201, self._note_json(note_id)
        if template == "/projects/{project_id}/statuses/{commit_id}":
            current = [
                s for s in state.statuses if s["sha"] == params["commit_id"] and s.get("name") == body.get("name")
            ]
            if current and current[-1]["state"] == body["state"]:
                return 400, {"message": f"Cannot transition status via :{body['state']} from :{body['state']}"}
            state.statuses.append({"sha": params["commit_id"], **body})
            return 201, {"id": state.new_id(), "sha": params["commit_id"], **body}
        if template.endswith("/repository/commits/{commit_id}/comments") and method == "POST":
            state.commit_comments.append({"sha": params["commit_id"], **body})
            return 201, {"note": body["note"], "author": {"username": "agentd"}}
        return self._violation(f"{method} {template}: allowed by python-gitlab, not served by the stand-in", 501)
