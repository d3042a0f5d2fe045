"""Who agentd trusts with its push: a pull request's tree is the attacker's unless its author could push anyway.

A trusted PR comes from the repository itself, or from an author the forge reports with write
access, or from a login listed in `repository.trusted_authors`. For any other PR agentd reviews
and proposes, but never pushes a branch holding the PR's tree to the base repository, and its
agents get no `query_database` (what they read could reach the PR author through a comment).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from agentd.kernel.events import Event, PullRequestUpdated
from agentd.repo.config import RepositoryConfig

# Paths that make a forge run code with the repository's secrets when pushed.
AUTOMATION = re.compile(
    r"^(\.github/|\.gitlab-ci\.yml$|\.gitlab/|\.circleci/|\.buildkite/|\.drone\.yml$|\.travis\.yml$|"
    r"azure-pipelines\.yml$|Jenkinsfile$|\.woodpecker|\.forgejo/|\.gitea/|bitbucket-pipelines\.yml$)"
)
_CHANGED = re.compile(r"^(?:\+\+\+ b/|--- a/)(\S+)$", re.MULTILINE)


@dataclass(frozen=True)
class Trust:
    """Whether agentd may push what it made from this event, and why."""

    trusted: bool
    why: str


def trust_of(event: Event, repository: RepositoryConfig, has_write_access: Callable[[str], bool] | None) -> Trust:
    """The trust of one event's job; `has_write_access` asks the forge about a login (None: no forge)."""
    if not isinstance(event, PullRequestUpdated):
        return Trust(True, "a commit on a watched branch or a person's task")
    if repository.trust_pull_requests:
        return Trust(True, "repository.trust_pull_requests is on")
    author = event.author
    if author and author in repository.trusted_authors:
        return Trust(True, f"{author} is in repository.trusted_authors")
    if event.head_repo and event.base_repo and event.head_repo.lower() == event.base_repo.lower():
        return Trust(True, "the PR comes from a branch of the repository itself")
    if author and has_write_access is not None and has_write_access(author):
        return Trust(True, f"the forge reports {author} with write access")
    who = author or "an unknown author"
    return Trust(False, f"PR #{event.number} by {who} is untrusted (a fork, or no write access known)")


def automation_paths(diff: str) -> list[str]:
    """The CI and automation files a diff touches (they run with the repository's secrets once pushed)."""
    return sorted({path for path in _CHANGED.findall(diff) if AUTOMATION.match(path)})
