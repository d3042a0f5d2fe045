"""Both stores, SQLite and PostgreSQL: idempotent enqueue, leases, the debate record, branch heads."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from agentd.kernel.errors import ConfigError
from agentd.kernel.events import CommitPushed, PullRequestUpdated, TaskRequested
from agentd.store import open_store
from agentd.store.base import Store


def commit(sha: str = "a" * 40) -> CommitPushed:
    """A commit event."""
    return CommitPushed(repo="/r", branch="main", sha=sha, parent_sha=None)


def test_same_event_twice_makes_one_task(store: Store) -> None:
    """Enqueueing an event with a key already seen returns the first task and creates nothing."""
    first, created = store.enqueue(commit(), "c", "a" * 40)
    again, created_again = store.enqueue(commit(), "c", "a" * 40)
    assert created and not created_again
    assert first == again
    assert store.counts() == {"queued": 1}


def test_the_same_file_survives_a_restart(tmp_path: Path) -> None:
    """A second store on the same file sees the first one's events (exactly once across restarts)."""
    first = open_store(f"sqlite:///{tmp_path / 'a.db'}")
    first.enqueue(commit(), "c", None)
    first.close()
    second = open_store(f"sqlite:///{tmp_path / 'a.db'}")
    assert second.enqueue(commit(), "c", None)[1] is False


def test_claim_leases_oldest_job_once(store: Store) -> None:
    """A queued job is leased by one worker; a second claim finds nothing."""
    store.enqueue(commit("a" * 40), "first", None)
    store.enqueue(commit("b" * 40), "second", None)
    lease = store.claim_job("w1", lease_s=60)
    assert lease is not None and lease.task_id == 1 and lease.attempts == 1
    other = store.claim_job("w2", lease_s=60)
    assert other is not None and other.task_id == 2
    assert store.claim_job("w3", lease_s=60) is None
    task = store.get_task(1)
    assert task is not None and task.status == "running"


def test_expired_lease_is_taken_over(store: Store) -> None:
    """A job whose lease ran out is claimed by another worker, and the old owner cannot renew it."""
    store.enqueue(commit(), "c", None)
    old = store.claim_job("w1", lease_s=0.01)
    assert old is not None
    time.sleep(0.05)
    new = store.claim_job("w2", lease_s=60)
    assert new is not None and new.job_id == old.job_id and new.attempts == 2
    assert not store.renew_lease(old, 60)
    assert store.renew_lease(new, 60)


def test_released_job_returns_to_the_queue(store: Store) -> None:
    """A job given back (daemon stopping) is queued again without counting an attempt."""
    store.enqueue(commit(), "c", None)
    lease = store.claim_job("w1", 60)
    assert lease is not None
    store.release_job(lease, "stopping")
    again = store.claim_job("w2", 60)
    assert again is not None and again.attempts == 1


def test_debate_record_round_trips(store: Store) -> None:
    """Sessions, turns, tool calls, usage and versions come back in task_record as written."""
    task_id, _ = store.enqueue(TaskRequested(repo="/r", description="d", base_ref="main", request_id="r1"), "d", None)
    session = store.start_session(task_id, "debate", "round_robin")
    store.add_turn(
        session,
        {
            "seq": 0,
            "agent": "proposer",
            "role": "proposer",
            "model": "m",
            "content": "hi",
            "submission": {"summary": "s"},
            "input_tokens": 3,
            "output_tokens": 4,
        },
    )
    store.add_tool_call(
        session,
        {
            "turn_seq": 0,
            "agent": "proposer",
            "tool": "code",
            "arguments": json.dumps({"action": "read"}),
            "decision": "refused",
            "rule": "git-metadata",
            "ok": False,
            "output": json.dumps({"error": "no"}),
        },
    )
    store.add_usage(task_id, "m", 3, 4)
    store.add_code_version(task_id, {"kind": "base", "sha": "abc", "tests_passed": False})
    store.finish_session(session, "agreed", {"accepted": True})
    record = store.task_record(task_id)
    (sess,) = record.sessions
    assert sess.verdict == {"accepted": True}
    assert sess.turns[0].submission == {"summary": "s"}
    assert sess.tool_calls[0].rule == "git-metadata"
    assert sess.tool_calls[0].arguments == {"action": "read"}
    assert sess.tool_calls[0].ok is False
    assert record.usage.input_tokens == 3
    assert record.versions[0].tests_passed is False


def test_branch_heads_and_heartbeats(store: Store) -> None:
    """Branch heads are remembered per repository; heartbeats mark live daemons."""
    assert store.branch_head("/r", "main") is None
    store.set_branch_head("/r", "main", "a")
    store.set_branch_head("/r", "main", "b")
    assert store.branch_head("/r", "main") == "b"
    store.heartbeat("me", 1)
    assert store.live_daemons(5) == ["me"]


def test_update_task_refuses_unknown_fields(store: Store) -> None:
    """update_task names an unknown field instead of writing SQL with it."""
    task_id, _ = store.enqueue(commit(), "c", None)
    with pytest.raises(ValueError, match="unknown task fields"):
        store.update_task(task_id, **{"status = 'x'; --": 1})


def pr(number: int, head: str) -> PullRequestUpdated:
    """A pull request head event."""
    return PullRequestUpdated(repo="/r", number=number, head_sha=head, base_branch="main")


def test_newer_pr_head_supersedes_older_ones(store: Store) -> None:
    """A queued older head ends as superseded at once; a running one is asked to stop and cannot renew."""
    first, _ = store.enqueue(pr(7, "a" * 40), "a", None)
    second, _ = store.enqueue(pr(7, "b" * 40), "b", None)
    superseded = store.get_task(first)
    assert superseded is not None and superseded.status == "superseded" and superseded.done
    lease = store.claim_job("w1", 60)
    assert lease is not None and lease.task_id == second
    assert not store.cancel_requested(lease)
    store.enqueue(pr(7, "c" * 40), "c", None)
    assert store.cancel_requested(lease)
    assert not store.renew_lease(lease, 60)
    assert store.counts() == {"cancelled": 1, "running": 1, "queued": 1}


def test_max_running_counts_live_leases(store: Store) -> None:
    """With max_running=1 a second claim waits until the first job finishes or its lease runs out."""
    for sha in "abc":
        store.enqueue(commit(sha * 40), sha, None)
    first = store.claim_job("w1", 0.2, max_running=1)
    assert first is not None
    assert store.claim_job("w2", 60, max_running=1) is None
    time.sleep(0.3)
    second = store.claim_job("w2", 60, max_running=1)
    assert second is not None and second.job_id == first.job_id and second.attempts == 2
    store.finish_job(second, "done")
    third = store.claim_job("w3", 60, max_running=1)
    assert third is not None and third.job_id != first.job_id


def test_deliveries_and_forge_comments_are_remembered(store: Store) -> None:
    """A webhook delivery id is new once; agentd's comment id per pull request is replaced, not duplicated."""
    assert not store.accept_delivery("d-1", None, "", None).duplicate
    assert store.accept_delivery("d-1", None, "", None).duplicate
    assert store.forge_comment("/r", 7) is None
    store.set_forge_comment("/r", 7, "c1")
    store.set_forge_comment("/r", 7, "c2")
    assert store.forge_comment("/r", 7) == "c2"


def test_posted_findings_are_remembered_per_pull_request_and_never_twice(store: Store) -> None:
    """Fingerprints posted on a PR are read back for that PR only; remembering one again changes nothing."""
    assert store.posted_findings("/r", 7) == set()
    store.remember_findings("/r", 7, ["aaaa", "bbbb", "aaaa"])
    store.remember_findings("/r", 7, ["bbbb", "cccc"])
    store.remember_findings("/r", 8, ["dddd"])
    store.remember_findings("/other", 7, ["eeee"])
    assert store.posted_findings("/r", 7) == {"aaaa", "bbbb", "cccc"}
    assert store.posted_findings("/r", 8) == {"dddd"}


def test_a_tasks_review_is_kept_as_json_and_replaced(store: Store) -> None:
    """record_review keeps one JSON document per task; recording again replaces it; an unknown task has none."""
    task_id, _ = store.enqueue(commit(), "c", "a" * 40)
    assert store.task_review(task_id) is None
    store.record_review(task_id, {"head": "a" * 40, "findings": [{"path": "x.go", "line": 3}]})
    store.record_review(task_id, {"head": "a" * 40, "findings": []})
    assert store.task_review(task_id) == {"head": "a" * 40, "findings": []}
    assert store.task_review(task_id + 1) is None


@pytest.mark.parametrize(
    "url",
    ["postgresq://agentd:hunter2-pw@db/agentd", "host=db user=agentd password=hunter2-pw", "db?password=hunter2-pw"],
)
def test_unknown_store_url_is_refused_without_its_password(url: str) -> None:
    """A store URL of no known kind is a ConfigError that names the URL with its password masked."""
    with pytest.raises(ConfigError, match="expected sqlite") as refused:
        open_store(url)
    assert "hunter2-pw" not in str(refused.value)
    assert "[REDACTED]" in str(refused.value)


def test_a_retried_job_waits_out_its_backoff(store: Store) -> None:
    """A failed job put back with a delay is not claimed before the delay, then is, as a second attempt."""
    store.enqueue(commit(), "c", None)
    lease = store.claim_job("w1", 60)
    assert lease is not None
    store.retry_job(lease, "docker hiccup", delay_s=0.3)
    assert store.claim_job("w2", 60) is None
    time.sleep(0.35)
    again = store.claim_job("w2", 60)
    assert again is not None
    assert again.attempts == 2
