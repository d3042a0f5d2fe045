"""A local stand-in for the GitHub REST API: real HTTP, state kept like GitHub's, every request checked.

Each request must be allowed by GitHub's official description (tests/support/openapi.py) and carry a
valid credential: a token the test issued, an installation token this server minted, or an App JWT
signed with the App's key. A request that breaks either is recorded in `violations` and refused with
422/401; tests assert `violations == []`. Answers start from the description's own examples, carry the
state's fields, and are checked against the described response schema too.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from tests.support.openapi import OpenAPIDescription, Operation, github_description
from tests.support.stand_in_http import Answer, JsonServer

NOW = "2026-01-01T00:00:00Z"


@dataclass
class Seen:
    """One request the stand-in received."""

    method: str
    path: str
    operation_id: str
    query: dict[str, list[str]]
    body: Any
    authorization: str
    at: float  # wall-clock seconds on receipt, as the store keeps span starts


@dataclass
class Pull:
    """A pull request as the stand-in keeps it."""

    number: int
    head_sha: str
    head_ref: str
    base_ref: str
    author: str
    head_repo: str | None
    title: str = "A change"
    body: str = ""
    draft: bool = False
    state: str = "open"


@dataclass
class GitHubState:
    """What the stand-in remembers, per repository `owner/name`."""

    repo: str = "acme/shop"
    pulls: dict[int, Pull] = field(default_factory=dict)
    issue_comments: dict[int, dict[str, Any]] = field(default_factory=dict)  # id → {pr, body, user}
    review_comments: dict[int, dict[str, Any]] = field(default_factory=dict)
    reviews: dict[int, dict[str, Any]] = field(default_factory=dict)
    check_runs: dict[int, dict[str, Any]] = field(default_factory=dict)
    annotations: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    commit_comments: list[dict[str, Any]] = field(default_factory=list)
    permissions: dict[str, str] = field(default_factory=dict)  # login → admin|maintain|write|triage|read
    next_id: int = 1000

    def new_id(self) -> int:
        """A fresh object id."""
        self.next_id += 1
        return self.next_id


class GitHubStandIn:
    """The stand-in server on 127.0.0.1; `url` is its API base."""

    def __init__(
        self,
        tokens: set[str] | None = None,
        app: tuple[int, str] | None = None,
        installation_token_ttl: timedelta = timedelta(hours=1),
        description: OpenAPIDescription | None = None,
    ) -> None:
        self.description = description or github_description()
        self.state = GitHubState()
        self.tokens = set(tokens or ())
        self.app = app  # (app id, PEM public key)
        self.installation_id = 4242
        self.installation_token_ttl = installation_token_ttl
        self.issued: dict[str, datetime] = {}
        self.seen: list[Seen] = []
        self.violations: list[str] = []
        self.fail_next: dict[str, tuple[int, Any]] = {}  # operation id → an answer to give once
        self._lock = threading.Lock()
        self._handlers: dict[str, Callable[[dict[str, str], dict[str, list[str]], Any], Answer]] = {
            "pulls/get": self._get_pull,
            "pulls/list": self._list_pulls,
            "pulls/create": self._create_pull,
            "pulls/update": self._update_pull,
            "pulls/create-review": self._create_review,
            "pulls/list-review-comments": self._list_review_comments,
            "issues/list-comments": self._list_comments,
            "issues/create-comment": self._create_comment,
            "issues/update-comment": self._update_comment,
            "checks/list-for-ref": self._list_check_runs,
            "checks/create": self._create_check_run,
            "checks/update": self._update_check_run,
            "repos/create-commit-status": self._create_status,
            "repos/create-commit-comment": self._create_commit_comment,
            "repos/get-collaborator-permission-level": self._permission,
            "apps/get-repo-installation": self._installation,
            "apps/create-installation-access-token": self._access_token,
        }
        self._server = JsonServer(self._serve)
        self.url = self._server.url

    def close(self) -> None:
        """Stop the server."""
        self._server.close()

    def calls(self) -> list[str]:
        """The operation id of every request, in order."""
        return [s.operation_id for s in self.seen]

    def _serve(
        self, method: str, path: str, query: dict[str, list[str]], raw: bytes, headers: Mapping[str, str]
    ) -> Answer:
        return self.handle(method, path, query, raw, headers.get("Authorization") or "")

    def handle(self, method: str, path: str, query: dict[str, list[str]], raw: bytes, authorization: str) -> Answer:
        """Check one request against the description and the credentials, then answer from the state."""
        received = time.time()
        try:
            body = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            return self._violation(f"{method} {path}: the body is not JSON", 400)
        operation, params, problems = self.description.check_request(method, path, query, body, bool(raw))
        with self._lock:
            self.seen.append(
                Seen(method, path, operation.operation_id if operation else "?", query, body, authorization, received)
            )
        if problems or operation is None:
            return self._violation("; ".join(problems), 422)
        denied = self._authenticate(operation, authorization)
        if denied:
            return self._violation(f"{operation.operation_id}: {denied}", 401)
        handler = self._handlers.get(operation.operation_id)
        if handler is None:
            return self._violation(f"{operation.operation_id}: valid, but the stand-in does not serve it", 501)
        with self._lock:
            if operation.operation_id in self.fail_next:
                return self.fail_next.pop(operation.operation_id)
            status, answer = handler(params, query, body)
        self._check_answer(operation, status, answer)
        return status, answer

    def _violation(self, text: str, status: int) -> Answer:
        with self._lock:
            self.violations.append(text)
        return status, {"message": text, "documentation_url": "https://docs.github.com/rest"}

    def _check_answer(self, operation: Operation, status: int, answer: Any) -> None:
        if status < 300:
            for problem in self.description.check_response(operation, status, answer)[:3]:
                with self._lock:
                    self.violations.append(f"stand-in answer to {operation.operation_id}: {problem}")

    def _authenticate(self, operation: Operation, authorization: str) -> str:
        scheme, _, credential = authorization.partition(" ")
        if operation.operation_id in {"apps/get-repo-installation", "apps/create-installation-access-token"}:
            return self._check_jwt(scheme, credential)
        if scheme.lower() not in {"token", "bearer"}:
            return "no token"
        if credential in self.tokens:
            return ""
        expires = self.issued.get(credential)
        if expires is None:
            return "unknown token"
        return "" if expires > datetime.now(UTC) else "expired installation token"

    def _check_jwt(self, scheme: str, credential: str) -> str:
        if self.app is None or scheme.lower() != "bearer":
            return "an App JWT is required"
        app_id, public_key = self.app
        try:
            claims = jwt.decode(
                credential, public_key, algorithms=["RS256"], options={"require": ["iat", "exp", "iss"]}
            )
        except jwt.PyJWTError as exc:
            return f"bad App JWT: {exc}"
        return "" if str(claims["iss"]) == str(app_id) else "the JWT's issuer is not the App"

    # ------------------------------------------------------------ shapes

    def _user(self, login: str) -> dict[str, Any]:
        user = self.description.example("simple-user")
        user["login"] = login
        return user

    def _pull_json(self, pull: Pull, example: str = "pull-request") -> dict[str, Any]:
        data = self.description.example(example)
        if isinstance(data, list):
            data = data[0]
        data.update(number=pull.number, title=pull.title, body=pull.body, draft=pull.draft, state=pull.state)
        data["html_url"] = f"https://github.test/{self.state.repo}/pull/{pull.number}"
        data["user"] = self._user(pull.author)
        data["requested_teams"] = []  # GitHub's example lists a team without the `type` its schema requires
        data["head"].update(ref=pull.head_ref, sha=pull.head_sha, label=f"x:{pull.head_ref}")
        data["base"].update(ref=pull.base_ref, label=f"x:{pull.base_ref}")
        data["base"]["repo"]["full_name"] = self.state.repo
        if pull.head_repo is None:
            data["head"]["repo"] = None
        else:
            data["head"]["repo"]["full_name"] = pull.head_repo
        return data

    def _comment_json(self, comment_id: int) -> dict[str, Any]:
        stored = self.state.issue_comments[comment_id]
        data = self.description.example("issue-comment")
        data.update(id=comment_id, body=stored["body"], user=self._user(stored["user"]))
        return data

    def _review_comment_json(self, comment_id: int) -> dict[str, Any]:
        stored = self.state.review_comments[comment_id]
        data = self.description.example("pull-request-review-comment")
        data.update(id=comment_id, body=stored["body"], user=self._user(stored["user"]), path=stored["path"])
        data.update(line=stored["line"], commit_id=stored["commit_id"], side=stored.get("side", "RIGHT"))
        return data

    # ------------------------------------------------------------ operations

    def _get_pull(self, params: dict[str, str], query: dict[str, list[str]], body: Any) -> Answer:
        pull = self.state.pulls.get(int(params["pull_number"]))
        return (404, {"message": "Not Found"}) if pull is None else (200, self._pull_json(pull))

    def _list_pulls(self, params: dict[str, str], query: dict[str, list[str]], body: Any) -> Answer:
        head = query.get("head", [""])[0].partition(":")[2]
        base = query.get("base", [""])[0]
        chosen = [
            p
            for p in self.state.pulls.values()
            if p.state == query.get("state", ["open"])[0]
            and (not head or p.head_ref == head)
            and (not base or p.base_ref == base)
        ]
        return 200, [self._pull_json(p, "pull-request-simple-items") for p in _page(chosen, query)]

    def _create_pull(self, params: dict[str, str], query: dict[str, list[str]], body: Any) -> Answer:
        number = max(self.state.pulls, default=0) + 1
        pull = Pull(
            number,
            "f" * 40,
            body["head"],
            body["base"],
            "agentd[bot]",
            self.state.repo,
            body.get("title", ""),
            body.get("body", ""),
            bool(body.get("draft")),
        )
        self.state.pulls[number] = pull
        return 201, self._pull_json(pull)

    def _update_pull(self, params: dict[str, str], query: dict[str, list[str]], body: Any) -> Answer:
        pull = self.state.pulls[int(params["pull_number"])]
        pull.title, pull.body = body.get("title", pull.title), body.get("body", pull.body)
        return 200, self._pull_json(pull)

    def _create_review(self, params: dict[str, str], query: dict[str, list[str]], body: Any) -> Answer:
        review_id = self.state.new_id()
        self.state.reviews[review_id] = {"pr": int(params["pull_number"]), **body}
        for comment in body.get("comments", []):
            self.state.review_comments[self.state.new_id()] = {
                "pr": int(params["pull_number"]),
                "user": "agentd[bot]",
                "commit_id": body.get("commit_id", ""),
                **comment,
            }
        data = self.description.example("pull-request-review-4")
        data.update(id=review_id, body=body.get("body", ""), state="COMMENTED", commit_id=body.get("commit_id", ""))
        return 200, data

    def _list_review_comments(self, params: dict[str, str], query: dict[str, list[str]], body: Any) -> Answer:
        ids = [i for i, c in self.state.review_comments.items() if c["pr"] == int(params["pull_number"])]
        return 200, [self._review_comment_json(i) for i in _page(ids, query)]

    def _list_comments(self, params: dict[str, str], query: dict[str, list[str]], body: Any) -> Answer:
        ids = [i for i, c in self.state.issue_comments.items() if c["pr"] == int(params["issue_number"])]
        return 200, [self._comment_json(i) for i in _page(ids, query)]

    def _create_comment(self, params: dict[str, str], query: dict[str, list[str]], body: Any) -> Answer:
        comment_id = self.state.new_id()
        self.state.issue_comments[comment_id] = {
            "pr": int(params["issue_number"]),
            "body": body["body"],
            "user": "agentd[bot]",
        }
        return 201, self._comment_json(comment_id)

    def _update_comment(self, params: dict[str, str], query: dict[str, list[str]], body: Any) -> Answer:
        comment = self.state.issue_comments.get(int(params["comment_id"]))
        if comment is None:
            return 404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}
        comment["body"] = body["body"]
        return 200, self._comment_json(int(params["comment_id"]))

    def _check_run_json(self, run_id: int) -> dict[str, Any]:
        run = self.state.check_runs[run_id]
        data = self.description.example("check-run")
        data.update(
            id=run_id,
            name=run["name"],
            head_sha=run["head_sha"],
            status=run["status"],
            conclusion=run.get("conclusion"),
            details_url=run.get("details_url"),
        )
        data["output"].update(
            title=run.get("title"),
            summary=run.get("summary"),
            text=run.get("text"),
            annotations_count=len(self.state.annotations.get(run_id, [])),
        )
        return data

    def _list_check_runs(self, params: dict[str, str], query: dict[str, list[str]], body: Any) -> Answer:
        name = query.get("check_name", [None])[0]
        ids = [
            i for i, r in self.state.check_runs.items() if r["head_sha"] == params["ref"] and name in (None, r["name"])
        ]
        return 200, {"total_count": len(ids), "check_runs": [self._check_run_json(i) for i in ids]}

    def _create_check_run(self, params: dict[str, str], query: dict[str, list[str]], body: Any) -> Answer:
        run_id = self.state.new_id()
        self.state.check_runs[run_id] = {
            "name": body["name"],
            "head_sha": body["head_sha"],
            "status": body.get("status", "queued"),
        }
        self.state.annotations[run_id] = []
        return 201, self._check_run_json(run_id)

    def _update_check_run(self, params: dict[str, str], query: dict[str, list[str]], body: Any) -> Answer:
        run_id = int(params["check_run_id"])
        run = self.state.check_runs.get(run_id)
        if run is None:
            return 404, {"message": "Not Found"}
        output = body.get("output") or {}
        if len(output.get("annotations", [])) > 50:
            return 422, {"message": "Only 50 annotations are allowed per request"}
        run.update({k: v for k, v in body.items() if k in {"status", "conclusion", "details_url"}})
        run.update({k: v for k, v in output.items() if k in {"title", "summary", "text"}})
        self.state.annotations[run_id] += output.get("annotations", [])
        return 200, self._check_run_json(run_id)

    def _create_status(self, params: dict[str, str], query: dict[str, list[str]], body: Any) -> Answer:
        self.state.statuses.append({"sha": params["sha"], **body})
        data = self.description.example("status")
        data.update(state=body["state"], context=body.get("context", "default"), description=body.get("description"))
        return 201, data

    def _create_commit_comment(self, params: dict[str, str], query: dict[str, list[str]], body: Any) -> Answer:
        self.state.commit_comments.append({"sha": params["commit_sha"], **body})
        data = self.description.example("commit-comment")
        data.update(body=body["body"], commit_id=params["commit_sha"])
        return 201, data

    def _permission(self, params: dict[str, str], query: dict[str, list[str]], body: Any) -> Answer:
        level = self.state.permissions.get(params["username"])
        if level is None:
            return 404, {"message": "Not Found"}
        legacy = {"maintain": "write", "triage": "read"}.get(level, level)
        user = self.description.example("collaborator-items")[0]
        user["login"] = params["username"]
        return 200, {"permission": legacy, "role_name": level, "user": user}

    def _installation(self, params: dict[str, str], query: dict[str, list[str]], body: Any) -> Answer:
        data = self.description.example("installation")
        data["id"] = self.installation_id
        return 200, data

    def _access_token(self, params: dict[str, str], query: dict[str, list[str]], body: Any) -> Answer:
        if int(params["installation_id"]) != self.installation_id:
            return 404, {"message": "Not Found"}
        token = f"ghs_installation{len(self.issued):04d}"
        expires = datetime.now(UTC) + self.installation_token_ttl
        self.issued[token] = expires
        data = self.description.example("installation-token")
        data.update(token=token, expires_at=expires.strftime("%Y-%m-%dT%H:%M:%SZ"))
        return 201, data


def _page(items: list[Any], query: dict[str, list[str]]) -> list[Any]:
    """The page `page` of `per_page` items (GitHub's defaults: 1 and 30)."""
    per_page = int(query.get("per_page", ["30"])[0])
    page = int(query.get("page", ["1"])[0])
    return items[(page - 1) * per_page : page * per_page]
