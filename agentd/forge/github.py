"""GitHub forge: agentd keeps exactly one review comment per pull request, edited as the PR moves.

The comment is found again by the id the store remembers, else by the marker its body starts with,
so a lost id or a deleted comment never makes a second one. The token goes in a header only: no
error message, log line or redirect to another host ever carries it.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote, urlsplit

import structlog

from agentd.kernel.errors import AgentdError, ConfigError

log = structlog.get_logger("agentd.forge.github")

MARKER = "<!-- agentd-review -->"
MAX_COMMENT = 65_536  # GitHub refuses longer comment bodies
_MAX_PAGES = 50
_TRUNCATED = "\n\n… (report truncated; the full report is in agentd's state directory)\n"
_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


class ForgeError(AgentdError):
    """The forge's API refused or failed a request; `status` is its HTTP status (None: no answer)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def comment_for(pr: int, head_sha: str, report_markdown: str) -> str:
    """The body of agentd's review comment: the marker, a heading naming the head, the report."""
    head = f"{MARKER}\n## agentd review of #{pr} at `{head_sha[:12]}`\n\n"
    report = report_markdown.strip() + "\n"
    if len(head) + len(report) > MAX_COMMENT:
        report = report[: MAX_COMMENT - len(head) - len(_TRUNCATED)] + _TRUNCATED
    return head + report


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc.lower()


class _SameOriginRedirects(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only within the API's origin, so the token never travels elsewhere."""

    def __init__(self, origin: tuple[str, str]) -> None:
        self.origin = origin

    def redirect_request(
        self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> urllib.request.Request | None:
        if _origin(newurl) != self.origin:
            return None  # the 3xx surfaces as an HTTPError
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class GitHubForge:
    """Posts and edits agentd's review comment through the GitHub REST API."""

    def __init__(self, api_url: str, repository: str, token: str, timeout_s: float = 10) -> None:
        owner, sep, name = repository.partition("/")
        if not sep or not owner or not name or "/" in name:
            raise ConfigError(f"forge.repository = {repository!r}: expected owner/name")
        if not token:
            raise ConfigError("the forge token is empty; set the variable forge.token_env names")
        self.api_url = api_url.rstrip("/")
        self.repository = repository
        self._token = token
        self.timeout_s = timeout_s
        self._repo_path = f"/repos/{quote(owner, safe='')}/{quote(name, safe='')}"
        self._origin = _origin(self.api_url)
        self._opener = urllib.request.build_opener(_SameOriginRedirects(self._origin))

    def __repr__(self) -> str:
        return f"GitHubForge(api_url={self.api_url!r}, repository={self.repository!r})"  # never the token

    def upsert_review_comment(self, pr: int, body: str, comment_id: str | None) -> str:
        """Edit agentd's comment on the PR (by id, else by marker) or create it; returns its id."""
        if not body.startswith(MARKER):
            body = f"{MARKER}\n{body}"
        if comment_id is not None:
            found = self._edit(comment_id, body)
            if found is not None:
                return found
            log.info("review comment gone; looking for it by marker", pr=pr, comment=comment_id)
        marked = self._find_marked(pr)
        if marked is not None:
            found = self._edit(marked, body)
            if found is not None:
                return found
        status, data, _ = self._request("POST", f"{self._repo_path}/issues/{pr}/comments", {"body": body})
        created = self._comment_id(data, "POST", status)
        log.info("review comment posted", pr=pr, comment=created)
        return created

    def _edit(self, comment_id: str, body: str) -> str | None:
        """PATCH one comment; None when it no longer exists."""
        path = f"{self._repo_path}/issues/comments/{quote(comment_id, safe='')}"
        status, data, _ = self._request("PATCH", path, {"body": body}, missing_ok=True)
        if status == 404:
            return None
        return self._comment_id(data, "PATCH", status)

    def _find_marked(self, pr: int) -> str | None:
        """The id of the first comment on the PR whose body starts with the marker, following pages."""
        url: str | None = f"{self.api_url}{self._repo_path}/issues/{pr}/comments?per_page=100"
        pages = 0
        while url is not None:
            pages += 1
            if pages > _MAX_PAGES:
                raise ForgeError(f"GET comments of PR #{pr}: more than {_MAX_PAGES} pages")
            _, data, link = self._request("GET", url)
            if not isinstance(data, list):
                raise ForgeError(f"GET comments of PR #{pr}: the answer is not a list")
            for comment in data:
                if isinstance(comment, dict) and str(comment.get("body") or "").lstrip().startswith(MARKER):
                    return self._comment_id(comment, "GET", 200)
            url = self._next_page(link)
        return None

    def _next_page(self, link: str | None) -> str | None:
        match = _NEXT.search(link or "")
        if match is None:
            return None
        url = match.group(1)
        if _origin(url) != self._origin:
            raise ForgeError(f"the comment list's next page points outside {self.api_url}")
        return url

    @staticmethod
    def _comment_id(data: Any, method: str, status: int) -> str:
        if not isinstance(data, dict) or not isinstance(data.get("id"), int | str):
            raise ForgeError(f"{method} comment answered {status} without a comment id", status)
        return str(data["id"])

    def _request(
        self, method: str, target: str, payload: dict[str, Any] | None = None, missing_ok: bool = False
    ) -> tuple[int, Any, str | None]:
        """One API call: (status, decoded JSON, Link header); errors become ForgeError, token-free."""
        url = target if target.startswith(("http://", "https://")) else f"{self.api_url}{target}"
        shown = f"{method} {urlsplit(url).path}"
        request = urllib.request.Request(  # noqa: S310 - the scheme is the configured API's
            url,
            data=None if payload is None else json.dumps(payload).encode(),
            method=method,
            headers={
                "Authorization": f"Bearer {self._token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
                "User-Agent": "agentd",
                **({} if payload is None else {"Content-Type": "application/json"}),
            },
        )
        try:
            with self._opener.open(request, timeout=self.timeout_s) as response:
                status, raw, link = response.status, response.read(), response.headers.get("Link")
        except urllib.error.HTTPError as exc:
            if missing_ok and exc.code == 404:
                return 404, None, None
            detail = self._error_detail(exc)
            raise ForgeError(f"{shown} answered {exc.code}: {detail}", exc.code) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ForgeError(f"{shown} failed: {self._clean(str(reason))}") from None
        try:
            return status, json.loads(raw) if raw else None, link
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise ForgeError(f"{shown} answered {status} with a body that is not JSON", status) from None

    def _error_detail(self, exc: urllib.error.HTTPError) -> str:
        try:
            data = json.loads(exc.read() or b"{}")
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            data = {}
        message = data.get("message") if isinstance(data, dict) else None
        return self._clean(str(message or exc.reason or "no message"))[:300]

    def _clean(self, text: str) -> str:
        return text.replace(self._token, "[REDACTED]")
