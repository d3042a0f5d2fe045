"""What a job does for its event: review, fix, optimize or explain; and who may command agentd in a PR comment.

A command is taken only from someone the forge reports with write access; an unknown verb or a refused
author gets an answer saying why. A command works on the PR's current head as the forge reports it.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from agentd.forge.base import Forge, ForgeError
from agentd.kernel.events import CommitPushed, Event, PullRequestCommand, PullRequestUpdated, TaskRequested

log = structlog.get_logger("agentd.job.commands")
HELP = (
    "agentd's commands: `/agentd review` (a full review of the head), `/agentd fix [what]` (a fix on agentd/pr-N, "
    "offered as a pull request when the PR is trusted), `/agentd optimize [what]` (a faster version, kept only "
    "when agentd measures the gain), `/agentd explain` (what the change does)."
)


@dataclass(frozen=True)
class Mode:
    """What a job does: review (whole or incremental), then fix when needed (or always), or only explain."""

    review: bool = True
    full: bool = False  # review the whole change, not only what changed since the last reviewed head
    fix: str = "when_needed"  # when_needed (tests fail or a blocking finding), always, never
    explain: bool = False
    check: bool = True  # a check on the head

    @property
    def ask(self) -> str:
        """What the reviewer is asked."""
        if self.explain:
            return (
                "Explain this change for the people reviewing it: what it does, why, and what could go wrong. Put "
                "the explanation in your summary; list real defects as findings."
            )
        return "Review this change."


def mode_of(event: Event) -> Mode:
    """The job's mode for its event."""
    if isinstance(event, TaskRequested):
        return Mode(review=False, fix="always", check=False)
    if isinstance(event, CommitPushed | PullRequestUpdated):
        return Mode()
    verb = event.verb
    if verb == "review":
        return Mode(full=True, fix="never")
    if verb == "fix":
        return Mode(full=True, fix="always")
    if verb == "optimize":
        return Mode(review=False, fix="always", check=False)
    return Mode(full=True, fix="never", explain=True, check=False)


def refusal(forge: Forge | None, event: PullRequestCommand) -> str | None:
    """Why agentd will not do the command (None: it will); ForgeError when the forge cannot say."""
    if forge is None:
        return "no [forge] is configured, so agentd can neither check who may command it nor answer."
    if event.verb == "help":
        return f"`/agentd` needs a command. {HELP}"
    if not event.known:
        return f"`{event.verb}` is not one of agentd's commands. {HELP}"
    if not forge.has_write_access(event.author):
        return (
            f"the forge does not report write access for {event.author} on this repository; agentd takes commands "
            "only from people who may push to it."
        )
    return None


def pull_request_view(forge: Forge | None, event: Event) -> tuple[PullRequestUpdated | None, str]:
    """A PR event completed with the forge's facts (author, where its head lives, its base branch; for a command
    the PR at its current head), and the PR's branch when it lives in the base repository (a fix PR can target
    it; "" otherwise). None for a commit or a task; without a forge, a PR event as it came."""
    if not isinstance(event, PullRequestUpdated | PullRequestCommand):
        return None, ""
    if forge is None:
        return (event if isinstance(event, PullRequestUpdated) else None), ""
    try:
        pr = forge.pull_request(event.number)
    except ForgeError as exc:
        if isinstance(event, PullRequestCommand):
            raise
        log.warning("pull request not read from the forge; using the event's facts", pr=event.number, error=str(exc))
        return event, ""
    head = event.head_sha if isinstance(event, PullRequestUpdated) else pr.head_sha
    view = PullRequestUpdated(
        repo=event.repo,
        number=event.number,
        head_sha=head,
        base_branch=pr.base_ref,
        author=pr.author or None,
        head_repo=pr.head_repository,
        base_repo=pr.base_repository,
    )
    return view, (pr.head_ref if pr.same_repository else "")
