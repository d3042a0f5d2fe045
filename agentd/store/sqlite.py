"""SQLite backend of the store: one file, WAL mode, one connection guarded by a lock."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from agentd.kernel.events import Event
from agentd.store import records
from agentd.store.base import TASK_DONE_STATES, Lease, Task

_DONE_IN = ", ".join(f"'{state}'" for state in TASK_DONE_STATES)


def _supersede(db: sqlite3.Connection, subject: str, keep_task_id: int) -> list[int]:
    """Inside a transaction: end the subject's other queued jobs, ask its running ones to stop."""
    rows = db.execute(
        "SELECT t.id AS task_id, j.id AS job_id, j.status FROM tasks t JOIN jobs j ON j.task_id = t.id "
        "WHERE t.subject = ? AND t.id != ? AND j.status IN ('queued', 'running')",
        (subject, keep_task_id),
    ).fetchall()
    now = time.time()
    for row in rows:
        if row["status"] == "queued":
            db.execute("UPDATE jobs SET status = 'cancelled', updated_at = ? WHERE id = ?", (now, row["job_id"]))
            db.execute(
                "UPDATE tasks SET status = 'superseded', finished_at = ?, summary = ? WHERE id = ?",
                (now, f"superseded by task {keep_task_id}", row["task_id"]),
            )
        else:
            db.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ?", (row["job_id"],))
    return [int(row["task_id"]) for row in rows]


class SQLiteStore:
    """The default store: a SQLite file under the state directory."""

    def __init__(self, path: str) -> None:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(resources.files("agentd.store").joinpath("schema.sql").read_text(encoding="utf-8"))

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _one(self, sql: str, *args: Any) -> dict[str, Any] | None:
        with self._lock:
            row: sqlite3.Row | None = self._db.execute(sql, args).fetchone()
            return dict(row) if row is not None else None

    def _all(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(row) for row in self._db.execute(sql, args).fetchall()]

    # ------------------------------------------------------------ queue

    def enqueue(self, event: Event, description: str, base_sha: str | None) -> tuple[int, bool]:
        """Record an event with its task and job; (task_id, created) — False if seen before."""
        now = time.time()
        with self._tx() as db:
            seen = db.execute(
                "SELECT t.id FROM events e JOIN tasks t ON t.event_id = e.id WHERE e.key = ?", (event.key,)
            ).fetchone()
            if seen:
                return int(seen["id"]), False
            event_id = db.execute(
                "INSERT INTO events(key, type, payload, created_at) VALUES (?, ?, ?, ?)",
                (event.key, event.type, event.model_dump_json(), now),
            ).lastrowid
            subject = records.task_subject(event)
            task_id = db.execute(
                "INSERT INTO tasks(event_id, kind, subject, description, base_sha, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (event_id, event.type, subject, description, base_sha, now),
            ).lastrowid
            db.execute("INSERT INTO jobs(task_id, created_at, updated_at) VALUES (?, ?, ?)", (task_id, now, now))
            assert task_id is not None
            if subject is not None:
                _supersede(db, subject, task_id)  # one job per PR: a newer head cancels the older ones
        return task_id, True

    def claim_job(self, owner: str, lease_s: float, max_running: int | None = None) -> Lease | None:
        """Lease the oldest queued (or expired) job, or None; at most `max_running` jobs hold live leases."""
        now = time.time()
        with self._tx() as db:
            if max_running is not None:
                running = db.execute(
                    "SELECT COUNT(*) FROM jobs WHERE status = 'running' AND lease_expires >= ?", (now,)
                ).fetchone()[0]
                if running >= max_running:
                    return None
            row = db.execute(
                "SELECT id, task_id, attempts FROM jobs WHERE (status = 'queued' AND (lease_expires IS NULL "
                "OR lease_expires <= ?)) OR (status = 'running' AND lease_expires < ?) ORDER BY id LIMIT 1",
                (now, now),
            ).fetchone()
            if row is None:
                return None
            expires = now + lease_s
            db.execute(
                "UPDATE jobs SET status = 'running', lease_owner = ?, lease_expires = ?, attempts = attempts + 1, "
                "updated_at = ? WHERE id = ?",
                (owner, expires, now, row["id"]),
            )
            db.execute("UPDATE tasks SET status = 'running' WHERE id = ?", (row["task_id"],))
            return Lease(row["id"], row["task_id"], owner, expires, row["attempts"] + 1)

    def renew_lease(self, lease: Lease, lease_s: float) -> bool:
        """Extend a lease; False when another worker took the job over."""
        with self._tx() as db:
            cursor = db.execute(
                "UPDATE jobs SET lease_expires = ? WHERE id = ? AND lease_owner = ? AND status = 'running' "
                "AND cancel_requested = 0",
                (time.time() + lease_s, lease.job_id, lease.owner),
            )
            return cursor.rowcount == 1

    def supersede(self, subject: str, keep_task_id: int) -> list[int]:
        """Cancel the unfinished tasks of a subject (a PR) other than the newest; returns their ids.

        Queued ones end at once; running ones are asked to stop (their worker sees it on its next
        lease renewal).
        """
        with self._tx() as db:
            return _supersede(db, subject, keep_task_id)

    def cancel_requested(self, lease: Lease) -> bool:
        """Whether the job was asked to stop (superseded)."""
        row = self._one("SELECT cancel_requested FROM jobs WHERE id = ?", lease.job_id)
        return bool(row and row["cancel_requested"])

    def release_job(self, lease: Lease, reason: str) -> None:
        """Give a job back to the queue unfinished (daemon stopping)."""
        with self._tx() as db:
            released = db.execute(
                "UPDATE jobs SET status = 'queued', lease_owner = NULL, lease_expires = NULL, error = ?, "
                "attempts = attempts - 1, updated_at = ? WHERE id = ? AND lease_owner = ?",
                (reason, time.time(), lease.job_id, lease.owner),
            ).rowcount
            if released == 1:  # only the worker that still holds the job may put its task back
                db.execute("UPDATE tasks SET status = 'queued' WHERE id = ?", (lease.task_id,))

    def retry_job(self, lease: Lease, error: str, delay_s: float) -> None:
        """Put a failed job back in the queue, not to be claimed before `delay_s` has passed."""
        now = time.time()
        with self._tx() as db:
            retried = db.execute(
                "UPDATE jobs SET status = 'queued', lease_owner = NULL, lease_expires = ?, error = ?, updated_at = ? "
                "WHERE id = ? AND lease_owner = ?",
                (now + delay_s, error, now, lease.job_id, lease.owner),
            ).rowcount
            if retried == 1:
                db.execute("UPDATE tasks SET status = 'queued' WHERE id = ?", (lease.task_id,))

    def finish_job(self, lease: Lease, status: str, error: str | None = None) -> None:
        """Mark a job done or failed."""
        with self._tx() as db:
            db.execute(
                "UPDATE jobs SET status = ?, error = ?, lease_expires = NULL, updated_at = ? WHERE id = ?",
                (status, error, time.time(), lease.job_id),
            )

    # ------------------------------------------------------------ tasks

    def update_task(self, task_id: int, **fields: Any) -> None:
        """Set task fields (status, summary, branch, commit_sha, tests_passed, finished_at)."""
        records.check_task_fields(fields)
        assignments = ", ".join(f"{name} = ?" for name in fields)
        with self._tx() as db:
            db.execute(f"UPDATE tasks SET {assignments} WHERE id = ?", (*fields.values(), task_id))

    def get_task(self, task_id: int) -> Task | None:
        """One task, or None."""
        row = self._one("SELECT t.*, e.payload FROM tasks t JOIN events e ON e.id = t.event_id WHERE t.id = ?", task_id)
        return records.task_from_row(row) if row else None

    def list_tasks(self, limit: int = 50, status: str | None = None) -> list[Task]:
        """The newest tasks first, only those in `status` when it is given."""
        where, args = ("WHERE t.status = ? ", (status,)) if status is not None else ("", ())
        rows = self._all(
            f"SELECT t.*, e.payload FROM tasks t JOIN events e ON e.id = t.event_id {where}ORDER BY t.id DESC LIMIT ?",
            *args,
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
            f"ON u.task_id = t.id WHERE t.status IN ({_DONE_IN}) ORDER BY t.finished_at DESC, t.id DESC LIMIT ?",
            limit,
        )
        return [records.history_entry(r) for r in rows]

    # ------------------------------------------------------------ debate record

    def start_session(self, task_id: int, protocol: str, strategy: str) -> int:
        """Open a debate session; returns its id."""
        with self._tx() as db:
            session_id = db.execute(
                "INSERT INTO debate_sessions(task_id, protocol, strategy, created_at) VALUES (?, ?, ?, ?)",
                (task_id, protocol, strategy, time.time()),
            ).lastrowid
        assert session_id is not None
        return session_id

    def finish_session(self, session_id: int, status: str, verdict: dict[str, Any]) -> None:
        """Close a debate session with its verdict."""
        with self._tx() as db:
            db.execute(
                "UPDATE debate_sessions SET status = ?, verdict = ?, finished_at = ? WHERE id = ?",
                (status, json.dumps(verdict), time.time(), session_id),
            )

    def add_turn(self, session_id: int, turn: dict[str, Any]) -> int:
        """Record one completed agent turn (written as it happens)."""
        with self._tx() as db:
            db.execute(
                "INSERT OR IGNORE INTO agents(name, role, model, created_at) VALUES (?, ?, ?, ?)",
                (turn["agent"], turn["role"], turn["model"], time.time()),
            )
            turn_id = db.execute(
                "INSERT INTO debate_turns(session_id, seq, agent, role, model, content, submission, status, "
                "input_tokens, output_tokens, latency_ms, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                records.turn_params(session_id, turn, time.time()),
            ).lastrowid
        assert turn_id is not None
        return turn_id

    def add_tool_call(self, session_id: int, call: dict[str, Any]) -> int:
        """Record one tool call, allowed or refused (written as it happens)."""
        with self._tx() as db:
            call_id = db.execute(
                "INSERT INTO tool_calls(session_id, turn_seq, agent, tool, arguments, decision, rule, ok, exit_code, "
                "duration_ms, output, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                records.tool_call_params(session_id, call, time.time()),
            ).lastrowid
        assert call_id is not None
        return call_id

    def add_usage(self, task_id: int, model: str, input_tokens: int, output_tokens: int, cost_usd: float = 0.0) -> None:
        """Record tokens (and the cost) one model call used."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO usage(task_id, model, input_tokens, output_tokens, cost_usd, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (task_id, model, input_tokens, output_tokens, cost_usd, time.time()),
            )

    def spent_since(self, since: float) -> float:
        """Dollars spent on model calls since a time (for the daily budget)."""
        row = self._one("SELECT COALESCE(SUM(cost_usd), 0) AS usd FROM usage WHERE created_at >= ?", since)
        return float(row["usd"]) if row else 0.0

    def running_session(self, task_id: int) -> tuple[int, list[dict[str, Any]]] | None:
        """An unfinished debate session of a task and its completed turns (to resume after a crash)."""
        row = self._one(
            "SELECT id FROM debate_sessions WHERE task_id = ? AND status = 'running' ORDER BY id DESC LIMIT 1", task_id
        )
        if row is None:
            return None
        turns = self._all("SELECT * FROM debate_turns WHERE session_id = ? ORDER BY seq", row["id"])
        return int(row["id"]), [records.turn_from_row(t) for t in turns]

    def record_model_outcome(
        self, kind: str, model: str, agreed: bool, green: bool, cost_usd: float, latency_ms: float
    ) -> None:
        """Add one task's outcome to a model's record for a kind of task."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO model_stats(kind, model, runs, agreed, green, cost_usd, latency_ms) "
                "VALUES (?, ?, 1, ?, ?, ?, ?) ON CONFLICT(kind, model) DO UPDATE SET runs = runs + 1, "
                "agreed = agreed + excluded.agreed, green = green + excluded.green, "
                "cost_usd = cost_usd + excluded.cost_usd, latency_ms = latency_ms + excluded.latency_ms",
                (kind, model, int(agreed), int(green), cost_usd, latency_ms),
            )

    def model_stats(self) -> list[dict[str, Any]]:
        """Per (task kind, model): runs, agreed, green, cost and latency totals."""
        return self._all("SELECT * FROM model_stats ORDER BY kind, model")

    def add_code_version(self, task_id: int, version: dict[str, Any]) -> None:
        """Record a tree agentd tested (base, candidate, final)."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO code_versions(task_id, kind, sha, diff, tests_passed, test_output, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                records.code_version_params(task_id, version, time.time()),
            )

    def task_record(self, task_id: int) -> dict[str, Any]:
        """The whole record of a task: sessions, turns, tool calls, versions, usage."""
        sessions = [
            records.session_record(
                session,
                self._all("SELECT * FROM debate_turns WHERE session_id = ? ORDER BY id", session["id"]),
                self._all("SELECT * FROM tool_calls WHERE session_id = ? ORDER BY id", session["id"]),
            )
            for session in self._all("SELECT * FROM debate_sessions WHERE task_id = ? ORDER BY id", task_id)
        ]
        versions = self._all("SELECT * FROM code_versions WHERE task_id = ? ORDER BY id", task_id)
        usage = self._one(
            "SELECT COALESCE(SUM(input_tokens), 0) AS input_tokens, COALESCE(SUM(output_tokens), 0) AS output_tokens, "
            "COUNT(*) AS calls, COALESCE(SUM(cost_usd), 0) AS cost_usd FROM usage WHERE task_id = ?",
            task_id,
        )
        job = self._one("SELECT status, attempts, error FROM jobs WHERE task_id = ?", task_id)
        return records.task_record(sessions, versions, usage, job)

    def task_activity(self, task_id: int, after_turn: int, after_call: int, limit: int = 500) -> dict[str, Any]:
        """A task's turns and tool calls with ids above the given ones, oldest first (for live streams)."""
        turns = self._all(
            "SELECT d.* FROM debate_turns d JOIN debate_sessions s ON s.id = d.session_id "
            "WHERE s.task_id = ? AND d.id > ? ORDER BY d.id LIMIT ?",
            task_id,
            after_turn,
            limit,
        )
        calls = self._all(
            "SELECT c.* FROM tool_calls c JOIN debate_sessions s ON s.id = c.session_id "
            "WHERE s.task_id = ? AND c.id > ? ORDER BY c.id LIMIT ?",
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
            "FROM debate_sessions s ORDER BY s.id DESC LIMIT ?",
            limit,
        )
        return [records.session_from_row(r) for r in rows]

    def list_agents(self) -> list[dict[str, Any]]:
        """The agents that ever took a turn: name, role, model."""
        return self._all("SELECT name, role, model, created_at FROM agents ORDER BY name")

    # ------------------------------------------------------------ triggers and daemons

    def branch_head(self, repo: str, branch: str) -> str | None:
        """The last head agentd saw on a branch."""
        row = self._one("SELECT sha FROM branch_heads WHERE repo = ? AND branch = ?", repo, branch)
        return str(row["sha"]) if row else None

    def set_branch_head(self, repo: str, branch: str, sha: str) -> None:
        """Remember a branch head as seen."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO branch_heads(repo, branch, sha) VALUES (?, ?, ?) "
                "ON CONFLICT(repo, branch) DO UPDATE SET sha = excluded.sha",
                (repo, branch, sha),
            )

    def remember_delivery(self, delivery_id: str) -> bool:
        """Record a webhook delivery id; False when it was seen before (a replay)."""
        with self._tx() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO webhook_deliveries(delivery_id, received_at) VALUES (?, ?)",
                (delivery_id, time.time()),
            )
            return cursor.rowcount == 1

    def forge_comment(self, repo: str, pr: int) -> str | None:
        """The id of agentd's review comment on a pull request, if it posted one."""
        row = self._one("SELECT comment_id FROM forge_comments WHERE repo = ? AND pr = ?", repo, pr)
        return str(row["comment_id"]) if row else None

    def set_forge_comment(self, repo: str, pr: int, comment_id: str) -> None:
        """Remember agentd's review comment on a pull request."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO forge_comments(repo, pr, comment_id) VALUES (?, ?, ?) "
                "ON CONFLICT(repo, pr) DO UPDATE SET comment_id = excluded.comment_id",
                (repo, pr, comment_id),
            )

    def heartbeat(self, owner: str, pid: int) -> None:
        """Say this daemon is alive."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO daemons(owner, pid, heartbeat) VALUES (?, ?, ?) "
                "ON CONFLICT(owner) DO UPDATE SET heartbeat = excluded.heartbeat",
                (owner, pid, time.time()),
            )

    def live_daemons(self, within_s: float) -> list[str]:
        """Owners whose heartbeat is recent."""
        rows = self._all("SELECT owner FROM daemons WHERE heartbeat > ?", time.time() - within_s)
        return [str(row["owner"]) for row in rows]

    def counts(self) -> dict[str, int]:
        """Job counts by status."""
        return records.counts_by(self._all("SELECT status AS k, COUNT(*) AS n FROM jobs GROUP BY status"))

    def stats(self) -> dict[str, Any]:
        """Totals for metrics: jobs, tasks and tool calls by status or decision; tokens and model calls."""
        usage = self._one(
            "SELECT COALESCE(SUM(input_tokens), 0) AS input_tokens, COALESCE(SUM(output_tokens), 0) AS output_tokens, "
            "COUNT(*) AS calls, COALESCE(SUM(cost_usd), 0) AS cost_usd FROM usage"
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
            "SELECT COUNT(*) AS n, COALESCE(SUM(finished_at - created_at), 0) AS seconds FROM tasks "
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
        """Close the connection."""
        with self._lock:
            self._db.close()
