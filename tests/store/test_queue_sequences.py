"""Real-world queue sequences on both stores: lost leases, superseded jobs, out-of-order heads, deliveries."""

from __future__ import annotations

import time

from agentd.store.base import Store
from tests.store.test_sqlite import commit, pr

A, B, C = "a" * 40, "b" * 40, "c" * 40


def test_a_worker_whose_lease_was_taken_over_cannot_end_the_job_or_its_task(store: Store) -> None:
    """After another worker took an expired lease, the first one's finish_job and end_task change nothing."""
    task_id, _ = store.enqueue(commit(), "c", None)
    old = store.claim_job("w1", lease_s=0.01)
    assert old is not None
    time.sleep(0.05)
    new = store.claim_job("w2", lease_s=60)
    assert new is not None
    assert not store.end_task(old, status="fixed", summary="late", finished_at=time.time())
    assert not store.finish_job(old, "done")
    task = store.get_task(task_id)
    assert task is not None and task.status == "running" and task.summary == ""
    assert store.counts() == {"running": 1}
    assert store.end_task(new, status="fixed", summary="mine", finished_at=time.time())
    assert store.finish_job(new, "done")
    assert store.counts() == {"done": 1}


def test_a_job_asked_to_stop_cannot_record_its_end(store: Store) -> None:
    """A running head superseded by a newer one cannot end 'reviewed', even though its worker still holds the lease."""
    older, _ = store.enqueue(pr(7, A), "a", A)
    lease = store.claim_job("w1", 60)
    assert lease is not None and lease.task_id == older
    store.enqueue(pr(7, B), "b", B)
    assert not store.end_task(lease, status="reviewed", summary="looks fine", finished_at=time.time())
    task = store.get_task(older)
    assert task is not None and task.status == "running"


def test_a_head_older_than_one_recorded_supersedes_nothing(store: Store) -> None:
    """With the commit graph known, an ancestor head delivered late ends at once and the newer head stays queued."""
    newer, _ = store.enqueue(pr(7, B), "b", B)
    older, created = store.enqueue(pr(7, A), "a", A, ancestry=lambda old, new: (old, new) == (A, B))
    assert created
    late = store.get_task(older)
    assert late is not None and late.status == "superseded"
    assert "older than" in late.summary
    kept = store.get_task(newer)
    assert kept is not None and kept.status == "queued"


def test_without_the_graph_the_newest_arrival_wins_and_revive_restores_the_current_head(store: Store) -> None:
    """By arrival order an old head cancels the current one; enqueue(revive=True) of the current head requeues it."""
    current, _ = store.enqueue(pr(7, B), "b", B)
    stale, _ = store.enqueue(pr(7, A), "a", A)
    cancelled = store.get_task(current)
    assert cancelled is not None and cancelled.status == "superseded"
    again, revived = store.enqueue(pr(7, B), "b", B, revive=True)
    assert (again, revived) == (current, True)
    back, gone = store.get_task(current), store.get_task(stale)
    assert back is not None and back.status == "queued" and back.finished_at is None
    assert gone is not None and gone.status == "superseded"
    lease = store.claim_job("w1", 60)
    assert lease is not None and lease.task_id == current
    assert store.renew_lease(lease, 60)  # the revived job was not left asked to stop
    assert store.enqueue(pr(7, B), "b", B, revive=True) == (current, False)  # alive: nothing to revive


def test_revive_never_brings_back_a_head_older_than_one_recorded(store: Store) -> None:
    """A head superseded because a newer one exists stays superseded when revive is asked with the graph."""
    older, _ = store.enqueue(pr(7, A), "a", A)
    store.enqueue(pr(7, B), "b", B)
    assert store.enqueue(pr(7, A), "a", A, revive=True, ancestry=lambda old, new: (old, new) == (A, B)) == (
        older,
        False,
    )


def test_a_superseded_job_whose_worker_died_ends_when_claimed(store: Store) -> None:
    """A running job asked to stop whose worker vanished is superseded at the next claim, which takes the newer head."""
    older, _ = store.enqueue(pr(7, A), "a", A)
    gone = store.claim_job("w1", lease_s=0.01)
    assert gone is not None and gone.task_id == older
    newer, _ = store.enqueue(pr(7, B), "b", B)
    time.sleep(0.05)
    lease = store.claim_job("w2", 60)
    assert lease is not None and lease.task_id == newer
    ended = store.get_task(older)
    assert ended is not None and ended.status == "superseded"
    assert store.counts() == {"cancelled": 1, "running": 1}


def test_a_delivery_and_its_event_are_one_transaction(store: Store) -> None:
    """A delivery is remembered with its task; a replay is a duplicate; one without an event records only itself."""
    first = store.accept_delivery("d-1", commit(C), "c", C)
    assert (first.duplicate, first.created) == (False, True)
    assert store.accept_delivery("d-1", commit(C), "c", C).duplicate
    assert not store.accept_delivery("d-2", None, "", None).duplicate
    second = store.accept_delivery("d-3", commit(C), "c", C)  # a second delivery of the same commit
    assert (second.duplicate, second.task_id, second.created) == (False, first.task_id, False)
    assert store.counts() == {"queued": 1}
