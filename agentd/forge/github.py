"""GitHub (and Gitea, Forgejo) through githubkit: check runs, inline reviews, the summary comment, fix PRs.

Requests are githubkit's typed REST operations (bodies checked against GitHub's description before they
leave); answers are read through the operations' typed JSON, touching only the fields agentd needs, so
Gitea's and Forgejo's look-alike answers read the same. Where those forges differ (no check runs, no
draft flag, another review shape) the `flavor` says so; README's forge section lists each difference.
The token goes in a header only: no error message or log line carries it, and pages are fetched by
number from the configured API, never by following a URL the answer names. (Past 400 lines: one class
per forge API, each method a call or two; the Forge seam is its table of contents.)
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Literal

import structlog
from githubkit import AppAuthStrategy, AppInstallationAuthStrategy, GitHub, TokenAuthStrategy
from githubkit.cache import MemCacheStrategy
from githubkit.exception import GitHubException, RequestFailed, RequestTimeout
from githubkit.response import Response
from githubkit.utils import UNSET
from githubkit_schemas.latest.types import (
    ReposOwnerRepoCheckRunsCheckRunIdPatchBodyPropOutputPropAnnotationsItemsType as AnnotationBody,
)
from githubkit_schemas.latest.types import (
    ReposOwnerRepoCheckRunsCheckRunIdPatchBodyPropOutputType as CheckOutputBody,
)
from githubkit_schemas.latest.types import (
    ReposOwnerRepoPullsPullNumberReviewsPostBodyPropCommentsItemsType as ReviewCommentBody,
)

from agentd.forge.base import Annotation, CheckRef, CheckReport, FixPullRequest, ForgeError, InlineComment, PullRequest
from agentd.forge.findings import MAX_CHECK_TEXT, batches, clip, comment_body, fingerprints_in
from agentd.forge.summary import MARKER, comment_for, is_marked, marked, report_markdown
from agentd.kernel.errors import ConfigError

__all__ = ["MARKER", "ForgeError", "GitHubForge", "comment_for"]

log = structlog.get_logger("agentd.forge.github")

Auth = TokenAuthStrategy | AppAuthStrategy | AppInstallationAuthStrategy
Flavor = Literal["github", "gitea", "forgejo"]
_PAGE = 100
_MAX_PAGES = 50
_WRITERS = frozenset({"admin", "maintain", "write", "owner"})  # "owner": Gitea's word for the repository's owner
_STATUS_STATES: dict[str, Literal["success", "failure", "error"]] = {
    "success": "success",
    "neutral": "success",
    "skipped": "success",
    "failure": "failure",
    "timed_out": "failure",
    "action_required": "failure",
    "cancelled": "error",
}


class GitHubForge:
    """agentd's side of one repository on GitHub (or Gitea/Forgejo with `flavor`), through githubkit."""

    def __init__(
        self,
        repository: str,
        auth: Auth,
        api_url: str = "https://api.github.com",
        *,
        flavor: Flavor = "github",
        check_runs: bool = True,
        check_name: str = "agentd",
        timeout_s: float = 10.0,
        secrets: Sequence[str] = (),
    ) -> None:
        owner, sep, name = repository.partition("/")
        if not sep or not owner or not name or "/" in name:
            raise ConfigError(f"forge.repository = {repository!r}: expected owner/name")
        if check_runs and flavor != "github":
            raise ConfigError(f"forge.checks: {flavor} has no check runs; use commit_status")
        self.repository, self.owner, self.name = repository, owner, name
        self.api_url = api_url.rstrip("/")
        self.flavor: Flavor = flavor
        self.check_runs = check_runs
        self.check_name = check_name
        self.timeout_s = timeout_s
        self._auth = auth
        self._secrets = [s for s in secrets if s]
        self._client: GitHub[Auth] | None = None
        # githubkit's default token cache is process-wide and keyed by App and installation only: two
        # clients (two API hosts) would share installation tokens. Each forge keeps its own.
        self._tokens = MemCacheStrategy()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"GitHubForge(api_url={self.api_url!r}, repository={self.repository!r}, flavor={self.flavor!r})"

    # ------------------------------------------------------------ plumbing

    def _github(self) -> GitHub[Auth]:
        """The client; an App without a configured installation looks its installation up once, here."""
        with self._lock:
            if self._client is None:
                auth = self._auth
                if isinstance(auth, AppAuthStrategy):
                    as_app = self._new_client(auth)
                    with self._calling("GET the App's installation on the repository"):
                        installation = as_app.rest.apps.get_repo_installation(self.owner, self.name).json()
                    auth = auth.as_installation(installation["id"])
                self._client = self._new_client(auth)
            return self._client

    def _new_client(self, auth: Auth) -> GitHub[Auth]:
        return GitHub(
            auth,
            base_url=self.api_url + "/",
            user_agent="agentd",
            timeout=self.timeout_s,
            http_cache=False,  # a cached GET could hide a comment just edited
            cache_strategy=self._tokens,
            auto_retry=True,  # rate limits and 5xx, with GitHub's Retry-After
        )

    @contextmanager
    def _calling(self, what: str) -> Iterator[None]:
        """Turn githubkit's failures into ForgeError, with no token, key or request header in the text."""
        try:
            yield
        except RequestFailed as exc:
            status = exc.response.status_code
            raise ForgeError(f"{what} answered {status}: {self._clean(_message(exc))}", status) from None
        except RequestTimeout:
            raise ForgeError(f"{what} timed out after {self.timeout_s:g}s") from None
        except GitHubException as exc:
            detail = getattr(exc, "exc", exc)
            raise ForgeError(f"{what} failed: {self._clean(type(detail).__name__ + ': ' + str(detail))}") from None

    def _clean(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "[REDACTED]")
        return text[:300]

    # ------------------------------------------------------------ pull requests and people

    def pull_request(self, number: int) -> PullRequest:
        """The pull request's head, base and author as the forge sees them now."""
        with self._calling(f"GET pull request #{number}"):
            data = self._github().rest.pulls.get(self.owner, self.name, number).json()
        head_repo = data["head"].get("repo")
        return PullRequest(
            number=data["number"],
            head_sha=data["head"]["sha"],
            head_ref=data["head"]["ref"],
            head_repository=head_repo["full_name"] if head_repo else None,
            base_ref=data["base"]["ref"],
            base_repository=data["base"]["repo"]["full_name"],
            author=data["user"]["login"] if data.get("user") else "",
            draft=bool(data.get("draft")),
            url=data.get("html_url") or "",
        )

    def has_write_access(self, login: str) -> bool:
        """Whether `login` may push to the repository: admin, maintain or write (404: not a collaborator)."""
        try:
            with self._calling(f"GET the permission of {login}"):
                data = self._github().rest.repos.get_collaborator_permission_level(self.owner, self.name, login).json()
        except ForgeError as exc:
            if exc.status == 404:
                return False
            raise
        return str(data.get("permission", "")).lower() in _WRITERS

    # ------------------------------------------------------------ checks

    def start_check(self, head_sha: str, pr: int | None = None) -> CheckRef:
        """Show agentd's check on the head as queued; an unfinished check run of the same head is reused."""
        if not self.check_runs:
            self._status(head_sha, "pending", "queued")
            return CheckRef(head_sha, "commit_status", self.check_name, pr)
        github = self._github()
        with self._calling(f"GET check runs of {head_sha[:12]}"):
            listed = github.rest.checks.list_for_ref(
                self.owner, self.name, head_sha, check_name=self.check_name, filter_="latest"
            ).json()
        for run in listed["check_runs"]:
            if run["status"] != "completed":
                return CheckRef(head_sha, "check_run", str(run["id"]), pr)
        with self._calling(f"POST check run on {head_sha[:12]}"):
            created = github.rest.checks.create(
                self.owner, self.name, name=self.check_name, head_sha=head_sha, status="queued"
            ).json()
        return CheckRef(head_sha, "check_run", str(created["id"]), pr)

    def check_in_progress(self, check: CheckRef) -> None:
        """Mark the check as running."""
        if check.kind == "commit_status":
            self._status(check.head_sha, "pending", "in progress")
            return
        with self._calling(f"PATCH check run {check.id}"):
            self._github().rest.checks.update(
                self.owner, self.name, int(check.id), status="in_progress", started_at=datetime.now(UTC)
            )

    def complete_check(self, check: CheckRef, report: CheckReport) -> None:
        """Finish the check; a check run gets every annotation, 50 per request as the Checks API allows."""
        if check.kind == "commit_status":
            self._status(check.head_sha, _STATUS_STATES[report.conclusion], report.title, report.details_url)
            if check.pr is None:  # a commit on a watched branch has no summary comment: the report goes here
                self._commit_comment(check.head_sha, report)
            return
        title, summary = clip(report.title, 255), clip(report.summary, MAX_CHECK_TEXT)
        chunks = list(batches(report.annotations)) or [()]
        for index, chunk in enumerate(chunks):
            output: CheckOutputBody = {
                "title": title,
                "summary": summary,
                "annotations": [_annotation(a) for a in chunk],
            }
            if report.text:
                output["text"] = clip(report.text, MAX_CHECK_TEXT)
            with self._calling(f"PATCH check run {check.id} (annotations {index * 50 + 1}…)"):
                if index == 0:
                    self._github().rest.checks.update(
                        self.owner,
                        self.name,
                        int(check.id),
                        status="completed",
                        conclusion=report.conclusion,
                        completed_at=datetime.now(UTC),
                        output=output,
                        details_url=report.details_url or UNSET,
                    )
                else:
                    self._github().rest.checks.update(self.owner, self.name, int(check.id), output=output)

    def _status(
        self, sha: str, state: Literal["pending", "success", "failure", "error"], text: str, url: str | None = None
    ) -> None:
        with self._calling(f"POST commit status on {sha[:12]}"):
            self._github().rest.repos.create_commit_status(
                self.owner,
                self.name,
                sha,
                state=state,
                context=self.check_name,
                description=clip(text.strip().splitlines()[0] if text.strip() else state, 140, "…"),
                target_url=url or UNSET,
            )

    def _commit_comment(self, sha: str, report: CheckReport) -> None:
        with self._calling(f"POST comment on commit {sha[:12]}"):
            self._github().rest.repos.create_commit_comment(
                self.owner, self.name, sha, body=clip(report_markdown(report), 65_000)
            )

    # ------------------------------------------------------------ reviews and comments

    def posted_fingerprints(self, pr: int) -> set[str]:
        """Fingerprints in the review comments on the PR (Gitea: in its comments, where agentd folds them)."""
        found: set[str] = set()
        if self.flavor != "github":
            for body in self._issue_comment_bodies(pr):
                found |= fingerprints_in(body)
            return found
        github = self._github()
        for page in range(1, _MAX_PAGES + 1):
            with self._calling(f"GET review comments of #{pr}"):
                listed = _items(
                    github.rest.pulls.list_review_comments(self.owner, self.name, pr, per_page=_PAGE, page=page)
                )
            for comment in listed:
                found |= fingerprints_in(comment["body"])
            if len(listed) < _PAGE:
                break
        return found

    def post_review(self, pr: int, head_sha: str, comments: Sequence[InlineComment], body: str = "") -> str | None:
        """One review of the head with the inline comments (a plain comment on Gitea/Forgejo); its id."""
        if not comments and not body.strip():
            return None
        if self.flavor != "github":
            return self._folded_review(pr, comments, body)
        drafts = [_review_comment(c) for c in comments]
        with self._calling(f"POST review on #{pr}"):
            review = (
                self._github()
                .rest.pulls.create_review(
                    self.owner,
                    self.name,
                    pr,
                    commit_id=head_sha,
                    event="COMMENT",
                    body=body.strip() or f"agentd found {len(comments)} thing(s) on this head.",
                    comments=drafts,
                )
                .json()
            )
        return str(review["id"])

    def _folded_review(self, pr: int, comments: Sequence[InlineComment], body: str) -> str:
        """Gitea's review comments take other fields than GitHub's; agentd posts them as one comment."""
        parts = [body.strip()] if body.strip() else []
        parts += [f"### `{c.path}:{c.line}`\n\n{comment_body(c, 'plain')}" for c in comments]
        return self.reply(pr, "\n\n".join(parts))

    def upsert_review_comment(self, pr: int, body: str, comment_id: str | None) -> str:
        """Edit agentd's summary comment (by id, else by marker) or create it; returns its id."""
        body = marked(body)
        if comment_id is not None and self._edit_comment(comment_id, body):
            return comment_id
        if comment_id is not None:
            log.info("review comment gone; looking for it by marker", pr=pr, comment=comment_id)
        for existing_id, existing_body in self._issue_comments(pr):
            if is_marked(existing_body) and self._edit_comment(existing_id, body):
                return existing_id
        created = self.reply(pr, body)
        log.info("review comment posted", pr=pr, comment=created)
        return created

    def reply(self, pr: int, body: str, to_comment: str | None = None) -> str:  # noqa: ARG002 - the Forge seam's
        """A new comment on the PR (GitHub's PR conversation has no threads: `to_comment` is not used)."""
        with self._calling(f"POST comment on #{pr}"):
            created = self._github().rest.issues.create_comment(self.owner, self.name, pr, body=body).json()
        return str(created["id"])

    def _edit_comment(self, comment_id: str, body: str) -> bool:
        """PATCH one comment; False when it no longer exists."""
        try:
            with self._calling(f"PATCH comment {comment_id}"):
                self._github().rest.issues.update_comment(self.owner, self.name, int(comment_id), body=body)
        except ForgeError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def _issue_comments(self, pr: int) -> Iterator[tuple[str, str]]:
        """(id, body) of the PR's conversation comments, page by page (an empty page ends it on any forge)."""
        github = self._github()
        for page in range(1, _MAX_PAGES + 1):
            with self._calling(f"GET comments of #{pr}"):
                listed = _items(github.rest.issues.list_comments(self.owner, self.name, pr, per_page=_PAGE, page=page))
            if not listed:
                return
            for comment in listed:
                yield str(comment["id"]), comment.get("body") or ""
        raise ForgeError(f"GET comments of #{pr}: more than {_MAX_PAGES} pages")

    def _issue_comment_bodies(self, pr: int) -> Iterator[str]:
        return (body for _, body in self._issue_comments(pr))

    # ------------------------------------------------------------ fix pull requests

    def upsert_fix_pull_request(
        self, head_branch: str, base_branch: str, title: str, body: str, draft: bool = True
    ) -> FixPullRequest:
        """Open a PR from agentd's branch into `base_branch`, or update the open one (Gitea: "WIP:" is draft)."""
        github = self._github()
        existing = self._open_pull_from(head_branch, base_branch)
        if existing is not None:
            with self._calling(f"PATCH pull request #{existing}"):
                updated = github.rest.pulls.update(self.owner, self.name, existing, title=title, body=body).json()
            return FixPullRequest(existing, updated.get("html_url") or "", created=False)
        if self.flavor != "github" and draft:
            title = f"WIP: {title}"  # Gitea and Forgejo mark drafts by this title prefix; they have no draft flag
        with self._calling(f"POST pull request {head_branch} → {base_branch}"):
            created = github.rest.pulls.create(
                self.owner,
                self.name,
                title=title,
                head=head_branch,
                base=base_branch,
                body=body,
                draft=draft if self.flavor == "github" else UNSET,
            ).json()
        return FixPullRequest(created["number"], created.get("html_url") or "", created=True)

    def _open_pull_from(self, head_branch: str, base_branch: str) -> int | None:
        """The open PR from agentd's branch into `base_branch` (filtered here too: Gitea ignores `head`)."""
        github = self._github()
        for page in range(1, _MAX_PAGES + 1):
            with self._calling(f"GET open pull requests from {head_branch}"):
                listed = _items(
                    github.rest.pulls.list(
                        self.owner,
                        self.name,
                        state="open",
                        head=f"{self.owner}:{head_branch}",
                        base=base_branch,
                        per_page=_PAGE,
                        page=page,
                    )
                )
            for pull in listed:
                repo = pull["head"].get("repo")
                same_repo = repo is not None and repo["full_name"].lower() == self.repository.lower()
                if pull["head"]["ref"] == head_branch and pull["base"]["ref"] == base_branch and same_repo:
                    return int(pull["number"])
            if not listed:
                return None
        return None


def _message(exc: RequestFailed) -> str:
    """The API's own error message, if its answer carries one."""
    try:
        data = exc.response.raw_response.json()
    except ValueError:
        return exc.response.reason_phrase or "no message"
    message = data.get("message") if isinstance(data, dict) else None
    errors = data.get("errors") if isinstance(data, dict) else None
    return f"{message or 'no message'}{f' {errors}' if errors else ''}"


def _items(response: Response[Any, Any]) -> list[dict[str, Any]]:
    """A list answer's items, read as JSON objects (the generated list types do not resolve for mypy)."""
    data = response.json()
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise ForgeError(f"{response.raw_request.method} {response.raw_request.url.path}: the answer is not a list")
    return data


def _annotation(annotation: Annotation) -> AnnotationBody:
    return {
        "path": annotation.path,
        "start_line": annotation.start_line,
        "end_line": annotation.end_line,
        "annotation_level": annotation.level,
        "title": annotation.title,
        "message": annotation.message,
    }


def _review_comment(comment: InlineComment) -> ReviewCommentBody:
    draft: ReviewCommentBody = {
        "path": comment.path,
        "body": comment_body(comment, "github"),
        "line": comment.line,
        "side": "RIGHT",
    }
    if comment.start_line is not None:
        draft["start_line"] = comment.start_line
        draft["start_side"] = "RIGHT"
    return draft
