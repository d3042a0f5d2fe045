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
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import gitlab.base
import gitlab.v4.objects
from gitlab.types import RequiredOptional

from tests.support.stand_in_http import Answer, JsonServer, template_pattern

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
    return Endpoint(method, template, manager.__name__, attrs, frozenset(filters or ()), template_pattern(template))


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
        self._server = JsonServer(self._serve)
        self.url = self._server.url

    def close(self) -> None:
        """Stop the server."""
        self._server.close()

    def _serve(
        self, method: str, path: str, query: dict[str, list[str]], raw: bytes, headers: Mapping[str, str]
    ) -> Answer:
        return self.handle(method, path, query, raw, headers.get("PRIVATE-TOKEN") or "")

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
        mr = "/projects/{project_id}/merge_requests"
        handlers: dict[tuple[str, str], Any] = {
            ("GET", "/projects/{id}"): self._project,
            ("GET", "/users"): self._users,
            ("GET", "/projects/{project_id}/members/all/{id}"): self._member,
            ("GET", mr + "/{id}"): self._get_mr,
            ("GET", mr): self._list_mrs,
            ("POST", mr): self._create_mr,
            ("PUT", mr + "/{id}"): self._update_mr,
            ("GET", mr + "/{mr_iid}/notes"): self._list_notes,
            ("POST", mr + "/{mr_iid}/notes"): self._create_note,
            ("PUT", mr + "/{mr_iid}/notes/{id}"): self._update_note,
            ("POST", mr + "/{mr_iid}/discussions"): self._create_discussion,
            ("POST", mr + "/{mr_iid}/discussions/{discussion_id}/notes"): self._create_note,
            ("POST", "/projects/{project_id}/statuses/{commit_id}"): self._create_status,
            ("POST", "/projects/{project_id}/repository/commits/{commit_id}/comments"): self._commit_comment,
        }
        handler = handlers.get((method, template))
        if handler is None:
            return self._violation(f"{method} {template}: allowed by python-gitlab, not served by the stand-in", 501)
        answer: Answer = handler(params, query, body)
        return answer

    def _project(self, params: dict[str, str], query: dict[str, list[str]], body: dict[str, Any]) -> Answer:
        if params["id"] not in (self.state.path, str(self.state.project_id)):
            return 404, {"message": "404 Project Not Found"}
        return 200, {"id": self.state.project_id, "path_with_namespace": self.state.path}

    def _users(self, params: dict[str, str], query: dict[str, list[str]], body: dict[str, Any]) -> Answer:
        login = query.get("username", [""])[0]
        return 200, [{"id": self.state.users[login], "username": login}] if login in self.state.users else []

    def _member(self, params: dict[str, str], query: dict[str, list[str]], body: dict[str, Any]) -> Answer:
        level = self.state.members.get(int(params["id"]))
        if level is None:
            return 404, {"message": "404 Not found"}
        return 200, {"id": int(params["id"]), "access_level": level}

    def _get_mr(self, params: dict[str, str], query: dict[str, list[str]], body: dict[str, Any]) -> Answer:
        mr = self.state.merge_requests.get(int(params["id"]))
        return (404, {"message": "404 Not found"}) if mr is None else (200, self._mr_json(mr))

    def _list_mrs(self, params: dict[str, str], query: dict[str, list[str]], body: dict[str, Any]) -> Answer:
        keys = [k for k in ("state", "source_branch", "target_branch") if k in query]
        chosen = [m for m in self.state.merge_requests.values() if all(getattr(m, k) == query[k][0] for k in keys)]
        return 200, [self._mr_json(m) for m in chosen]

    def _create_mr(self, params: dict[str, str], query: dict[str, list[str]], body: dict[str, Any]) -> Answer:
        iid = max(self.state.merge_requests, default=0) + 1
        self.state.merge_requests[iid] = MergeRequest(
            iid,
            "f" * 40,
            body["source_branch"],
            body["target_branch"],
            "agentd",
            42,
            body["title"],
            body.get("description", ""),
        )
        return 201, self._mr_json(self.state.merge_requests[iid])

    def _update_mr(self, params: dict[str, str], query: dict[str, list[str]], body: dict[str, Any]) -> Answer:
        mr = self.state.merge_requests[int(params["id"])]
        mr.title, mr.description = body.get("title", mr.title), body.get("description", mr.description)
        return 200, self._mr_json(mr)

    def _list_notes(self, params: dict[str, str], query: dict[str, list[str]], body: dict[str, Any]) -> Answer:
        mr = int(params["mr_iid"])
        return 200, [self._note_json(i) for i, n in self.state.notes.items() if n["mr"] == mr]

    def _create_note(self, params: dict[str, str], query: dict[str, list[str]], body: dict[str, Any]) -> Answer:
        note_id = self.state.new_id()
        discussion = params.get("discussion_id")
        self.state.notes[note_id] = {"mr": int(params["mr_iid"]), "body": body["body"], "discussion": discussion}
        return 201, self._note_json(note_id)

    def _update_note(self, params: dict[str, str], query: dict[str, list[str]], body: dict[str, Any]) -> Answer:
        note_id = int(params["id"])
        if note_id not in self.state.notes:
            return 404, {"message": "404 Not found"}
        self.state.notes[note_id]["body"] = body["body"]
        return 200, self._note_json(note_id)

    def _create_discussion(self, params: dict[str, str], query: dict[str, list[str]], body: dict[str, Any]) -> Answer:
        note_id, discussion = self.state.new_id(), f"d{self.state.new_id()}"
        self.state.notes[note_id] = {
            "mr": int(params["mr_iid"]),
            "body": body["body"],
            "discussion": discussion,
            "position": body.get("position"),
        }
        return 201, {"id": discussion, "notes": [self._note_json(note_id)]}

    def _create_status(self, params: dict[str, str], query: dict[str, list[str]], body: dict[str, Any]) -> Answer:
        sha = params["commit_id"]
        current = [s for s in self.state.statuses if s["sha"] == sha and s.get("name") == body.get("name")]
        if current and current[-1]["state"] == body["state"]:  # GitLab refuses a transition to the same state
            return 400, {"message": f"Cannot transition status via :{body['state']} from :{body['state']}"}
        self.state.statuses.append({"sha": sha, **body})
        return 201, {"id": self.state.new_id(), "sha": sha, **body}

    def _commit_comment(self, params: dict[str, str], query: dict[str, list[str]], body: dict[str, Any]) -> Answer:
        self.state.commit_comments.append({"sha": params["commit_id"], **body})
        return 201, {"note": body["note"], "author": {"username": "agentd"}}
