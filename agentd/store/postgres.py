"""PostgreSQL backend of the store: one queue shared by many agentd processes on many machines.

Same semantics as agentd.store.sqlite. Where SQLite serialises every write with one file lock,
this backend relies on row locks: `claim_job` takes the oldest free job with `FOR UPDATE SKIP
LOCKED`, and `enqueue` leans on the UNIQUE event key (`ON CONFLICT DO NOTHING`), so concurrent
writers neither block each other on the queue nor double anything. Connections come from the
pool in agentd.store.pool; rows become records through agentd.store.records, as in SQLite.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from importlib import resources
from typing import Any

from psycopg import sql
from psycopg.rows import DictRow

from agentd.kernel.errors import StoreError
from agentd.kernel.events import Event
from agentd.store import records
from agentd.store.base import TASK_DONE_STATES, Lease, Task
from agentd.store.pool import ConnectionPool, Cursor, connect, dsn_target, mask_dsn

__all__ = ["SCHEMA_VERSION", "PostgresStore", "mask_dsn"]  # mask_dsn: still importable from here

SCHEMA_VERSION = 1
# Transaction-scoped advisory lock keys ("agentd" + a suffix): schema creation, capped claims.
_SCHEMA_LOCK = 0x6167656E7464_01
_CLAIM_LOCK = 0x6167656E7464_02


class PostgresStore:
    """The shared store: PostgreSQL through psycopg 3, safe for many processes and threads."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._pool = ConnectionPool(partial(connect, dsn))
        self._create_schema()

    def __repr__(self) -> str:
        return f"PostgresStore({dsn_target(self._dsn)})"

    def _create_schema(self) -> None:
        script = resources.files("agentd.store").joinpath("schema_postgres.sql").read_text(encoding="utf-8")
        with self._tx() as cur:
            cur.execute("SET LOCAL client_min_messages = warning")  # no "already exists" notices
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))  # concurrent CREATE TABLE races
            cur.execute(script)
            cur.execute(
                "INSERT INTO schema_version(version, applied_at) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                (SCHEMA_VERSION, time.time()),
            )
            row = cur.execute("SELECT MAX(version) AS version FROM schema_version").fetchone()
        if row is not None and row["version"] > SCHEMA_VERSION:
            raise StoreError(
                f"the store's schema is version {row['version']}, newer than this agentd's {SCHEMA_VERSION}; "
                "upgrade agentd"
            )

    @contextmanager
    def _tx(self) -> Iterator[Cursor]:
        """One transaction: committed when the block ends, rolled back when it raises."""
        with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            yield cur

    def _one(self, query: str, *args: Any) -> DictRow | None:
        with self._pool.connection() as conn:
            return conn.execute(query, args).fetchone()

    def _all(self, query: str, *args: Any) -> list[DictRow]:
        with self._pool.connection() as conn:
            return conn.execute(query, args).fetchall()

    # ------------------------------------------------------------ queue

    def enqueue(self, event: Event, description: str, base_sha: str | None) -> tuple[int, bool]:
        """Record an event with its task and job; (task_id, created) — False if seen before."""
        now = time.time()
        with self._tx() as cur:
            # Under concurrency the loser of the UNIQUE(key) race waits for the winner's commit,
            # inserts nothing, then reads the winner's task back.
            inserted = cur.execute(
                "INSERT INTO events(key, type, payload, created_at) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (key) DO NOTHING RETURNING id",
                (event.key, event.type, event.model_dump_json(), now),
            ).fetchone()
            if inserted is None:
                seen = cur.execute(
                    "SELECT t.id FROM events e JOIN tasks t ON t.event_id = e.id WHERE e.key = %s", (event.key,)
                ).fetchone()
                if seen is None:
                    raise StoreError(f"event {event.key} is recorded without a task")
                return int(seen["id"]), False
            subject = records.task_subject(event)
            task = cur.execute(
                "INSERT INTO tasks(event_id, kind, subject, description, base_sha, created_at) "
                "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
                (inserted["id"], event.type, subject, description, base_sha, now),
            ).fetchone()
            assert task is not None
            task_id = int(task["id"])
            cur.execute("INSERT INTO jobs(task_id, created_at, updated_at) VALUES (%s, %s, %s)", (task_id, now, now))
            if subject is not None:
                _supersede(cur, subject, task_id)  # one job per PR: a newer head cancels the older ones
        return task_id, True

    def claim_job(self, owner: str, lease_s: float, max_running: int | None = None) -> Lease | None:
        """Lease the oldest queued (or expired) job, or None; at most `max_running` jobs hold live leases."""
        now = time.time()
        with self._tx() as cur:
            if max_running is not None:
                # Counting is only exact when capped claims take turns; the lock ends with the transaction.
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (_CLAIM_LOCK,))
                running = cur.execute(
                    "SELECT COUNT(*) AS n FROM jobs WHERE status = 'running' AND lease_expires >= %s", (now,)
                ).fetchone()
                if running is not None and running["n"] >= max_running:
                    return None
            row = cur.execute(
                "SELECT id, task_id, attempts FROM jobs WHERE (status = 'queued' AND (lease_expires IS NULL "
                "OR lease_expires <= %s)) OR (status = 'running' AND lease_expires < %s) "
                "ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED",
                (now, now),
            ).fetchone()
            if row is None:
                return None
            expires = now + lease_s
            cur.execute(
                "UPDATE jobs SET status = 'running', lease_owner = %s, lease_expires = %s, attempts = attempts + 1, "
                "updated_at = %s WHERE id = %s",
                (owner, expires, now, row["id"]),
            )
            cur.execute("UPDATE tasks SET status = 'running' WHERE id = %s", (row["task_id"],))
            return Lease(int(row["id"]), int(row["task_id"]), owner, expires, int(row["attempts"]) + 1)

    def renew_lease(self, lease: Lease, lease_s: float) -> bool:
        """Extend a lease; False when another worker took the job over or it was asked to stop."""
        with self._tx() as cur:
            cur.execute(
                "UPDATE jobs SET lease_expires = %s WHERE id = %s AND lease_owner = %s AND status = 'running' "
                "AND cancel_requested = 0",
                (time.time() + lease_s, lease.job_id, lease.owner),
            )
            return cur.rowcount == 1

    def supersede(self, subject: str, keep_task_id: int) -> list[int]:
        """Cancel the unfinished tasks of a subject (a PR) other than the newest; returns their ids.

        Queued ones end at once; running ones are asked to stop (their worker sees it on its next
        lease renewal).
        """
        with self._tx() as cur:
            return _supersede(cur, subject, keep_task_id)

    def cancel_requested(self, lease: Lease) -> bool:
        """Whether the job was asked to stop (superseded)."""
        row = self._one("SELECT cancel_requested FROM jobs WHERE id = %s", lease.job_id)
        return bool(row and row["cancel_requested"])

    def release_job(self, lease: Lease, reason: str) -> None:
        """Give a job back to the queue unfinished (daemon stopping)."""
        with self._tx() as cur:
            cur.execute(
                "UPDATE jobs SET status = 'queued', lease_owner = NULL, lease_expires = NULL, error = %s, "
                "attempts = attempts - 1, updated_at = %s WHERE id = %s AND lease_owner = %s",
                (reason, time.time(), lease.job_id, lease.owner),
            )
            if cur.rowcount == 1:  # a worker that lost its lease must not requeue another worker's task
                cur.execute("UPDATE tasks SET status = 'queued' WHERE id = %s", (lease.task_id,))

    def retry_job(self, lease: Lease, error: str, delay_s: float) -> None:
        """Put a failed job back in the queue, not to be claimed before `delay_s` has passed."""
        now = time.time()
        with self._tx() as cur:
            retried = cur.execute(
                "UPDATE jobs SET status = 'queued', lease_owner = NULL, lease_expires = %s, error = %s, "
                "updated_at = %s WHERE id = %s AND lease_owner = %s",
                (now + delay_s, error, now, lease.job_id, lease.owner),
            ).rowcount
            if retried == 1:
                cur.execute("UPDATE tasks SET status = 'queued' WHERE id = %s", (lease.task_id,))

    def finish_job(self, lease: Lease, status: str, error: str | None = None) -> None:
        """Mark a job done or failed."""
        with self._tx() as cur:
            cur.execute(
                "UPDATE jobs SET status = %s, error = %s, lease_expires = NULL, updated_at = %s WHERE id = %s",
                (status, error, time.time(), lease.job_id),
            )

    # ------------------------------------------------------------ tasks

    def update_task(self, task_id: int, **fields: Any) -> None:
        """Set task fields (status, summary, branch, commit_sha, tests_passed, finished_at)."""
        records.check_task_fields(fields)
        assignments = sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(name)) for name in fields)
        # tests_passed is an INTEGER 0/1 column, as in SQLite; psycopg would send a bool as boolean
        values = [int(v) if isinstance(v, bool) else v for v in fields.values()]
        with self._tx() as cur:
            cur.execute(sql.SQL("UPDATE tasks SET {} WHERE id = %s").format(assignments), (*values, task_id))

    def get_task(self, task_id: int) -> Task | None:
        """One task, or None."""
        row = self._one(
            "SELECT t.*, e.payload FROM tasks t JOIN events e ON e.id = t.event_id WHERE t.id = %s", task_id
        )
        return records.task_from_row(row) if row else None

    def list_tasks(self, limit: int = 50, status: str | None = None) -> list[Task]:
        """The newest tasks first, only those in `status` when it is given."""
        rows = self._all(
            "SELECT t.*, e.payload FROM tasks t JOIN events e ON e.id = t.event_id "
            "WHERE %s::TEXT IS NULL OR t.status = %s ORDER BY t.id DESC LIMIT %s",
            status,
            status,
            limit,
        )
        return [records.task_from_row(row) for row in rows]

    def list_history(self, limit: int = 50) -> list[dict[str, Any]]:
        """Finished tasks, latest first, each with its token totals and model calls."""
        rows = self._all(
            "SELECT t.id, t.kind, t.description, t.status, t.branch, t.commit_sha, t.tests_passed, t.created_at, "
            "t.finished_at, COALESCE(u.input_tokens, 0) AS input_tokens, "
            "COALESCE(u.output_tokens, 0) AS output_tokens, COALESCE(u.calls, 0) AS model_calls "
            "FROM tasks t LEFT JOIN (SELECT task_id, SUM(input_tokens) AS input_tokens, "
            "SUM(output_tokens) AS output_tokens, COUNT(*) AS calls FROM usage GROUP BY task_id) u "
            "ON u.task_id = t.id WHERE t.status = ANY(%s) ORDER BY t.finished_at DESC NULLS LAST, t.id DESC LIMIT %s",
            list(TASK_DONE_STATES),
            limit,
        )
        return [records.history_entry(r) for r in rows]

    # ------------------------------------------------------------ debate record

    def start_session(self, task_id: int, protocol: str, strategy: str) -> int:
        """Open a debate session; returns its id."""
        return self._insert(
            "INSERT INTO debate_sessions(task_id, protocol, strategy, created_at) VALUES (%s, %s, %s, %s) RETURNING id",
            (task_id, protocol, strategy, time.time()),
        )

    def finish_session(self, session_id: int, status: str, verdict: dict[str, Any]) -> None:
        """Close a debate session with its verdict."""
        with self._tx() as cur:
            cur.execute(
                "UPDATE debate_sessions SET status = %s, verdict = %s, finished_at = %s WHERE id = %s",
                (status, json.dumps(verdict), time.time(), session_id),
            )

    def add_turn(self, session_id: int, turn: dict[str, Any]) -> int:
        """Record one completed agent turn (written as it happens)."""
        with self._tx() as cur:
            cur.execute(
                "INSERT INTO agents(name, role, model, created_at) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (name) DO NOTHING",
                (turn["agent"], turn["role"], turn["model"], time.time()),
            )
            row = cur.execute(
                "INSERT INTO debate_turns(session_id, seq, agent, role, model, content, submission, status, "
                "input_tokens, output_tokens, latency_ms, created_at) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
                records.turn_params(session_id, turn, time.time()),
            ).fetchone()
        assert row is not None
        return int(row["id"])

    def add_tool_call(self, session_id: int, call: dict[str, Any]) -> int:
        """Record one tool call, allowed or refused (written as it happens)."""
        return self._insert(
            "INSERT INTO tool_calls(session_id, turn_seq, agent, tool, arguments, decision, rule, ok, exit_code, "
            "duration_ms, output, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            records.tool_call_params(session_id, call, time.time()),
        )

    def add_usage(self, task_id: int, model: str, input_tokens: int, output_tokens: int, cost_usd: float = 0.0) -> None:
        """Record tokens (and the cost) one model call used."""
        self._insert(
            "INSERT INTO usage(task_id, model, input_tokens, output_tokens, cost_usd, created_at) "
            "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
            (task_id, model, input_tokens, output_tokens, float(cost_usd), time.time()),
        )

    def spent_since(self, since: float) -> float:
        """Dollars spent on model calls since a time (for the daily budget)."""
        row = self._one("SELECT COALESCE(SUM(cost_usd), 0) AS usd FROM usage WHERE created_at >= %s", since)
        return float(row["usd"]) if row else 0.0

    def running_session(self, task_id: int) -> tuple[int, list[dict[str, Any]]] | None:
        """An unfinished debate session of a task and its completed turns (to resume after a crash)."""
        row = self._one(
            "SELECT id FROM debate_sessions WHERE task_id = %s AND status = 'running' ORDER BY id DESC LIMIT 1",
            task_id,
        )
        if row is None:
            return None
        turns = self._all("SELECT * FROM debate_turns WHERE session_id = %s ORDER BY seq", row["id"])
        return int(row["id"]), [records.turn_from_row(t) for t in turns]

    def record_model_outcome(
        self, kind: str, model: str, agreed: bool, green: bool, cost_usd: float, latency_ms: float
    ) -> None:
        """Add one task's outcome to a model's record for a kind of task."""
        with self._tx() as cur:
            cur.execute(
                "INSERT INTO model_stats AS m(kind, model, runs, agreed, green, cost_usd, latency_ms) "
                "VALUES (%s, %s, 1, %s, %s, %s, %s) ON CONFLICT (kind, model) DO UPDATE SET runs = m.runs + 1, "
                "agreed = m.agreed + excluded.agreed, green = m.green + excluded.green, "
                "cost_usd = m.cost_usd + excluded.cost_usd, latency_ms = m.latency_ms + excluded.latency_ms",
                (kind, model, int(agreed), int(green), float(cost_usd), float(latency_ms)),
            )

    def model_stats(self) -> list[dict[str, Any]]:
        """Per (task kind, model): runs, agreed, green, cost and latency totals."""
        return self._all("SELECT * FROM model_stats ORDER BY kind, model")

    def add_code_version(self, task_id: int, version: dict[str, Any]) -> None:
        """Record a tree agentd tested (base, candidate, final)."""
        self._insert(
            "INSERT INTO code_versions(task_id, kind, sha, diff, tests_passed, test_output, created_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
            records.code_version_params(task_id, version, time.time()),
        )

    def _insert(self, query: str, args: tuple[Any, ...]) -> int:
        """Run one INSERT … RETURNING id in its own transaction."""
        with self._tx() as cur:
            row = cur.execute(query, args).fetchone()
        assert row is not None
        return int(row["id"])

    def task_record(self, task_id: int) -> dict[str, Any]:
        """The whole record of a task: sessions, turns, tool calls, versions, usage."""
        sessions = [
            records.session_record(
                session,
                self._all("SELECT * FROM debate_turns WHERE session_id = %s ORDER BY id", session["id"]),
                self._all("SELECT * FROM tool_calls WHERE session_id = %s ORDER BY id", session["id"]),
            )
            for session in self._all("SELECT * FROM debate_sessions WHERE task_id = %s ORDER BY id", task_id)
        ]
        versions = self._all("SELECT * FROM code_versions WHERE task_id = %s ORDER BY id", task_id)
        usage = self._one(
            "SELECT COALESCE(SUM(input_tokens), 0)::BIGINT AS input_tokens, "
            "COALESCE(SUM(output_tokens), 0)::BIGINT AS output_tokens, COUNT(*) AS calls, "
            "COALESCE(SUM(cost_usd), 0)::DOUBLE PRECISION AS cost_usd FROM usage WHERE task_id = %s",
            task_id,
        )
        job = self._one("SELECT status, attempts, error FROM jobs WHERE task_id = %s", task_id)
        return records.task_record(sessions, versions, usage, job)

    def task_activity(self, task_id: int, after_turn: int, after_call: int, limit: int = 500) -> dict[str, Any]:
        """A task's turns and tool calls with ids above the given ones, oldest first (for live streams)."""
        turns = self._all(
            "SELECT d.* FROM debate_turns d JOIN debate_sessions s ON s.id = d.session_id "
            "WHERE s.task_id = %s AND d.id > %s ORDER BY d.id LIMIT %s",
            task_id,
            after_turn,
            limit,
        )
        calls = self._all(
            "SELECT c.* FROM tool_calls c JOIN debate_sessions s ON s.id = c.session_id "
            "WHERE s.task_id = %s AND c.id > %s ORDER BY c.id LIMIT %s",
            task_id,
            after_call,
            limit,
        )
        return records.task_activity(turns, calls)

    def list_sessions(self, limit: int = 50) -> list[dict[str, Any]]:
        """Debate sessions, newest first, with their verdicts and turn and tool-call counts."""
        rows = self._all(
            "SELECT s.*, (SELECT COUNT(*) FROM debate_turns d WHERE d.session_id = s.id) AS turns, "
            "(SELECT COUNT(*) FROM tool_calls c WHERE c.session_id = s.id) AS tool_calls "
            "FROM debate_sessions s ORDER BY s.id DESC LIMIT %s",
            limit,
        )
        return [records.session_from_row(r) for r in rows]

    def list_agents(self) -> list[dict[str, Any]]:
        """The agents that ever took a turn: name, role, model."""
        return self._all("SELECT name, role, model, created_at FROM agents ORDER BY name")

    # ------------------------------------------------------------ triggers and daemons

    def branch_head(self, repo: str, branch: str) -> str | None:
        """The last head agentd saw on a branch."""
        row = self._one("SELECT sha FROM branch_heads WHERE repo = %s AND branch = %s", repo, branch)
        return str(row["sha"]) if row else None

    def set_branch_head(self, repo: str, branch: str, sha: str) -> None:
        """Remember a branch head as seen."""
        with self._tx() as cur:
            cur.execute(
                "INSERT INTO branch_heads(repo, branch, sha) VALUES (%s, %s, %s) "
                "ON CONFLICT (repo, branch) DO UPDATE SET sha = excluded.sha",
                (repo, branch, sha),
            )

    def remember_delivery(self, delivery_id: str) -> bool:
        """Record a webhook delivery id; False when it was seen before (a replay)."""
        with self._tx() as cur:
            cur.execute(
                "INSERT INTO webhook_deliveries(delivery_id, received_at) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                (delivery_id, time.time()),
            )
            return cur.rowcount == 1

    def forge_comment(self, repo: str, pr: int) -> str | None:
        """The id of agentd's review comment on a pull request, if it posted one."""
        row = self._one("SELECT comment_id FROM forge_comments WHERE repo = %s AND pr = %s", repo, pr)
        return str(row["comment_id"]) if row else None

    def set_forge_comment(self, repo: str, pr: int, comment_id: str) -> None:
        """Remember agentd's review comment on a pull request."""
        with self._tx() as cur:
            cur.execute(
                "INSERT INTO forge_comments(repo, pr, comment_id) VALUES (%s, %s, %s) "
                "ON CONFLICT (repo, pr) DO UPDATE SET comment_id = excluded.comment_id",
                (repo, pr, comment_id),
            )

    def heartbeat(self, owner: str, pid: int) -> None:
        """Say this daemon is alive."""
        with self._tx() as cur:
            cur.execute(
                "INSERT INTO daemons(owner, pid, heartbeat) VALUES (%s, %s, %s) "
                "ON CONFLICT (owner) DO UPDATE SET heartbeat = excluded.heartbeat",
                (owner, pid, time.time()),
            )

    def live_daemons(self, within_s: float) -> list[str]:
        """Owners whose heartbeat is recent."""
        rows = self._all("SELECT owner FROM daemons WHERE heartbeat > %s", time.time() - within_s)
        return [str(row["owner"]) for row in rows]

    def counts(self) -> dict[str, int]:
        """Job counts by status."""
        return records.counts_by(self._all("SELECT status AS k, COUNT(*) AS n FROM jobs GROUP BY status"))

    def stats(self) -> dict[str, Any]:
        """Totals for metrics: jobs, tasks and tool calls by status or decision; tokens and model calls."""
        usage = self._one(
            "SELECT COALESCE(SUM(input_tokens), 0) AS input_tokens, COALESCE(SUM(output_tokens), 0) AS output_tokens, "
            "COUNT(*) AS calls, COALESCE(SUM(cost_usd), 0)::DOUBLE PRECISION AS cost_usd FROM usage"
        )
        assert usage is not None
        return (
            records.stats(
                self._all("SELECT status AS k, COUNT(*) AS n FROM jobs GROUP BY status"),
                self._all("SELECT status AS k, COUNT(*) AS n FROM tasks GROUP BY status"),
                self._all("SELECT decision AS k, COUNT(*) AS n FROM tool_calls GROUP BY decision"),
                usage,
            )
            | self._timings()
        )

    def _timings(self) -> dict[str, Any]:
        """Task durations and sandbox commands, for metrics."""
        done = self._one(
            "SELECT COUNT(*) AS n, COALESCE(SUM(finished_at - created_at), 0)::DOUBLE PRECISION AS seconds FROM tasks "
            "WHERE finished_at IS NOT NULL"
        )
        commands = self._one(
            "SELECT COUNT(*) AS n FROM tool_calls WHERE tool = 'execute_command' AND decision = 'allowed'"
        )
        return {
            "tasks_finished": int(done["n"]) if done else 0,
            "task_seconds": float(done["seconds"]) if done else 0.0,
            "sandbox_commands": int(commands["n"]) if commands else 0,
        }

    def close(self) -> None:
        """Close the pooled connections."""
        self._pool.close()


def _supersede(cur: Cursor, subject: str, keep_task_id: int) -> list[int]:
    """Inside the caller's transaction: cancel the subject's other queued jobs, ask running ones to stop."""
    # FOR UPDATE: a job a worker claims meanwhile is seen as running (asked to stop), never cancelled under it.
    rows = cur.execute(
        "SELECT t.id AS task_id, j.id AS job_id, j.status FROM tasks t JOIN jobs j ON j.task_id = t.id "
        "WHERE t.subject = %s AND t.id <> %s AND j.status IN ('queued', 'running') ORDER BY j.id FOR UPDATE OF j",
        (subject, keep_task_id),
    ).fetchall()
    now = time.time()
    for row in rows:
        if row["status"] == "queued":
            cur.execute("UPDATE jobs SET status = 'cancelled', updated_at = %s WHERE id = %s", (now, row["job_id"]))
            cur.execute(
                "UPDATE tasks SET status = 'superseded', finished_at = %s, summary = %s WHERE id = %s",
                (now, f"superseded by task {keep_task_id}", row["task_id"]),
            )
        else:
            cur.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = %s", (row["job_id"],))
    return [int(row["task_id"]) for row in rows]
