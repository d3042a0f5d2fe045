"""The forge seam: what a job asks of GitHub, GitLab, Gitea or Forgejo, and the plain data it passes.

`Forge` is implemented by `GitHubForge` (GitHub, Gitea, Forgejo) and `GitLabForge`; the job sees only
this Protocol. `FindingMemory` is the one piece of state agentd must keep itself (the store implements it):
which findings it already posted on a pull request, so a deleted (dismissed) comment is not posted again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from agentd.kernel.errors import AgentdError

Severity = Literal["info", "warning", "error"]
CheckConclusion = Literal["success", "failure", "neutral", "cancelled", "skipped", "timed_out", "action_required"]


class ForgeError(AgentdError):
    """The forge's API refused or failed a request; `status` is its HTTP status (None: no answer)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Finding:
    """One thing the review found at `path` lines `line`..`end_line` of the head, maybe with a fix for them.

    `code` is the text of those lines at the head: the fingerprint hashes it, so the same finding keeps its
    fingerprint when lines above it move. `suggestion` replaces exactly those lines; it is offered only when
    `suggestion_passed_gate` says agentd's gate passed with the whole fix applied.
    """

    path: str
    line: int
    title: str
    message: str
    severity: Severity = "warning"
    end_line: int | None = None
    rule: str = ""
    code: str = ""
    suggestion: str | None = None
    suggestion_passed_gate: bool = False

    @property
    def last_line(self) -> int:
        """The finding's last line (its first when it spans one)."""
        return max(self.line, self.end_line or self.line)


@dataclass(frozen=True)
class Annotation:
    """A finding as a check run shows it at file:line."""

    path: str
    start_line: int
    end_line: int
    level: Literal["notice", "warning", "failure"]
    title: str
    message: str


@dataclass(frozen=True)
class CheckReport:
    """What a completed check says: conclusion, title, Markdown summary (and details), annotations."""

    conclusion: CheckConclusion
    title: str
    summary: str
    text: str = ""
    annotations: Sequence[Annotation] = ()
    details_url: str | None = None


@dataclass(frozen=True)
class CheckRef:
    """A check agentd started on a head: a GitHub check run's id, or a commit status' context."""

    head_sha: str
    kind: Literal["check_run", "commit_status"]
    id: str
    pr: int | None = None


@dataclass(frozen=True)
class InlineComment:
    """A finding anchored on the PR's diff: new-side lines `start_line`..`line` of `path`.

    `old_line` is the line's number on the base side when it is an unchanged context line (GitLab needs
    it); `suggestion`, when set, replaces lines `start_line`..`line` and was checked by the gate.
    """

    path: str
    line: int
    title: str
    message: str
    fingerprint: str
    start_line: int | None = None
    old_line: int | None = None
    suggestion: str | None = None
    severity: Severity = "warning"


@dataclass(frozen=True)
class PullRequest:
    """What agentd needs to know of a pull (merge) request."""

    number: int
    head_sha: str
    head_ref: str
    head_repository: str | None  # None when the fork was deleted
    base_ref: str
    base_repository: str
    author: str
    draft: bool = False
    url: str = ""

    @property
    def same_repository(self) -> bool:
        """Whether the head branch lives in the base repository (not a fork)."""
        return self.head_repository is not None and self.head_repository.lower() == self.base_repository.lower()


@dataclass(frozen=True)
class FixPullRequest:
    """The pull request carrying agentd's fix; `created` is False when an open one was updated."""

    number: int
    url: str
    created: bool


class Forge(Protocol):
    """What a job asks of the forge. Every method raises ForgeError (token-free) when the forge refuses."""

    def pull_request(self, number: int) -> PullRequest:
        """The pull request's head, base and author as the forge sees them now."""
        ...

    def has_write_access(self, login: str) -> bool:
        """Whether `login` may push to the repository (admin, maintain or write; GitLab: developer or above)."""
        ...

    def start_check(self, head_sha: str, pr: int | None = None) -> CheckRef:
        """Show agentd's check on `head_sha` as queued; the same head's earlier check is reused."""
        ...

    def check_in_progress(self, check: CheckRef) -> None:
        """Mark the check as running."""
        ...

    def complete_check(self, check: CheckRef, report: CheckReport) -> None:
        """Finish the check with its conclusion, summary and every annotation (batched as the API needs)."""
        ...

    def posted_fingerprints(self, pr: int) -> set[str]:
        """Fingerprints of agentd's inline comments still on the pull request (resolved ones included)."""
        ...

    def post_review(self, pr: int, head_sha: str, comments: Sequence[InlineComment], body: str = "") -> str | None:
        """Post the comments as one review of the head's diff (never an approval); its id (None: nothing to post)."""
        ...

    def upsert_review_comment(self, pr: int, body: str, comment_id: str | None) -> str:
        """Create or update agentd's one summary comment on the pull request; returns its id."""
        ...

    def upsert_fix_pull_request(
        self, head_branch: str, base_branch: str, title: str, body: str, draft: bool = True
    ) -> FixPullRequest:
        """Open a pull request from `head_branch` into `base_branch`, or update the open one."""
        ...

    def reply(self, pr: int, body: str, to_comment: str | None = None) -> str:
        """Answer on the pull request (to a command comment, quoting it when the forge has no threads)."""
        ...


class FindingMemory(Protocol):
    """The store's record of the findings agentd posted per pull request (fingerprints, never forgotten)."""

    def posted_findings(self, repo: str, pr: int) -> set[str]:
        """Fingerprints already posted on the pull request."""
        ...

    def remember_findings(self, repo: str, pr: int, fingerprints: Iterable[str]) -> None:
        """Add fingerprints just posted on the pull request (idempotent)."""
        ...
