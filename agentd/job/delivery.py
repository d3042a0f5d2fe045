"""agentd on the forge: the check on the head, the inline review, the summary comment, the fix pull request
and the answer to a command.

Every step reads the task's record (the store), so it runs the same at the end of a job, on a retry, or
for a job the daemon gave up on. A step the forge refuses is logged and skipped; it never fails the job,
whose report is already written.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TypeVar

import structlog

from agentd.forge.base import Forge
from agentd.forge.diff import parse_unified_diff
from agentd.forge.review import publish_review
from agentd.forge.summary import comment_for
from agentd.job import checks
from agentd.job.context import JobDeps
from agentd.job.review import ReviewState, load, save
from agentd.job.reviewing import REVIEWED
from agentd.kernel.errors import AgentdError
from agentd.kernel.events import CommitPushed, PullRequestCommand
from agentd.store.records import Task

log = structlog.get_logger("agentd.job.delivery")
T = TypeVar("T")


def _step(what: str, task_id: int, action: Callable[[], T], default: T) -> T:
    """Run one forge step; a refusal (or a git failure behind it) is logged, never raised."""
    try:
        return action()
    except AgentdError as exc:
        log.warning("forge step failed", step=what, task=task_id, error=str(exc)[:300])
        return default


def start_check(deps: JobDeps, task_id: int, state: ReviewState) -> None:
    """Show agentd's check on the head as queued (or reuse the head's unfinished one) and keep its reference."""
    forge = deps.forge
    if forge is None:
        return
    ref = _step("start check", task_id, lambda: forge.start_check(state.head, state.pr), None)
    if ref is not None:
        state.check = dataclasses.asdict(ref)
        save(deps.store, task_id, state)


def check_running(deps: JobDeps, task_id: int, state: ReviewState) -> None:
    """Mark the head's check as in progress."""
    forge, ref = deps.forge, state.check_ref()
    if forge is not None and ref is not None:
        _step("check in progress", task_id, lambda: forge.check_in_progress(ref), None)


def deliver(deps: JobDeps, task: Task, markdown: str) -> None:
    """Everything the forge should show of a finished task (nothing without [forge])."""
    forge = deps.forge
    if forge is None:
        return
    state = load(deps.store, task.id)
    event = task.event
    if isinstance(event, PullRequestCommand) and (state is None or task.status in {"refused"}):
        _answer(forge, task, state, "")
        return
    pr = state.pr if state is not None else getattr(event, "number", None)
    if task.status == "superseded":
        pr = None  # the newer head's job owns the PR's review and summary; this head's check only ends
    if state is not None and pr is not None and state.command != "explain":
        _step("inline review", task.id, lambda: _inline(deps, forge, task, state, pr), None)
    if pr is not None and (state is None or state.command != "explain"):
        _step("summary comment", task.id, lambda: _summary_comment(deps, forge, task, pr, markdown), None)
    fix_note = ""
    if state is not None:
        fix_note = _step("fix pull request", task.id, lambda: _fix_pull_request(deps, forge, task, state), "")
    ref = state.check_ref() if state is not None else None
    if ref is not None:
        report = checks.report(task, deps.store.task_record(task.id), state, markdown, fix_note)
        _step("complete check", task.id, lambda: forge.complete_check(ref, report), None)
    if isinstance(event, PullRequestCommand):
        _answer(forge, task, state, fix_note)
    if state is not None:
        save(deps.store, task.id, state)


def _inline(deps: JobDeps, forge: Forge, task: Task, state: ReviewState, pr: int) -> None:
    """Post the findings the PR has not seen as one review of the head, anchored on the PR's whole diff."""
    repo = deps.settings.repository.source
    findings = state.found()
    if findings:
        diffs = parse_unified_diff(deps.mirror.patch(state.base, state.head)) if state.base else {}
        outcome = publish_review(forge, deps.store, repo, pr, state.head, findings, diffs)
        state.inline = {
            "posted": len(outcome.posted),
            "already_posted": len(outcome.already_posted),
            "off_diff": len(outcome.off_diff),
        }
        log.info("inline review", task=task.id, pr=pr, **state.inline)
    deps.store.set_branch_head(repo, f"{REVIEWED}{pr}", state.head)


def _summary_comment(deps: JobDeps, forge: Forge, task: Task, pr: int, markdown: str) -> None:
    """agentd's one summary comment on the PR, edited in place on each head."""
    repo = deps.settings.repository.source
    head = task.base_sha or str(getattr(task.event, "head_sha", ""))
    known = deps.store.forge_comment(repo, pr)
    comment_id = forge.upsert_review_comment(pr, comment_for(pr, head, markdown), known)
    deps.store.set_forge_comment(repo, pr, comment_id)


def _fix_pull_request(deps: JobDeps, forge: Forge, task: Task, state: ReviewState) -> str:
    """Offer agentd's fix as a pull request when the config asks for one and the fix may be pushed; what happened."""
    if task.status != "fixed" or not task.branch:
        return ""
    event, config = task.event, deps.settings.forge
    if isinstance(event, CommitPushed):
        mode, target, what = config.commit_fix_pull_requests, event.branch, f"commit {event.sha[:7]} on {event.branch}"
    elif state.pr is not None:
        mode, target, what = config.fix_pull_requests, state.pr_branch, f"PR #{state.pr}"
    else:
        return f"on `{task.branch}`"
    if not state.trusted:
        return f"kept in agentd's clone as `{task.branch}`, never pushed ({state.trust_reason}); see the suggestions"
    if mode == "off" or not deps.mirror.push:
        why = "forge fix pull requests are off" if mode == "off" else "agentd does not push (repository.push)"
        return f"on `{task.branch}` ({why})"
    if not target:
        return f"on `{task.branch}`; the PR's branch lives in a fork, so no pull request can target it"
    summary = task.summary.strip().splitlines()[0] if task.summary.strip() else "agreed fix"
    body = (
        f"agentd's fix for {what}. agentd's gate re-ran the tests on exactly this commit "
        f"(`{(task.commit_sha or '')[:12]}`) and they passed.\n\n{task.summary.strip()}\n"
    )
    fix = forge.upsert_fix_pull_request(task.branch, target, f"agentd: {summary}"[:200], body, draft=mode == "draft")
    state.fix_pull_request = fix.url or f"#{fix.number}"
    kind = "draft pull request" if mode == "draft" else "pull request"
    how = "opened" if fix.created else "updated"
    return f"{kind} #{fix.number} ({fix.url}) from `{task.branch}` into `{target}`, {how}"


def _answer(forge: Forge, task: Task, state: ReviewState | None, fix_note: str) -> None:
    """The answer to a command: done (and what), refused and why, or failed and why."""
    event = task.event
    assert isinstance(event, PullRequestCommand)
    asked = f"> /agentd {event.verb}{(' ' + event.argument) if event.argument else ''}\n\n@{event.author}: "
    body = asked + answer_text(task, state, fix_note)
    _step("answer command", task.id, lambda: forge.reply(event.number, body[:60_000]), "")


def answer_text(task: Task, state: ReviewState | None, fix_note: str) -> str:
    """What agentd says back to a command, from how its task ended."""
    summary = task.summary.strip() or "-"
    if task.status == "refused":
        return f"refused. {summary}"
    if task.status in {"failed", "cancelled", "superseded"}:
        return f"not done: {task.status}. {summary}"
    done = "done"
    if state is not None and state.command == "explain":
        return f"{done}.\n\n{summary}"
    found = len(state.findings) if state is not None else 0
    parts = [f"{done} ({task.status.replace('_', ' ')}). {summary}"]
    if state is not None and state.command in {"review", "fix", "optimize"}:
        parts.append(f"Findings: {found}; see the check and the inline comments.")
    if fix_note:
        parts.append(f"Fix: {fix_note}.")
    return "\n\n".join(parts)
