"""GitHub forge: one review comment per PR, against a local server standing in for the GitHub API."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from agentd.forge.github import MARKER, MAX_COMMENT, ForgeError, GitHubForge, comment_for

TOKEN = "ghp_test0123456789abcdefTOKEN"
REPO = "acme/shop"
API_HEADERS = {
    "authorization": f"Bearer {TOKEN}",
    "accept": "application/vnd.github+json",
    "x-github-api-version": "2022-11-28",
    "user-agent": "agentd",
}


@dataclass
class Seen:
    """One request the fake API received."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


class FakeGitHub:
    """A local HTTP server that records every request and serves canned answers by (method, path)."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.answers: dict[tuple[str, str], list[tuple[int, Any, dict[str, str]]]] = {}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                fake.seen.append(
                    Seen(
                        self.command,
                        parts.path,
                        parse_qs(parts.query),
                        {k.lower(): v for k, v in self.headers.items()},
                        json.loads(raw) if raw else None,
                    )
                )
                queue = fake.answers.get((self.command, parts.path + (f"?{parts.query}" if parts.query else "")))
                queue = queue or fake.answers.get((self.command, parts.path))
                status, body, headers = queue.pop(0) if queue else (599, {"message": "no canned answer"}, {})
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = _serve  # noqa: N815 - http.server dispatches by name

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"
        self.thread = threading.Thread(target=self.http.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def answer(self, method: str, path: str, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        """Queue one answer for a request (path may include the exact query string)."""
        self.answers.setdefault((method, path), []).append((status, body, headers or {}))

    def calls(self) -> list[tuple[str, str]]:
        """(method, path) of every request, in order."""
        return [(s.method, s.path) for s in self.seen]

    def close(self) -> None:
        """Stop the server."""
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    """The fake GitHub API."""
    fake = FakeGitHub()
    yield fake
    fake.close()


@pytest.fixture
def forge(github: FakeGitHub) -> GitHubForge:
    """A forge client aimed at the fake API."""
    return GitHubForge(github.url, REPO, TOKEN, timeout_s=5)


LIST = "/repos/acme/shop/issues/7/comments"
REPORT = comment_for(7, "abc1234def5678", "## Verdict\n\nLooks good.")


def test_comment_for_starts_with_the_marker_and_names_the_head() -> None:
    """The comment body opens with the marker line, then a heading with the head sha, then the report."""
    body = comment_for(7, "abc1234def5678abc", "Report text")
    lines = body.splitlines()
    assert lines[0] == MARKER
    assert lines[1].startswith("## ")
    assert "#7" in lines[1]
    assert "abc1234def56" in lines[1]
    assert body.rstrip().endswith("Report text")
    assert len(comment_for(7, "abc", "x" * 100_000)) <= MAX_COMMENT


def test_first_review_posts_one_comment(github: FakeGitHub, forge: GitHubForge) -> None:
    """With no stored id and no marked comment, the forge lists the comments once and POSTs exactly one."""
    github.answer("GET", LIST, 200, [{"id": 1, "body": "LGTM from a human"}])
    github.answer("POST", LIST, 201, {"id": 555, "body": REPORT})
    assert forge.upsert_review_comment(7, REPORT, None) == "555"
    assert github.calls() == [("GET", LIST), ("POST", LIST)]
    listing, post = github.seen
    assert listing.query == {"per_page": ["100"]}
    assert post.body == {"body": REPORT}
    assert post.body["body"].startswith(MARKER)
    for request in github.seen:
        assert {k: request.headers.get(k) for k in API_HEADERS} == API_HEADERS
    assert post.headers["content-type"] == "application/json"


def test_body_without_marker_gets_it_prepended(github: FakeGitHub, forge: GitHubForge) -> None:
    """A body that does not start with the marker is posted with the marker as its first line."""
    github.answer("GET", LIST, 200, [])
    github.answer("POST", LIST, 201, {"id": 9})
    forge.upsert_review_comment(7, "plain report", None)
    assert github.seen[-1].body == {"body": f"{MARKER}\nplain report"}


def test_next_head_with_stored_id_patches_that_comment(github: FakeGitHub, forge: GitHubForge) -> None:
    """With a stored id the forge sends exactly one PATCH to that comment and never POSTs."""
    github.answer("PATCH", "/repos/acme/shop/issues/comments/555", 200, {"id": 555})
    assert forge.upsert_review_comment(7, REPORT, "555") == "555"
    assert github.calls() == [("PATCH", "/repos/acme/shop/issues/comments/555")]
    assert github.seen[0].body == {"body": REPORT}
    assert {k: github.seen[0].headers.get(k) for k in API_HEADERS} == API_HEADERS


def test_deleted_stored_comment_falls_back_to_the_marked_one(github: FakeGitHub, forge: GitHubForge) -> None:
    """A 404 on the stored id makes the forge find the marked comment in the list and PATCH it instead."""
    github.answer("PATCH", "/repos/acme/shop/issues/comments/555", 404, {"message": "Not Found"})
    github.answer("GET", LIST, 200, [{"id": 1, "body": "human"}, {"id": 777, "body": f"{MARKER}\nold report"}])
    github.answer("PATCH", "/repos/acme/shop/issues/comments/777", 200, {"id": 777})
    assert forge.upsert_review_comment(7, REPORT, "555") == "777"
    assert github.calls() == [
        ("PATCH", "/repos/acme/shop/issues/comments/555"),
        ("GET", LIST),
        ("PATCH", "/repos/acme/shop/issues/comments/777"),
    ]
    assert github.seen[2].body == {"body": REPORT}


def test_deleted_stored_comment_and_no_marked_one_posts_anew(github: FakeGitHub, forge: GitHubForge) -> None:
    """A 404 on the stored id with no marked comment left makes the forge POST a new comment."""
    github.answer("PATCH", "/repos/acme/shop/issues/comments/555", 404, {"message": "Not Found"})
    github.answer("GET", LIST, 200, [])
    github.answer("POST", LIST, 201, {"id": 556})
    assert forge.upsert_review_comment(7, REPORT, "555") == "556"
    assert github.calls() == [("PATCH", "/repos/acme/shop/issues/comments/555"), ("GET", LIST), ("POST", LIST)]


def test_marked_comment_on_page_two_is_found_via_link(github: FakeGitHub, forge: GitHubForge) -> None:
    """Without a stored id the forge follows Link rel="next" to page 2, finds the marked comment and PATCHes it."""
    page2 = f"{github.url}{LIST}?per_page=100&page=2"
    link = f'<{page2}>; rel="next", <{page2}>; rel="last"'
    github.answer("GET", f"{LIST}?per_page=100", 200, [{"id": n, "body": f"c{n}"} for n in range(100)], {"Link": link})
    github.answer("GET", f"{LIST}?per_page=100&page=2", 200, [{"id": 901, "body": f"{MARKER}\nold"}])
    github.answer("PATCH", "/repos/acme/shop/issues/comments/901", 200, {"id": 901})
    assert forge.upsert_review_comment(7, REPORT, None) == "901"
    assert github.calls() == [("GET", LIST), ("GET", LIST), ("PATCH", "/repos/acme/shop/issues/comments/901")]
    assert github.seen[1].query == {"per_page": ["100"], "page": ["2"]}
    assert all(s.headers.get("authorization") == f"Bearer {TOKEN}" for s in github.seen)


def test_next_page_on_another_host_is_refused(github: FakeGitHub, forge: GitHubForge) -> None:
    """A Link rel="next" pointing outside the API's origin raises ForgeError instead of sending the token there."""
    github.answer("GET", LIST, 200, [], {"Link": '<http://evil.example/steal?page=2>; rel="next"'})
    with pytest.raises(ForgeError) as caught:
        forge.upsert_review_comment(7, REPORT, None)
    assert github.calls() == [("GET", LIST)]
    assert TOKEN not in str(caught.value)


def test_api_error_raises_forge_error_without_the_token(github: FakeGitHub, forge: GitHubForge) -> None:
    """A 403 from the API raises ForgeError carrying the status, and its text never holds the token."""
    github.answer("PATCH", "/repos/acme/shop/issues/comments/555", 403, {"message": f"Bad credentials {TOKEN}"})
    with pytest.raises(ForgeError) as caught:
        forge.upsert_review_comment(7, REPORT, "555")
    assert caught.value.status == 403
    assert "403" in str(caught.value)
    assert TOKEN not in str(caught.value)
    assert TOKEN not in repr(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None or TOKEN not in str(caught.value.__context__)
    assert github.calls() == [("PATCH", "/repos/acme/shop/issues/comments/555")]


def test_unreachable_api_raises_forge_error_without_the_token(github: FakeGitHub) -> None:
    """A connection failure raises ForgeError with no status and no token in its text."""
    github.close()
    forge = GitHubForge(github.url, REPO, TOKEN, timeout_s=2)
    with pytest.raises(ForgeError) as caught:
        forge.upsert_review_comment(7, REPORT, "555")
    assert caught.value.status is None
    assert TOKEN not in str(caught.value)
    assert TOKEN not in repr(forge)
