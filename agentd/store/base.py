"""The database of record: the `Store` seam and the records it hands out.

Only the store touches the database. SQLite is the default backend (agentd.store.sqlite); a
PostgreSQL backend (agentd.store.postgres) implements the same protocol over the same schema.
Both shape their rows into records with the same pure functions (agentd.store.records).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from agentd.kernel.events import Event

TASK_DONE_STATES = ("fixed", "reviewed", "no_fix", "no_consensus", "failed", "cancelled", "superseded")


@dataclass(frozen=True)
class Task:
    """A unit of work users see: one per event."""

    id: int
    kind: str
    description: str
    status: str
    base_sha: str | None
    summary: str
    branch: str | None
    commit_sha: str | None
    tests_passed: bool | None
    event: Event
    created_at: float
    finished_at: float | None

    @property
    def done(self) -> bool:
        """Whether the task reached a final state."""
        return self.status in TASK_DONE_STATES


@dataclass(frozen=True)
class Lease:
    """A worker's claim on a job until `expires` (renewed while it works)."""

    job_id: int
    task_id: int
    owner: str
    expires: float
    attempts: int


class Store(Protocol):
    """Everything agentd persists; writes that belong together commit together."""

    def enqueue(self, event: Event, description: str, base_sha: str | None) -> tuple[int, bool]:
        """Record an event with its task and job; (task_id, created) — False if seen before."""
        ...

    def claim_job(self, owner: str, lease_s: float, max_running: int | None = None) -> Lease | None:
        """Lease the oldest queued (or expired) job, or None; at most `max_running` jobs hold live leases."""
        ...

    def renew_lease(self, lease: Lease, lease_s: float) -> bool:
        """Extend a lease; False when another worker took the job over or it was asked to stop."""
        ...

    def supersede(self, subject: str, keep_task_id: int) -> list[int]:
        """Cancel the unfinished tasks of a subject (a PR) other than the newest; returns their ids."""
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

    def finish_job(self, lease: Lease, status: str, error: str | None = None) -> None:
        """Mark a job done or failed."""
        ...

    def update_task(self, task_id: int, **fields: Any) -> None:
        """Set task fields (status, summary, branch, commit_sha, tests_passed, finished_at)."""
        ...

    def get_task(self, task_id: int) -> Task | None:
        """One task, or None."""
        ...

    def list_tasks(self, limit: int = 50, status: str | None = None) -> list[Task]:
        """The newest tasks first, only those in `status` when it is given."""
        ...

    def list_history(self, limit: int = 50) -> list[dict[str, Any]]:
        """Finished tasks, latest first, each with its token totals and model calls."""
        ...

    def start_session(self, task_id: int, protocol: str, strategy: str) -> int:
        """Open a debate session; returns its id."""
        ...

    def finish_session(self, session_id: int, status: str, verdict: dict[str, Any]) -> None:
        """Close a debate session with its verdict."""
        ...

    def add_turn(self, session_id: int, turn: dict[str, Any]) -> int:
        """Record one completed agent turn (written as it happens)."""
        ...

    def add_tool_call(self, session_id: int, call: dict[str, Any]) -> int:
        """Record one tool call, allowed or refused (written as it happens)."""
        ...

    def add_usage(self, task_id: int, model: str, input_tokens: int, output_tokens: int, cost_usd: float = 0.0) -> None:
        """Record tokens (and the cost) one model call used."""
        ...

    def spent_since(self, since: float) -> float:
        """Dollars spent on model calls since a time (for the daily budget)."""
        ...

    def running_session(self, task_id: int) -> tuple[int, list[dict[str, Any]]] | None:
        """An unfinished debate session of a task and its completed turns (to resume after a crash)."""
        ...

    def record_model_outcome(
        self, kind: str, model: str, agreed: bool, green: bool, cost_usd: float, latency_ms: float
    ) -> None:
        """Add one task's outcome to a model's record for a kind of task."""
        ...

    def model_stats(self) -> list[dict[str, Any]]:
        """Per (task kind, model): runs, agreed, green, cost and latency totals."""
        ...

    def add_code_version(self, task_id: int, version: dict[str, Any]) -> None:
        """Record a tree agentd tested (base, candidate, final)."""
        ...

    def task_record(self, task_id: int) -> dict[str, Any]:
        """The whole record of a task: sessions, turns, tool calls, versions, usage."""
        ...

    def task_activity(self, task_id: int, after_turn: int, after_call: int, limit: int = 500) -> dict[str, Any]:
        """A task's turns and tool calls with ids above the given ones, oldest first (for live streams)."""
        ...

    def list_sessions(self, limit: int = 50) -> list[dict[str, Any]]:
        """Debate sessions, newest first, with their verdicts and turn and tool-call counts."""
        ...

    def list_agents(self) -> list[dict[str, Any]]:
        """The agents that ever took a turn: name, role, model."""
        ...

    def branch_head(self, repo: str, branch: str) -> str | None:
        """The last head agentd saw on a branch."""
        ...

    def set_branch_head(self, repo: str, branch: str, sha: str) -> None:
        """Remember a branch head as seen."""
        ...

    def remember_delivery(self, delivery_id: str) -> bool:
        """Record a webhook delivery id; False when it was seen before (a replay)."""
        ...

    def forge_comment(self, repo: str, pr: int) -> str | None:
        """The id of agentd's review comment on a pull request, if it posted one."""
        ...

    def set_forge_comment(self, repo: str, pr: int, comment_id: str) -> None:
        """Remember agentd's review comment on a pull request."""
        ...

    def heartbeat(self, owner: str, pid: int) -> None:
        """Say this daemon is alive."""
        ...

    def live_daemons(self, within_s: float) -> list[str]:
        """Owners whose heartbeat is recent."""
        ...

    def counts(self) -> dict[str, int]:
        """Job counts by status."""
        ...

    def stats(self) -> dict[str, Any]:
        """Totals for metrics: jobs, tasks and tool calls by status or decision; tokens and model calls."""
        ...

    def close(self) -> None:
        """Close connections."""
        ...
