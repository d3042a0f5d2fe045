"""What triggers a job: immutable events, each with a stable idempotency key."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CommitPushed(_Event):
    """A new commit on a watched branch."""

    type: Literal["commit"] = "commit"
    repo: str
    branch: str
    sha: str
    parent_sha: str | None = None

    @property
    def key(self) -> str:
        """Idempotency key: the same commit seen twice makes one job."""
        return f"commit:{self.sha}"


class PullRequestUpdated(_Event):
    """A pull request was opened or its head moved."""

    type: Literal["pr"] = "pr"
    repo: str
    number: int
    head_sha: str
    base_branch: str
    author: str | None = None  # the forge login that opened it, when a webhook said
    head_repo: str | None = None  # owner/name the head branch lives in (a fork's, or the base's own)
    base_repo: str | None = None  # owner/name of the repository the PR targets

    @property
    def key(self) -> str:
        """Idempotency key: one job per PR head."""
        return f"pr:{self.number}:{self.head_sha}"


class TaskRequested(_Event):
    """A person asked for a change (CLI or API)."""

    type: Literal["task"] = "task"
    repo: str
    description: str = Field(min_length=1)
    base_ref: str
    kind: Literal["fix", "feature", "optimize", "review"] = "fix"
    request_id: str

    @property
    def key(self) -> str:
        """Idempotency key: the request id the client chose."""
        return f"task:{self.request_id}"


COMMAND_VERBS = frozenset({"review", "fix", "optimize", "explain"})


class PullRequestCommand(_Event):
    """A `/agentd VERB [ARGUMENT]` comment on a pull request; the job checks that `author` may command."""

    type: Literal["command"] = "command"
    repo: str
    number: int = Field(ge=1)
    verb: str = Field(max_length=64)  # as written, lower-cased; the job answers an unknown verb with the list
    argument: str = Field("", max_length=1000)
    author: str = Field(min_length=1, max_length=200)
    comment_id: int = Field(ge=1)

    @property
    def key(self) -> str:
        """Idempotency key: one answer per comment, however often it is delivered."""
        return f"command:{self.comment_id}"

    @property
    def known(self) -> bool:
        """Whether the verb is one of agentd's commands."""
        return self.verb in COMMAND_VERBS


Event = Annotated[CommitPushed | PullRequestUpdated | TaskRequested | PullRequestCommand, Field(discriminator="type")]
EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


def event_from_json(text: str) -> Event:
    """Rebuild an event stored as JSON."""
    return EVENT_ADAPTER.validate_json(text)
