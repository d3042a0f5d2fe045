"""The store over any `Database`: each method of the Queue, Recorder and Views, written once for both backends.

Every write that belongs together runs in one `Database.transaction()`. What SQLite and PostgreSQL
do differently (parameters, row locks, connections) comes from the backend's Database and Dialect.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from importlib import resources
from typing import Any

from agentd.kernel.errors import StoreError
from agentd.kernel.events import Event
from agentd.store import queries as q
from agentd.store import records, rows
from agentd.store.base import Ancestry
from agentd.store.dialect import Database
from agentd.store.enqueue import STOPPED, enqueue_in
from agentd.store.rows import Row

TAKEN_OVER = "the previous attempt's worker stopped renewing its lease (killed, or cut off from the store)"


def schema_script() -> str:
    """The schema, as written (SQLite's dialect)."""
    return resources.files("agentd.store").joinpath("schema.sql").read_text(encoding="utf-8")


class SQLStore:
    """agentd's Store over a backend's Database (see agentd.store.base for what each method promises)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        db.create_schema(db.dialect.schema(schema_script()))
        with db.transaction() as tx:
            tx.run(q.RECORD_SCHEMA_VERSION, version=q.SCHEMA_VERSION, now=time.time())
            newest = tx.one(q.NEWEST_SCHEMA_VERSION)
        if newest is not None and newest["version"] > q.SCHEMA_VERSION:
            raise StoreError(
                f"the store's schema is version {newest['version']}, newer than this agentd's {q.SCHEMA_VERSION}; "
                "upgrade agentd"
            )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._db!r})"

    def _one(self, query: str, **params: Any) -> Row | None:
        with self._db.reading() as tx:
            return tx.one(query, **params)

    def _all(self, query: str, **params: Any) -> list[Row]:
        with self._db.reading() as tx:
            return tx.all(query, **params)

    def _write(self, query: str, **params: Any) -> int:
        """Run one statement in a transaction of its own; the rows it changed."""
        with self._db.transaction() as tx:
            return tx.run(query, **params)

    def _insert(self, query: str, **params: Any) -> int:
        """Run one INSERT … RETURNING id in a transaction of its own; the new id."""
        with self._db.transaction() as tx:
            row = tx.one(query, **params)
        assert row is not None
        return int(row["id"])

    def close(self) -> None:
        """Close the connections."""
        self._db.close()

    # ------------------------------------------------------------ queue

    def enqueue(
        self,
        event: Event,
        description: str,
        base_sha: str | None,
        *,
        ancestry: Ancestry | None = None,
        revive: bool = False,
    ) -> tuple[int, bool]:
        """Record an event with its task and job; (task_id, created) — False if seen before (and not revived)."""
        with self._db.transaction() as tx:
            return enqueue_in(tx, event, description, base_sha, ancestry, revive, time.time())

    def accept_delivery(
        self,
        delivery_id: str,
        event: Event | None,
        description: str,
        base_sha: str | None,
        *,
        ancestry: Ancestry | None = None,
    ) -> records.Delivery:
        """Remember a webhook delivery and enqueue its event in one transaction; `duplicate` when seen before."""
        now = time.time()
        with self._db.transaction() as tx:
            if tx.run(q.REMEMBER_DELIVERY, delivery_id=delivery_id, now=now) != 1:
                return records.Delivery(duplicate=True)
            if event is None:
                return records.Delivery(duplicate=False)
            task_id, created = enqueue_in(tx, event, description, base_sha, ancestry, False, now)
            return records.Delivery(duplicate=False, task_id=task_id, created=created)

    def claim_job(self, owner: str, lease_s: float, max_running: int | None = None) -> records.Lease | None:
        """Lease the oldest queued (or expired) job, or None; at most `max_running` jobs hold live leases."""
        now = time.time()
        with self._db.transaction() as tx:
            if max_running is not None:
                if self._db.dialect.claim_lock:
                    tx.run(self._db.dialect.claim_lock)  # counting is only exact when capped claims take turns
                running = tx.one(q.LIVE_LEASES, now=now)
                if running is not None and running["n"] >= max_running:
                    return None
            while (row := tx.one(q.CLAIMABLE_JOB, now=now)) is not None:
                if row["cancel_requested"]:
                    # superseded while its worker was gone: it ends here instead of running to its first renewal
                    tx.run(q.CANCEL_JOB, now=now, job_id=row["id"])
                    tx.run(q.SUPERSEDE_TASK, now=now, summary=STOPPED, task_id=row["task_id"])
                    continue
                expires = now + lease_s
                tx.run(q.LEASE_JOB, owner=owner, expires=expires, now=now, job_id=row["id"], taken_over=TAKEN_OVER)
                tx.run(q.SET_TASK_STATUS, status="running", task_id=row["task_id"])
                return records.Lease(int(row["id"]), int(row["task_id"]), owner, expires, int(row["attempts"]) + 1)
        return None

    def renew_lease(self, lease: records.Lease, lease_s: float) -> bool:
        """Extend a lease; False when another worker took the job over or it was asked to stop."""
        renewed = self._write(q.RENEW_LEASE, expires=time.time() + lease_s, job_id=lease.job_id, owner=lease.owner)
        return renewed == 1

    def cancel_requested(self, lease: records.Lease) -> bool:
        """Whether the job was asked to stop (superseded)."""
        row = self._one(q.CANCEL_REQUESTED, job_id=lease.job_id)
        return bool(row and row["cancel_requested"])

    def release_job(self, lease: records.Lease, reason: str) -> None:
        """Give a job back to the queue unfinished (daemon stopping)."""
        self._requeue(lease, q.RELEASE_JOB, error=reason)

    def retry_job(self, lease: records.Lease, error: str, delay_s: float) -> None:
        """Put a failed job back in the queue, not to be claimed before `delay_s` has passed."""
        self._requeue(lease, q.RETRY_JOB, error=error, not_before=time.time() + delay_s)

    def _requeue(self, lease: records.Lease, query: str, **params: Any) -> None:
        with self._db.transaction() as tx:
            if tx.run(query, job_id=lease.job_id, owner=lease.owner, now=time.time(), **params) == 1:
                # only the worker that still holds the job may put its task back
                tx.run(q.SET_TASK_STATUS, status="queued", task_id=lease.task_id)

    def finish_job(self, lease: records.Lease, status: str, error: str | None = None) -> bool:
        """Mark a job done, cancelled or dead; False (and nothing changed) unless `lease` still holds it."""
        params = {"status": status, "error": error, "now": time.time(), "job_id": lease.job_id, "owner": lease.owner}
        return self._write(q.FINISH_JOB, **params) == 1

    def end_task(self, lease: records.Lease, **fields: Any) -> bool:
        """Record a task's end; False (and nothing changed) when the lease is lost or the job was asked to stop."""
        query = q.update_task(fields, fenced=True)
        params = rows.task_field_params(fields)
        return self._write(query, task_id=lease.task_id, job_id=lease.job_id, owner=lease.owner, **params) == 1

    def update_task(self, task_id: int, **fields: Any) -> None:
        """Set task fields (status, summary, branch, commit_sha, tests_passed, finished_at, base_sha)."""
        self._write(q.update_task(fields), task_id=task_id, **rows.task_field_params(fields))

    def heartbeat(self, owner: str, pid: int) -> None:
        """Say this daemon is alive."""
        self._write(q.HEARTBEAT, owner=owner, pid=pid, now=time.time())

    def live_daemons(self, within_s: float) -> list[str]:
        """Owners whose heartbeat is recent."""
        return [str(row["owner"]) for row in self._all(q.LIVE_DAEMONS, since=time.time() - within_s)]

    def made_by_agentd(self, sha: str) -> bool:
        """Whether agentd committed `sha` itself (a task recorded it), whatever its message says."""
        return self._one(q.PUBLISHED_COMMIT, sha=sha) is not None

    def branch_head(self, repo: str, branch: str) -> str | None:
        """The last head agentd saw on a branch."""
        row = self._one(q.BRANCH_HEAD, repo=repo, branch=branch)
        return str(row["sha"]) if row else None

    def set_branch_head(self, repo: str, branch: str, sha: str) -> None:
        """Remember a branch head as seen."""
        self._write(q.SET_BRANCH_HEAD, repo=repo, branch=branch, sha=sha)

    # ------------------------------------------------------------ housekeeping

    def prune(self, tool_calls_before: float, deliveries_before: float) -> dict[str, int]:
        """Delete finished tasks' tool calls and webhook delivery ids older than the given times; rows deleted."""
        with self._db.transaction() as tx:
            calls = tx.run(q.PRUNE_TOOL_CALLS, before=tool_calls_before)
            deliveries = tx.run(q.PRUNE_DELIVERIES, before=deliveries_before)
        return {"tool_calls": calls, "webhook_deliveries": deliveries}

    def held_tasks(self) -> set[int]:
        """Tasks whose job a worker holds a live lease on now (their caches and worktrees are in use)."""
        return {int(row["task_id"]) for row in self._all(q.HELD_TASKS, now=time.time())}

    # ------------------------------------------------------------ recorder

    def start_session(self, task_id: int, protocol: str, strategy: str) -> int:
        """Open a debate session; returns its id."""
        return self._insert(q.INSERT_SESSION, task_id=task_id, protocol=protocol, strategy=strategy, now=time.time())

    def finish_session(self, session_id: int, status: str, verdict: Mapping[str, Any]) -> None:
        """Close a debate session with its verdict."""
        self._write(
            q.FINISH_SESSION, status=status, verdict=json.dumps(verdict), now=time.time(), session_id=session_id
        )

    def running_session(self, task_id: int) -> tuple[int, list[records.Turn]] | None:
        """An unfinished debate session of a task and its completed turns (to resume after a crash)."""
        row = self._one(q.RUNNING_SESSION, task_id=task_id)
        if row is None:
            return None
        turns = self._all(q.TURNS_IN_ORDER, session_id=row["id"])
        return int(row["id"]), [rows.turn_from_row(t) for t in turns]

    def add_turn(self, session_id: int, turn: Mapping[str, Any]) -> int:
        """Record one completed agent turn (written as it happens)."""
        params = rows.turn_params(session_id, turn, time.time())
        with self._db.transaction() as tx:
            tx.run(q.INSERT_AGENT, **params)
            row = tx.one(q.INSERT_TURN, **params)
        assert row is not None
        return int(row["id"])

    def add_tool_call(self, session_id: int, call: Mapping[str, Any]) -> int:
        """Record one tool call, allowed or refused (written as it happens)."""
        return self._insert(q.INSERT_TOOL_CALL, **rows.tool_call_params(session_id, call, time.time()))

    def add_span(self, task_id: int, span: Mapping[str, Any]) -> None:
        """Record one finished span of a task's job (agentd.kernel.trace writes them as they end)."""
        self._insert(q.INSERT_SPAN, task_id=task_id, **span)

    def task_spans(self, task_id: int) -> list[records.Span]:
        """A task's spans, earliest first: its phase timeline."""
        return [rows.span_from_row(row) for row in self._all(q.SPANS_OF_TASK, task_id=task_id)]

    def add_usage(self, task_id: int, model: str, input_tokens: int, output_tokens: int, cost_usd: float = 0.0) -> None:
        """Record tokens (and the cost) one model call used."""
        self._insert(
            q.INSERT_USAGE,
            task_id=task_id,
            model=model,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cost_usd=float(cost_usd),
            now=time.time(),
        )

    def spent_since(self, since: float) -> float:
        """Dollars spent on model calls since a time (for the daily budget)."""
        row = self._one(q.SPENT_SINCE, since=since)
        return float(row["usd"]) if row else 0.0

    def add_code_version(self, task_id: int, version: Mapping[str, Any]) -> None:
        """Record a tree agentd tested (base, candidate, final)."""
        self._insert(q.INSERT_CODE_VERSION, **rows.code_version_params(task_id, version, time.time()))

    def record_model_outcome(
        self, kind: str, model: str, agreed: bool, green: bool, cost_usd: float, latency_ms: float
    ) -> None:
        """Add one task's outcome to a model's record for a kind of task."""
        self._write(
            q.ADD_MODEL_OUTCOME,
            kind=kind,
            model=model,
            agreed=int(agreed),
            green=int(green),
            cost_usd=float(cost_usd),
            latency_ms=float(latency_ms),
        )

    def forge_comment(self, repo: str, pr: int) -> str | None:
        """The id of agentd's review comment on a pull request, if it posted one."""
        row = self._one(q.FORGE_COMMENT, repo=repo, pr=pr)
        return str(row["comment_id"]) if row else None

    def set_forge_comment(self, repo: str, pr: int, comment_id: str) -> None:
        """Remember agentd's review comment on a pull request."""
        self._write(q.SET_FORGE_COMMENT, repo=repo, pr=pr, comment_id=comment_id)

    def set_eval_result(self, key: str, task_id: int | None, record: Mapping[str, Any]) -> None:
        """Record (or replace) the scored result of one `agentd eval run` attempt."""
        self._write(q.SET_EVAL_RESULT, key=key, task_id=task_id, record=json.dumps(record), now=time.time())

    def eval_results(self) -> dict[str, dict[str, Any]]:
        """Every recorded eval result by its key (an eval run skips these when it resumes)."""
        return {str(row["key"]): json.loads(row["record"]) for row in self._all(q.EVAL_RESULTS)}

    def record_review(self, task_id: int, review: Mapping[str, Any]) -> None:
        """Keep what the task's review covered and found (plain JSON), replacing what was kept before."""
        self._write(q.SET_TASK_REVIEW, task_id=task_id, review=json.dumps(review), now=time.time())

    def posted_findings(self, repo: str, pr: int) -> set[str]:
        """Fingerprints of the findings agentd posted on a pull request."""
        return {str(row["fingerprint"]) for row in self._all(q.POSTED_FINDINGS, repo=repo, pr=pr)}

    def remember_findings(self, repo: str, pr: int, fingerprints: Iterable[str]) -> None:
        """Add fingerprints just posted on a pull request (idempotent), all in one transaction."""
        now = time.time()
        with self._db.transaction() as tx:
            for fingerprint in sorted(set(fingerprints)):
                tx.run(q.REMEMBER_FINDING, repo=repo, pr=pr, fingerprint=fingerprint, now=now)

    # ------------------------------------------------------------ views

    def task_review(self, task_id: int) -> dict[str, Any] | None:
        """What the task's review covered and found, or None."""
        row = self._one(q.TASK_REVIEW, task_id=task_id)
        return dict(json.loads(row["review"])) if row else None

    def get_task(self, task_id: int) -> records.Task | None:
        """One task, or None."""
        row = self._one(q.TASK, task_id=task_id)
        return rows.task_from_row(row) if row else None

    def list_tasks(self, limit: int = 50, status: str | None = None) -> list[records.Task]:
        """The newest tasks first, only those in `status` when it is given."""
        return [rows.task_from_row(row) for row in self._all(q.TASKS, status=status, limit=limit)]

    def list_history(self, limit: int = 50) -> list[records.HistoryEntry]:
        """Finished tasks, latest first, each with its token totals and model calls."""
        return [rows.history_entry(row) for row in self._all(q.HISTORY, limit=limit)]

    def task_record(self, task_id: int) -> records.TaskRecord:
        """The whole record of a task: sessions, turns, tool calls, versions, usage, job."""
        with self._db.reading() as tx:
            sessions = [
                rows.session_record(
                    session,
                    tx.all(q.TURNS_OF_SESSION, session_id=session["id"]),
                    tx.all(q.TOOL_CALLS_OF_SESSION, session_id=session["id"]),
                )
                for session in tx.all(q.SESSIONS_OF_TASK, task_id=task_id)
            ]
            versions = tx.all(q.VERSIONS_OF_TASK, task_id=task_id)
            usage = tx.one(q.USAGE_OF_TASK, task_id=task_id)
            job = tx.one(q.JOB_OF_TASK, task_id=task_id)
        return rows.task_record(sessions, versions, usage, job)

    def task_activity(self, task_id: int, after_turn: int, after_call: int, limit: int = 500) -> records.Activity:
        """A task's turns and tool calls with ids above the given ones, oldest first (for live streams)."""
        with self._db.reading() as tx:
            turns = tx.all(q.TURNS_AFTER, task_id=task_id, after=after_turn, limit=limit)
            calls = tx.all(q.TOOL_CALLS_AFTER, task_id=task_id, after=after_call, limit=limit)
        return records.Activity(
            tuple(rows.turn_from_row(t) for t in turns), tuple(rows.tool_call_from_row(c) for c in calls)
        )

    def list_sessions(self, limit: int = 50) -> list[records.SessionSummary]:
        """Debate sessions, newest first, with their verdicts and turn and tool-call counts."""
        return [rows.session_summary(row) for row in self._all(q.SESSIONS, limit=limit)]

    def list_agents(self) -> list[records.Agent]:
        """The agents that ever took a turn: name, role, model."""
        return [rows.pick(records.Agent, row) for row in self._all(q.AGENTS)]

    def model_stats(self) -> list[records.ModelOutcomes]:
        """Per (task kind, model): runs, agreed, green, cost and latency totals."""
        return [rows.model_outcomes(row) for row in self._all(q.MODEL_STATS)]

    def counts(self) -> dict[str, int]:
        """Job counts by status."""
        return rows.counts_by(self._all(q.JOBS_BY_STATUS))

    def stats(self) -> records.Stats:
        """Totals for metrics: jobs, tasks and tool calls by status or decision; tokens and model calls."""
        with self._db.reading() as tx:
            grouped = {
                "jobs": tx.all(q.JOBS_BY_STATUS),
                "tasks": tx.all(q.TASKS_BY_STATUS),
                "tool_calls": tx.all(q.TOOL_CALLS_BY_DECISION),
            }
            usage, finished, commands = tx.one(q.USAGE), tx.one(q.FINISHED_TASKS), tx.one(q.SANDBOX_COMMANDS)
        assert usage is not None
        assert finished is not None
        assert commands is not None
        return rows.stats(grouped, usage, finished, commands)
