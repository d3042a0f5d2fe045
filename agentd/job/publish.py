"""Publishing: the agentd/ branch, the commit message, the push that moves only what agentd published, the report.

agentd recognises its own publishes by what it recorded (the task's commit and the sha it last
put on each agentd/ branch), never by trailer text or branch names a stranger can write.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from agentd.engine.outcome import Outcome
from agentd.job import delivery, review
from agentd.job.context import JobContext, JobDeps
from agentd.job.report import render_markdown
from agentd.job.sarif import sarif_log
from agentd.job.trust import automation_paths
from agentd.kernel import crashpoints, trace
from agentd.kernel.errors import JobCancelled
from agentd.kernel.events import CommitPushed, PullRequestCommand, PullRequestUpdated, TaskRequested
from agentd.store.base import Task

PUBLISHED = "published:"  # branch-head key prefix of the sha agentd last published on one of its branches
MAX_PATCH_IN_SUMMARY = 20_000  # an unpushed fix's patch is shown in the summary up to this many characters


def branch_for(task: Task) -> str:
    """The agentd/ branch a task's patch goes on."""
    event = task.event
    if isinstance(event, CommitPushed):
        return f"agentd/commit-{event.sha[:7]}"
    if isinstance(event, PullRequestUpdated | PullRequestCommand):
        return f"agentd/pr-{event.number}"
    return f"agentd/task-{task.id}"


def commit_message(task: Task, session_id: int, outcome: Outcome, trailers: tuple[str, ...] = ()) -> str:
    """The published commit's message: the agreed summary and agentd's trailers."""
    title, _, body = outcome.summary.strip().partition("\n")
    body = body.strip()
    lines = [
        f"Agentd-Task: {task.id}",
        f"Agentd-Debate: session {session_id}, protocol {outcome.protocol}",
        f"Agentd-Votes: {', '.join(outcome.votes)}",
        f"Agentd-Models: {', '.join(outcome.models)}",
        *trailers,
    ]
    head = f"agentd: {(title or 'agreed fix')[:72]}\n\n" + (f"{body}\n\n" if body else "")
    return head + "".join(f"{line}\n" for line in lines)


def already_published(ctx: JobContext) -> str | None:
    """The commit an earlier attempt of this task gated and meant to publish, published now if its push never landed.

    publish() records the commit only once the gate passed, so an attempt cut off before or during
    its push (killed, or the remote unreachable) leaves a commit that needs no new debate.
    """
    recorded, mirror = ctx.task.commit_sha, ctx.deps.mirror
    if not recorded:
        return None
    if mirror.published(ctx.branch) == recorded:
        _remember(ctx, recorded)
        return recorded
    if not mirror.has_commit(recorded):
        return None
    ctx.log.info("publishing the commit an earlier attempt gated", commit=recorded)
    publish(ctx, recorded)
    return recorded


def publish(ctx: JobContext, sha: str) -> None:
    """Put `sha` on the task's agentd/ branch, moving it only over what agentd itself published there.

    The intent (commit and branch) is recorded first, so an attempt killed after the push knows on
    its retry that the branch holds its own commit.
    """
    deps = ctx.deps
    deps.store.update_task(ctx.task.id, commit_sha=sha, branch=ctx.branch)
    replaces = deps.store.branch_head(deps.settings.repository.source, PUBLISHED + ctx.branch)
    deps.mirror.publish(sha, ctx.branch, replaces=replaces, push=ctx.trust.trusted)
    crashpoints.reached("pushed")
    _remember(ctx, sha)
    ctx.log.info("published", branch=ctx.branch, commit=sha, pushed=ctx.trust.trusted and deps.mirror.push)


def publish_notes(ctx: JobContext, diff: str) -> str:
    """What the summary must say about where the fix went: kept back from an untrusted PR, automation touched."""
    notes = ""
    automation = automation_paths(diff)
    if automation:
        notes += (
            f"\n\nFlagged: the fix changes CI or automation files ({', '.join(automation)}), which run with the "
            "repository's secrets once pushed; a person should look before merging."
        )
    if not ctx.trust.trusted:
        shown = diff if len(diff) <= MAX_PATCH_IN_SUMMARY else diff[:MAX_PATCH_IN_SUMMARY] + "\n[… patch cut …]\n"
        notes += (
            f"\n\nNot pushed: {ctx.trust.why}. agentd never pushes a branch holding an untrusted PR's tree to the "
            f"repository; the fix is kept in agentd's own clone as {ctx.branch}. The patch:\n\n```diff\n{shown}```"
        )
    return notes


def _remember(ctx: JobContext, sha: str) -> None:
    ctx.deps.store.set_branch_head(ctx.deps.settings.repository.source, PUBLISHED + ctx.branch, sha)


def finish(ctx: JobContext, status: str, summary: str, **fields: object) -> str:
    """Record the task's end (summary redacted, with the kind agentd worked a requested task as) and write its
    report; returns the status.

    The end is recorded only while the job holds its lease and nobody asked it to stop (a newer
    head superseded it); otherwise JobCancelled, and the worker records what happened instead.
    """
    if isinstance(ctx.task.event, TaskRequested):
        summary = f"{summary}\n\n{ctx.task_purpose.line()}".strip()
    store, summary = ctx.deps.store, ctx.deps.redactor.text(summary)
    end = {"status": status, "summary": summary, "finished_at": time.time(), **fields}
    if ctx.lease is None:
        store.update_task(ctx.task.id, **end)
    elif not store.end_task(ctx.lease, **end):
        raise JobCancelled(f"task {ctx.task.id} was superseded or its lease lost before it could end {status!r}")
    with trace.span("report", **{"agentd.status": status}):
        write_report(ctx.deps, ctx.task.id)
    return status


def write_report(deps: JobDeps, task_id: int) -> Path | None:
    """Write the task's Markdown report and its SARIF log under the state directory (also for failed jobs), then
    show the task on the forge: check, inline review, summary comment, fix pull request, command answer."""
    task = deps.store.get_task(task_id)
    if task is None:
        return None
    markdown = deps.redactor.text(render_markdown(task, deps.store.task_record(task_id)))
    path = deps.settings.state_dir / "reports" / f"task-{task_id}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    crashpoints.reached("report")
    path.write_text(markdown, encoding="utf-8")
    state = review.load(deps.store, task_id)
    log = sarif_log(task, state.found() if state else [], state.head if state else None)
    sarif = deps.redactor.text(json.dumps(log, indent=2))
    path.with_suffix(".sarif").write_text(sarif + "\n", encoding="utf-8")
    delivery.deliver(deps, task, markdown)
    return path
