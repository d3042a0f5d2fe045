"""The PostgreSQL store shared by several processes: one queue, no job twice, none lost, no secrets leaked."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from agentd.kernel.errors import StoreError
from agentd.kernel.events import CommitPushed, PullRequestUpdated, TaskRequested
from agentd.store import open_store
from agentd.store.base import Lease, Store
from agentd.store.postgres import PostgresStore
from agentd.store.sqlite import SQLiteStore

pytestmark = pytest.mark.postgres

# One agentd process in miniature. The DSN travels in the environment, never on a command line.
WORKER = """
import dataclasses, json, os, sys
from agentd.kernel.events import CommitPushed
from agentd.store.postgres import PostgresStore

mode, arg = sys.argv[1], sys.argv[2]
store = PostgresStore(os.environ["AGENTD_TEST_DSN"])
print("ready", flush=True)
sys.stdin.readline()  # go: every worker starts at once
if mode == "drain":
    claimed = []
    while (lease := store.claim_job(f"worker-{os.getpid()}", 60)) is not None:
        claimed.append(lease.job_id)
        store.finish_job(lease, "done")
    print(json.dumps(claimed), flush=True)
elif mode == "enqueue":
    created = [store.enqueue(CommitPushed(repo="/r", branch="main", sha=f"{i:040x}"), "c", None)[1]
               for i in range(int(arg))]
    print(json.dumps(sum(created)), flush=True)
elif mode == "claim-then-hang":
    print(json.dumps(dataclasses.asdict(store.claim_job("doomed", float(arg)))), flush=True)
    sys.stdin.readline()  # hangs until killed: a crash while holding a lease
store.close()
"""


@contextmanager
def workers(dsn: str, mode: str, arg: object, count: int) -> Iterator[list[subprocess.Popen[str]]]:
    """Start `count` worker processes, wait until each is connected, then let them all go at once."""
    env = {**os.environ, "AGENTD_TEST_DSN": dsn}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, mode, str(arg)],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "ready"
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        yield procs
    finally:
        for proc in procs:
            proc.kill()
            proc.communicate(timeout=30)


def result(proc: subprocess.Popen[str]) -> Any:
    """The JSON line a worker prints when it is done."""
    assert proc.stdout is not None
    return json.loads(proc.stdout.readline())


def scalar(dsn: str, query: str) -> Any:
    """One value straight from the database, bypassing the store."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute(query).fetchone()
    assert row is not None
    return row[0]


@pytest.fixture
def store(postgres_schema_dsn: str) -> Iterator[PostgresStore]:
    """A PostgreSQL store in an empty schema of its own."""
    opened = PostgresStore(postgres_schema_dsn)
    yield opened
    opened.close()


def test_two_processes_drain_one_queue_each_job_once(store: PostgresStore, postgres_schema_dsn: str) -> None:
    """Two processes claiming from one queue of 200 jobs run every job exactly once: none twice, none lost."""
    for i in range(200):
        store.enqueue(CommitPushed(repo="/r", branch="main", sha=f"{i:040x}"), "c", None)
    with workers(postgres_schema_dsn, "drain", "", 2) as procs:
        claimed = [result(proc) for proc in procs]
    everything = claimed[0] + claimed[1]
    assert all(claimed), "both processes should have taken part"
    assert len(everything) == len(set(everything)) == 200
    assert store.counts() == {"done": 200}
    assert scalar(postgres_schema_dsn, "SELECT COUNT(*) FROM jobs WHERE attempts = 1") == 200


def test_expired_lease_is_taken_over_by_another_process(store: PostgresStore, postgres_schema_dsn: str) -> None:
    """A process that dies holding a lease loses the job to another process once the lease runs out."""
    store.enqueue(CommitPushed(repo="/r", branch="main", sha="a" * 40), "c", None)
    with workers(postgres_schema_dsn, "claim-then-hang", 1.0, 1) as (proc,):
        dead = Lease(**result(proc))
        proc.kill()
        assert store.claim_job("survivor", 60) is None  # the dead process's lease is still live
        time.sleep(max(0.0, dead.expires - time.time()) + 0.1)
        taken = store.claim_job("survivor", 60)
    assert taken is not None and taken.job_id == dead.job_id and taken.attempts == 2
    assert not store.renew_lease(dead, 60)
    assert store.renew_lease(taken, 60)


def test_concurrent_idempotent_enqueue_makes_one_task_per_event(store: PostgresStore, postgres_schema_dsn: str) -> None:
    """Four processes enqueueing the same 50 events at once create exactly 50 events, tasks and jobs."""
    with workers(postgres_schema_dsn, "enqueue", 50, 4) as procs:
        created = [result(proc) for proc in procs]
    assert sum(created) == 50
    assert store.counts() == {"queued": 50}
    for table in ("events", "tasks", "jobs"):
        assert scalar(postgres_schema_dsn, f"SELECT COUNT(*) FROM {table}") == 50


def wrong_password_url(dsn: str, password: str) -> str:
    """The test server as a URL, with a password it refuses."""
    info = conninfo_to_dict(dsn)
    return f"postgresql://{info['user']}:{password}@{info['host']}:{info['port']}/{info['dbname']}"


def closed_port_conninfo(dsn: str, password: str) -> str:
    """A key=value DSN with a password, pointing at a loopback port nothing listens on."""
    return make_conninfo(dsn, port="1", password=password)


@pytest.mark.parametrize("bad_dsn", [wrong_password_url, closed_port_conninfo], ids=["url", "conninfo"])
def test_bad_dsn_raises_store_error_without_the_password(
    postgres_dsn: str, bad_dsn: Callable[[str, str], str], caplog: pytest.LogCaptureFixture
) -> None:
    """A DSN that cannot connect gives a StoreError naming the server, never the password, chained or logged."""
    caplog.set_level(logging.DEBUG)
    password = "s3cret-Pa55word-4711"
    dsn = bad_dsn(postgres_dsn, password)
    with pytest.raises(StoreError) as failure:
        open_store(dsn) if dsn.startswith("postgresql://") else PostgresStore(dsn)
    message = str(failure.value)
    assert "127.0.0.1" in message
    assert password not in message
    assert failure.value.__cause__ is None and failure.value.__suppress_context__
    assert password not in caplog.text


def scenario(store: Store) -> list[Any]:
    """Drive a store through a task's life and return everything it reads back, clock values blanked."""
    task_id, _ = store.enqueue(TaskRequested(repo="/r", description="d", base_ref="main", request_id="r1"), "d", None)
    store.enqueue(PullRequestUpdated(repo="/r", number=7, head_sha="a" * 40, base_branch="main"), "pr a", "a" * 40)
    store.enqueue(PullRequestUpdated(repo="/r", number=7, head_sha="b" * 40, base_branch="main"), "pr b", "b" * 40)
    lease = store.claim_job("w1", 60)
    assert lease is not None
    session = store.start_session(task_id, "debate", "round_robin")
    turn = {"seq": 0, "agent": "p", "role": "proposer", "model": "m", "submission": {"s": 1}, "latency_ms": 5}
    store.add_turn(session, turn)
    store.add_turn(session, {**turn, "seq": 1, "submission": None})
    call = {"turn_seq": 0, "agent": "p", "tool": "code", "arguments": "{}", "decision": "allowed", "output": "[1]"}
    store.add_tool_call(session, {**call, "ok": True, "exit_code": 0, "duration_ms": 2})
    store.add_usage(task_id, "m", 3, 4, cost_usd=0.25)
    store.add_code_version(task_id, {"kind": "final", "sha": "abc", "diff": "d", "tests_passed": True})
    running = store.running_session(task_id)
    store.finish_session(session, "agreed", {"accepted": True, "votes": [1, 2]})
    store.record_model_outcome("fix", "m", agreed=True, green=False, cost_usd=0.25, latency_ms=10)
    store.record_model_outcome("fix", "m", agreed=False, green=True, cost_usd=0.5, latency_ms=20)
    store.finish_job(lease, "done")
    store.update_task(task_id, status="fixed", tests_passed=True, finished_at=1000.0, branch="agentd/task-1")
    reads = [
        running,
        store.get_task(task_id),
        store.list_tasks(),
        store.list_tasks(status="superseded"),
        store.list_history(),
        store.task_record(task_id),
        store.task_activity(task_id, 0, 0),
        store.list_sessions(),
        store.list_agents(),
        store.stats(),
        store.counts(),
        store.spent_since(0),
        store.running_session(task_id),
        store.model_stats(),
    ]
    return blank_clocks(reads)


def blank_clocks(value: Any) -> Any:
    """The value with every wall-clock field (`*_at`, durations from them) replaced by a marker, types kept."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {"__type__": type(value).__name__, **dataclasses.asdict(value)}
    if isinstance(value, dict):
        clock = {k for k, v in value.items() if v is not None and (k.endswith("_at") or k == "task_seconds")}
        return {k: "<clock>" if k in clock else blank_clocks(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [blank_clocks(v) for v in value]
    return (type(value).__name__, value)


def test_both_backends_read_back_the_same_records(store: PostgresStore, tmp_path: Path) -> None:
    """The same calls on SQLite and PostgreSQL read back equal records with equal Python types."""
    sqlite = SQLiteStore(str(tmp_path / "agentd.db"))
    try:
        expected = scenario(sqlite)
    finally:
        sqlite.close()
    assert scenario(store) == expected


def test_threads_share_one_store_each_job_once(store: PostgresStore) -> None:
    """Eight threads draining one queue through one store (its pool) run every one of 200 jobs once."""
    for i in range(200):
        store.enqueue(CommitPushed(repo="/r", branch="main", sha=f"{i:040x}"), "c", None)

    def drain(owner: str) -> list[int]:
        claimed = []
        while (lease := store.claim_job(owner, 60)) is not None:
            claimed.append(lease.job_id)
            store.finish_job(lease, "done")
        return claimed

    with ThreadPoolExecutor(8) as pool:
        claimed = [job for jobs in pool.map(drain, [f"t{n}" for n in range(8)]) for job in jobs]
    assert sorted(claimed) == sorted(set(claimed)) and len(claimed) == 200
    assert store.counts() == {"done": 200}


def test_connection_dropped_by_the_server_is_replaced(
    store: PostgresStore, postgres_schema_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An idle pooled connection the server has closed is noticed and replaced; the caller sees no error."""
    monkeypatch.setattr("agentd.store.pool._PING_AFTER_S", 0.0)
    store.heartbeat("me", 1)
    with psycopg.connect(postgres_schema_dsn, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'agentd' AND pid <> pg_backend_pid()"
        )
    time.sleep(0.2)
    assert store.live_daemons(60) == ["me"]


def test_one_schema_gives_both_backends_the_same_tables_and_generated_ids(
    store: PostgresStore, postgres_schema_dsn: str, tmp_path: Path
) -> None:
    """schema.sql creates the same tables and columns, in order, in SQLite and PostgreSQL; every id is generated."""
    SQLiteStore(str(tmp_path / "agentd.db")).close()
    lite = sqlite3.connect(tmp_path / "agentd.db")
    expected = {
        table: [column[1] for column in lite.execute(f"PRAGMA table_info({table})")]
        for (table,) in lite.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    }
    lite.close()
    found: dict[str, list[str]] = {}
    with psycopg.connect(postgres_schema_dsn) as conn:
        for table, column in conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position"
        ):
            found.setdefault(table, []).append(column)
        identities = {
            table
            for (table,) in conn.execute(
                "SELECT table_name FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND column_name = 'id' AND is_identity = 'YES'"
            )
        }
    assert found == expected
    assert identities == {table for table, columns in expected.items() if columns[0] == "id"}
