"""Enqueueing an event: its task and its job, and, for a pull request, which of its heads supersedes which.

Heads are ordered by the commit graph where the caller can tell (`Ancestry`), else by arrival;
`revive` puts the forge's current head back in the queue when an older head superseded it.
"""

from __future__ import annotations

from agentd.kernel.errors import StoreError
from agentd.kernel.events import Event
from agentd.store import queries as q
from agentd.store import rows
from agentd.store.base import Ancestry
from agentd.store.dialect import Tx
from agentd.store.rows import Row

STOPPED = "superseded by a newer head before it finished"


def enqueue_in(
    tx: Tx,
    event: Event,
    description: str,
    base_sha: str | None,
    ancestry: Ancestry | None,
    revive: bool,
    now: float,
) -> tuple[int, bool]:
    """Inside a transaction: the event, its task and its job, or the task seen before (revived if asked);
    (task_id, created)."""
    subject, head = rows.task_subject(event), rows.task_head(event)
    # Under concurrency (PostgreSQL) the loser of the UNIQUE(key) race waits for the winner's
    # commit, inserts nothing, then reads the winner's task back.
    inserted = tx.one(q.INSERT_EVENT, key=event.key, type=event.type, payload=event.model_dump_json(), now=now)
    if inserted is None:
        seen = tx.one(q.TASK_OF_EVENT, key=event.key)
        if seen is None:
            raise StoreError(f"event {event.key} is recorded without a task")
        task_id = int(seen["id"])
        job = tx.one(q.JOB_OF_TASK_ID, task_id=task_id) if revive else None
        if job is None or job["status"] != "cancelled":
            return task_id, False
        others = tx.all(q.OTHERS_OF_SUBJECT, subject=subject, keep=task_id) if subject else []
        if _newer_head(others, head, ancestry) is not None:
            return task_id, False  # a newer head is known: this one stays superseded
        tx.run(q.REVIVE_JOB, now=now, job_id=job["job_id"])
        tx.run(q.REVIVE_TASK, task_id=task_id)
        _supersede(tx, others, task_id, now)
        return task_id, True
    task = tx.one(
        q.INSERT_TASK,
        event_id=inserted["id"],
        kind=event.type,
        subject=subject,
        description=description,
        base_sha=base_sha,
        now=now,
    )
    assert task is not None
    task_id = int(task["id"])
    job = tx.one(q.INSERT_JOB, task_id=task_id, now=now)
    assert job is not None
    if subject is None:
        return task_id, True
    # one job per PR: a newer head ends the older ones; a head older than one already known ends itself
    others = tx.all(q.OTHERS_OF_SUBJECT, subject=subject, keep=task_id)
    newer = _newer_head(others, head, ancestry)
    if newer is None:
        _supersede(tx, others, task_id, now)
        return task_id, True
    assert head is not None
    summary = f"superseded: {head[:7]} is older than {newer['head'][:7]} (task {newer['task_id']}), seen before it"
    tx.run(q.CANCEL_JOB, now=now, job_id=job["id"])
    tx.run(q.SUPERSEDE_TASK, now=now, summary=summary, task_id=task_id)
    return task_id, True


def _newer_head(others: list[Row], head: str | None, ancestry: Ancestry | None) -> Row | None:
    """The first of the subject's other tasks whose head descends from `head`, where `ancestry` can tell.

    Heads are ordered by the commit graph, not by arrival: a delivery that arrived out of order
    names an ancestor of a head already recorded. Where git cannot tell (no `ancestry`, or a commit
    not fetched), the newest arrival wins and the job of the older head re-queues the forge's
    current head when it finds the pull request moved on.
    """
    if ancestry is None or head is None:
        return None
    return next((row for row in others if row["head"] and row["head"] != head and ancestry(head, row["head"])), None)


def _supersede(tx: Tx, others: list[Row], task_id: int, now: float) -> None:
    """Inside enqueue's transaction: end the subject's other queued jobs, ask its running ones to stop."""
    for row in others:
        if row["status"] == "queued":
            tx.run(q.CANCEL_JOB, now=now, job_id=row["job_id"])
            tx.run(q.SUPERSEDE_TASK, now=now, summary=f"superseded by task {task_id}", task_id=row["task_id"])
        elif row["status"] == "running":
            tx.run(q.ASK_JOB_TO_STOP, job_id=row["job_id"])
