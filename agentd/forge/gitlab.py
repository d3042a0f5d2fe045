"""GitLab through python-gitlab: commit status plus report, diff discussions with suggestions, the summary
note, fix merge requests. GitLab has no check runs: the verdict is a commit status named like the check,
and annotations become the summary note (on a merge request) or a commit comment (on a branch commit).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal

import gitlab
import structlog
from gitlab.v4.objects import Project, ProjectMergeRequest

from agentd.forge.base import CheckRef, CheckReport, FixPullRequest, ForgeError, InlineComment, PullRequest
from agentd.forge.findings import clip, comment_body, fingerprints_in
from agentd.forge.summary import is_marked, marked, report_markdown

log = structlog.get_logger("agentd.forge.gitlab")

DEVELOPER = 30  # GitLab's access level that may push branches
MAX_NOTE = 1_000_000  # GitLab's note limit
_STATES: dict[str, Literal["success", "failed", "canceled"]] = {
    "success": "success",
    "neutral": "success",
    "skipped": "success",
    "failure": "failed",
    "timed_out": "failed",
    "action_required": "failed",
    "cancelled": "canceled",
}


class GitLabForge:
    """agentd's side of one GitLab project, through python-gitlab."""

    def __init__(
        self, api_url: str, project: str, token: str, *, check_name: str = "agentd", timeout_s: float = 10.0
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.repository = project
        self.check_name = check_name
        self._token = token
        self._gitlab = gitlab.Gitlab(
            self.api_url, private_token=token, timeout=timeout_s, retry_transient_errors=True, user_agent="agentd"
        )
        self._project: Project | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"GitLabForge(api_url={self.api_url!r}, project={self.repository!r})"  # never the token

    @property
    def project(self) -> Project:
        """The project, fetched once (its numeric id tells same-project merge requests from forks)."""
        with self._lock:
            if self._project is None:
                with self._calling(f"GET project {self.repository}"):
                    self._project = self._gitlab.projects.get(self.repository)
            return self._project

    @contextmanager
    def _calling(self, what: str) -> Iterator[None]:
        """python-gitlab's failures as ForgeError, with no token in the text."""
        try:
            yield
        except gitlab.exceptions.GitlabError as exc:
            detail = str(exc.error_message).replace(self._token, "[REDACTED]")[:300]
            raise ForgeError(f"{what} answered {exc.response_code}: {detail}", exc.response_code) from None
        except OSError as exc:  # requests' connection errors are OSErrors
            detail = f"{type(exc).__name__}: {exc}".replace(self._token, "[REDACTED]")[:300]
            raise ForgeError(f"{what} failed: {detail}") from None

    def _merge_request(self, number: int) -> ProjectMergeRequest:
        with self._calling(f"GET merge request !{number}"):
            return self.project.mergerequests.get(number)

    # ------------------------------------------------------------ merge requests and people

    def pull_request(self, number: int) -> PullRequest:
        """The merge request's head, target and author."""
        mr = self._merge_request(number)
        same = mr.source_project_id == mr.target_project_id
        return PullRequest(
            number=mr.iid,
            head_sha=mr.sha,
            head_ref=mr.source_branch,
            head_repository=self.repository if same else f"project:{mr.source_project_id}",
            base_ref=mr.target_branch,
            base_repository=self.repository,
            author=(mr.author or {}).get("username", ""),
            draft=bool(getattr(mr, "draft", False)),
            url=getattr(mr, "web_url", ""),
        )

    def has_write_access(self, login: str) -> bool:
        """Whether `login` is a member (direct or inherited) with Developer access or more."""
        with self._calling(f"GET user {login}"):
            users = self._gitlab.users.list(username=login, get_all=False)
        if not users:
            return False
        try:
            with self._calling(f"GET membership of {login}"):
                member = self.project.members_all.get(users[0].id)
        except ForgeError as exc:
            if exc.status == 404:
                return False
            raise
        return int(member.access_level) >= DEVELOPER

    # ------------------------------------------------------------ checks: commit status plus report

    def start_check(self, head_sha: str, pr: int | None = None) -> CheckRef:
        """A pending commit status named like the check."""
        self._status(head_sha, "pending", "queued")
        return CheckRef(head_sha, "commit_status", self.check_name, pr)

    def check_in_progress(self, check: CheckRef) -> None:
        """The commit status goes to running."""
        self._status(check.head_sha, "running", "in progress")

    def complete_check(self, check: CheckRef, report: CheckReport) -> None:
        """The final commit status; on a branch commit the report (with every annotation) as a commit comment."""
        self._status(check.head_sha, _STATES[report.conclusion], report.title, report.details_url)
        if check.pr is not None:
            return  # the merge request's summary note carries the report
        with self._calling(f"POST comment on commit {check.head_sha[:12]}"):
            commit = self.project.commits.get(check.head_sha, lazy=True)
            commit.comments.create({"note": clip(report_markdown(report), MAX_NOTE)})

    def _status(self, sha: str, state: str, text: str, url: str | None = None) -> None:
        data: dict[str, Any] = {
            "state": state,
            "name": self.check_name,
            "description": clip(text.strip().splitlines()[0] if text.strip() else state, 255, "…"),
        }
        if url:
            data["target_url"] = url
        try:
            with self._calling(f"POST commit status on {sha[:12]}"):
                self.project.commits.get(sha, lazy=True).statuses.create(data)
        except ForgeError as exc:
            # GitLab refuses a status equal to the current one ("Cannot transition status"): nothing to change
            if exc.status != 400 or "transition" not in str(exc).lower():
                raise

    # ------------------------------------------------------------ discussions and notes

    def posted_fingerprints(self, pr: int) -> set[str]:
        """Fingerprints in the merge request's notes (diff discussions included, resolved or not)."""
        found: set[str] = set()
        for _, body in self._notes(pr):
            found |= fingerprints_in(body)
        return found

    def post_review(self, pr: int, head_sha: str, comments: Sequence[InlineComment], body: str = "") -> str | None:
        """One diff discussion per comment on the head's diff (with GitLab's suggestion syntax); the first id."""
        mr = self._merge_request(pr)
        refs = mr.diff_refs or {}
        first: str | None = None
        for comment in comments:
            position: dict[str, Any] = {
                "position_type": "text",
                "base_sha": refs.get("base_sha"),
                "start_sha": refs.get("start_sha"),
                "head_sha": refs.get("head_sha") or head_sha,
                "new_path": comment.path,
                "old_path": comment.path,
                "new_line": comment.line,
            }
            if comment.old_line is not None:
                position["old_line"] = comment.old_line  # an unchanged line is addressed by both sides
            with self._calling(f"POST discussion on !{pr} at {comment.path}:{comment.line}"):
                created = mr.discussions.create({"body": comment_body(comment, "gitlab"), "position": position})
            first = first or str(created.id)
        if body.strip():
            first = first or self.reply(pr, body)
        return first

    def upsert_review_comment(self, pr: int, body: str, comment_id: str | None) -> str:
        """Edit agentd's summary note (by id, else by marker) or create it; returns its id."""
        body = marked(body)
        mr = self._merge_request(pr)
        candidates = [comment_id] if comment_id else []
        candidates += [note_id for note_id, text in self._notes(pr) if is_marked(text)]
        for note_id in candidates:
            try:
                with self._calling(f"PUT note {note_id}"):
                    mr.notes.update(int(note_id), {"body": body})
            except ForgeError as exc:
                if exc.status == 404:
                    continue
                raise
            return note_id
        return self.reply(pr, body)

    def reply(self, pr: int, body: str, to_comment: str | None = None) -> str:
        """A note on the merge request, in the discussion `to_comment` names when given."""
        mr = self._merge_request(pr)
        with self._calling(f"POST note on !{pr}"):
            if to_comment:
                return str(mr.discussions.get(to_comment, lazy=True).notes.create({"body": body}).id)
            return str(mr.notes.create({"body": body}).id)

    def _notes(self, pr: int) -> Iterator[tuple[str, str]]:
        mr = self._merge_request(pr)
        with self._calling(f"GET notes of !{pr}"):
            notes = list(mr.notes.list(iterator=True))
        for note in notes:
            yield str(note.id), str(getattr(note, "body", "") or "")

    # ------------------------------------------------------------ fix merge requests

    def upsert_fix_pull_request(
        self, head_branch: str, base_branch: str, title: str, body: str, draft: bool = True
    ) -> FixPullRequest:
        """Open a merge request from agentd's branch (a draft is titled "Draft:"), or update the open one."""
        if draft and not title.lower().startswith("draft:"):
            title = f"Draft: {title}"
        with self._calling(f"GET open merge requests from {head_branch}"):
            opened = self.project.mergerequests.list(
                state="opened", source_branch=head_branch, target_branch=base_branch, get_all=False
            )
        if opened:
            existing = opened[0]
            with self._calling(f"PUT merge request !{existing.iid}"):
                self.project.mergerequests.update(existing.iid, {"title": title, "description": body})
            return FixPullRequest(existing.iid, getattr(existing, "web_url", ""), created=False)
        with self._calling(f"POST merge request {head_branch} → {base_branch}"):
            created = self.project.mergerequests.create(
                {"source_branch": head_branch, "target_branch": base_branch, "title": title, "description": body}
            )
        return FixPullRequest(created.iid, getattr(created, "web_url", ""), created=True)
