"""The database of record's seams, split by who uses them: the `Queue`, the `Recorder` and the `Views`.

Only the store touches the database. The daemon, triggers and webhook work the queue; a job and
its debate record what happened; the API, `agentd show` and the reports read views. `Store` is
their union, for the composition root. Both backends (agentd.store.sqlite, agentd.store.postgres)
implement it with the same statements (agentd.store.sqlstore) and hand out the records of
agentd.store.records.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from agentd.kernel.events import Event
from agentd.store.records import (
    TASK_DONE_STATES,
    Activity,
    Agent,
    Delivery,
    HistoryEntry,
    Lease,
    ModelOutcomes,
    SessionSummary,
    Span,
    Stats,
    Task,
    TaskRecord,
    Turn,
)

__all__ = ["TASK_DONE_STATES", "Ancestry", "Delivery", "Lease", "Queue", "Recorder", "Store", "Task", "Views"]

Ancestry = Callable[[str, str], "bool | None"]
"""Whether the first commit is an ancestor of the second; None when it cannot tell (a commit not fetched)."""


class Views(Protocol):
    """What the API, `agentd show`, `agentd status` and the reports read."""

    def get_task(self, task_id: int) -> Task | None:
        """One task, or None."""
        ...

    def list_tasks(self, limit: int = 50, status: str | None = None) -> list[Task]:
        """The newest tasks first, only those in `status` when it is given."""
        ...

    def list_history(self, limit: int = 50) -> list[HistoryEntry]:
        """Finished tasks, latest first, each with its token totals and model calls."""
        ...

    def task_record(self, task_id: int) -> TaskRecord:
        """The whole record of a task: sessions, turns, tool calls, versions, usage, job."""
        ...

    def task_review(self, task_id: int) -> dict[str, Any] | None:
        """What the task's review covered and found (as `record_review` stored it), or None."""
        ...

    def task_activity(self, task_id: int, after_turn: int, after_call: int, limit: int = 500) -> Activity:
        """A task's turns and tool calls with ids above the given ones, oldest first (for live streams)."""
        ...

    def task_spans(self, task_id: int) -> list[Span]:
        """A task's spans, earliest first: its phase timeline."""
        ...

    def list_sessions(self, limit: int = 50) -> list[SessionSummary]:
        """Debate sessions, newest first, with their verdicts and turn and tool-call counts."""
        ...

    def list_agents(self) -> list[Agent]:
        """The agents that ever took a turn: name, role, model."""
        ...

    def model_stats(self) -> list[ModelOutcomes]:
        """Per (task kind, model): runs, agreed, green, cost and latency totals."""
        ...

    def counts(self) -> dict[str, int]:
        """Job counts by status."""
        ...

    def stats(self) -> Stats:
        """Totals for metrics: jobs, tasks and tool calls by status or decision; tokens and model calls."""
        ...


class Queue(Protocol):
    """The job queue and what decides what enters it: the daemon's, the triggers' and the webhook's."""

    def enqueue(
        self,
        event: Event,
        description: str,
        base_sha: str | None,
        *,
        ancestry: Ancestry | None = None,
        revive: bool = False,
    ) -> tuple[int, bool]:
        """Record an event with its task and job; (task_id, created) — False if seen before.

        A pull request's newer head supersedes its older tasks in the same transaction: queued ones
        end at once, running ones are asked to stop (their worker sees it on its next renewal).
        With `ancestry`, a head that is an ancestor of a head already recorded (it arrived out of
        order) supersedes nothing and is itself superseded at once. `revive` puts an event seen
        before back in the queue when its job was cancelled (superseded): for the forge's current head.
        """
        ...

    def accept_delivery(
        self,
        delivery_id: str,
        event: Event | None,
        description: str,
        base_sha: str | None,
        *,
        ancestry: Ancestry | None = None,
    ) -> Delivery:
        """Remember a webhook delivery and enqueue its event (if any) in one transaction; `duplicate` if seen."""
        ...

    def claim_job(self, owner: str, lease_s: float, max_running: int | None = None) -> Lease | None:
        """Lease the oldest queued (or expired) job, or None; at most `max_running` jobs hold live leases."""
        ...

    def renew_lease(self, lease: Lease, lease_s: float) -> bool:
        """Extend a lease; False when another worker took the job over or it was asked to stop."""
        ...

    def cancel_requested(self, lease: Lease) -> bool:
        """Whether the job was asked to stop (superseded)."""
        ...

    def release_job(self, lease: Lease, reason: str) -> None:
        """Give a job back to the queue unfinished (daemon stopping)."""
        ...

    def retry_job(self, lease: Lease, error: str, delay_s: float) -> None:
        """Put a failed job back in the queue, not to be claimed before `delay_s` has passed."""
        ...

    def finish_job(self, lease: Lease, status: str, error: str | None = None) -> bool:
        """Mark a job done, cancelled or dead; False (and nothing changed) unless `lease` still holds it."""
        ...

    def end_task(self, lease: Lease, **fields: Any) -> bool:
        """Record a task's end; False (and nothing changed) when the lease is lost or the job was asked to stop."""
        ...

    def update_task(self, task_id: int, **fields: Any) -> None:
        """Set task fields (status, summary, branch, commit_sha, tests_passed, finished_at, base_sha)."""
        ...

    def get_task(self, task_id: int) -> Task | None:
        """One task, or None."""
        ...

    def heartbeat(self, owner: str, pid: int) -> None:
        """Say this daemon is alive."""
        ...

    def live_daemons(self, within_s: float) -> list[str]:
        """Owners whose heartbeat is recent."""
        ...

    def made_by_agentd(self, sha: str) -> bool:
        """Whether agentd committed `sha` itself (a task recorded it), whatever its message says."""
        ...

    def branch_head(self, repo: str, branch: str) -> str | None:
        """The last head agentd saw on a branch."""
        ...

    def set_branch_head(self, repo: str, branch: str, sha: str) -> None:
        """Remember a branch head as seen."""
        ...


class Recorder(Protocol):
    """What a job and its debate write as they happen, and read back to resume or to learn."""

    def start_session(self, task_id: int, protocol: str, strategy: str) -> int:
        """Open a debate session; returns its id."""
        ...

    def finish_session(self, session_id: int, status: str, verdict: Mapping[str, Any]) -> None:
        """Close a debate session with its verdict."""
        ...

    def running_session(self, task_id: int) -> tuple[int, list[Turn]] | None:
        """An unfinished debate session of a task and its completed turns (to resume after a crash)."""
        ...

    def add_turn(self, session_id: int, turn: Mapping[str, Any]) -> int:
        """Record one completed agent turn (written as it happens)."""
        ...

    def add_tool_call(self, session_id: int, call: Mapping[str, Any]) -> int:
        """Record one tool call, allowed or refused (written as it happens)."""
        ...

    def add_span(self, task_id: int, span: Mapping[str, Any]) -> None:
        """Record one finished span of a task's job (agentd.kernel.trace writes them as they end)."""
        ...

    def add_usage(self, task_id: int, model: str, input_tokens: int, output_tokens: int, cost_usd: float = 0.0) -> None:
        """Record tokens (and the cost) one model call used."""
        ...

    def spent_since(self, since: float) -> float:
        """Dollars spent on model calls since a time (for the daily budget)."""
        ...

    def add_code_version(self, task_id: int, version: Mapping[str, Any]) -> None:
        """Record a tree agentd tested (base, candidate, final)."""
        ...

    def record_model_outcome(
        self, kind: str, model: str, agreed: bool, green: bool, cost_usd: float, latency_ms: float
    ) -> None:
        """Add one task's outcome to a model's record for a kind of task."""
        ...

    def forge_comment(self, repo: str, pr: int) -> str | None:
        """The id of agentd's review comment on a pull request, if it posted one."""
        ...

    def set_forge_comment(self, repo: str, pr: int, comment_id: str) -> None:
        """Remember agentd's review comment on a pull request."""
        ...

    def set_eval_result(self, key: str, task_id: int | None, record: Mapping[str, Any]) -> None:
        """Record (or replace) the scored result of one `agentd eval run` attempt."""
        ...

    def eval_results(self) -> dict[str, dict[str, Any]]:
        """Every recorded eval result by its key (an eval run skips these when it resumes)."""
        ...

    def record_review(self, task_id: int, review: Mapping[str, Any]) -> None:
        """Keep what the task's review covered and found (plain JSON), replacing what was kept before."""
        ...

    def posted_findings(self, repo: str, pr: int) -> set[str]:
        """Fingerprints of the findings agentd posted on a pull request (agentd.forge.base.FindingMemory)."""
        ...

    def remember_findings(self, repo: str, pr: int, fingerprints: Iterable[str]) -> None:
        """Add fingerprints just posted on a pull request (idempotent); never forgotten."""
        ...


class Store(Queue, Recorder, Views, Protocol):
    """Everything agentd persists; writes that belong together commit together."""

    def prune(self, tool_calls_before: float, deliveries_before: float) -> dict[str, int]:
        """Delete finished tasks' tool calls and webhook delivery ids older than the given times; rows deleted."""
        ...

    def held_tasks(self) -> set[int]:
        """Tasks whose job a worker holds a live lease on now (their caches and worktrees are in use)."""
        ...

    def close(self) -> None:
        """Close connections."""
        ...
