"""One job, start to end: worktree → sandbox → agentd's test run → team → gate → publish.

The gate re-runs the test command in a fresh container on a fresh worktree of the exact commit
that would be published; only a green commit gets an agentd/ branch.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import structlog

from agentd.agent import Participant
from agentd.config import Config
from agentd.errors import JobCancelled
from agentd.events import CommitPushed, Event, PullRequestUpdated, TaskRequested
from agentd.gitops import Mirror
from agentd.policy import Policy
from agentd.protocols import CommandResult, Forge, Model, Sandbox, SandboxFactory
from agentd.redact import Redactor
from agentd.report import render_markdown
from agentd.store import Lease, Store, Task
from agentd.team import Session, Team, TeamResult, evidence
from tools.code import CodeTool
from tools.execute import ExecuteCommandTool
from tools.query import QueryDatabaseTool
from tools.registry import Toolbox

log = structlog.get_logger("agentd.job")
SUBMIT_OF = {"proposer": "submit_patch", "critic": "submit_review", "reviewer": "submit_review", "judge": "cast_vote"}


@dataclass
class JobDeps:
    """Everything a job needs, built once by the daemon."""

    config: Config
    store: Store
    mirror: Mirror
    sandboxes: SandboxFactory
    models: dict[str, Model]  # role -> model
    policy: Policy
    redactor: Redactor
    query: QueryDatabaseTool | None = None
    forge: Forge | None = None


def write_report(deps: JobDeps, task_id: int) -> Path | None:
    """Write the task's Markdown report under the state directory (also for failed jobs); post it on the PR."""
    task = deps.store.get_task(task_id)
    if task is None:
        return None
    markdown = deps.redactor.text(render_markdown(task, deps.store.task_record(task_id)))
    path = deps.config.daemon.state_dir / "reports" / f"task-{task_id}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(markdown, encoding="utf-8")
    event = task.event
    if deps.forge is not None and isinstance(event, PullRequestUpdated):
        from agentd.forge import comment_for  # noqa: PLC0415 - only with a forge configured

        repo = deps.config.repository.source
        known = deps.store.forge_comment(repo, event.number)
        comment_id = deps.forge.upsert_review_comment(
            event.number, comment_for(event.number, event.head_sha, markdown), known
        )
        deps.store.set_forge_comment(repo, event.number, comment_id)
    return path


def branch_for(task: Task) -> str:
    """The agentd/ branch a task's patch goes on."""
    event = task.event
    if isinstance(event, CommitPushed):
        return f"agentd/commit-{event.sha[:7]}"
    if isinstance(event, PullRequestUpdated):
        return f"agentd/pr-{event.number}"
    return f"agentd/task-{task.id}"


def commit_message(task: Task, session_id: int, result: TeamResult) -> str:
    """The published commit's message: the agreed summary and agentd's trailers."""
    title, _, body = result.summary.strip().partition("\n")
    body = body.strip()
    trailers = (
        f"Agentd-Task: {task.id}\n"
        f"Agentd-Debate: session {session_id}, proposer -> critic -> judge\n"
        f"Agentd-Votes: {', '.join(result.votes)}\n"
        f"Agentd-Models: {', '.join(result.models)}\n"
    )
    return f"agentd: {(title or 'agreed fix')[:72]}\n\n" + (f"{body}\n\n" if body else "") + trailers


class Job:
    """Runs one leased task; the caller owns the lease."""

    def __init__(self, deps: JobDeps, lease: Lease, cancel: threading.Event) -> None:
        self.deps = deps
        self.lease = lease
        self.cancel = cancel
        task = deps.store.get_task(lease.task_id)
        if task is None:
            raise LookupError(f"task {lease.task_id} vanished from the store")
        self.task = task
        self.state = deps.config.daemon.state_dir
        self.worktree = self.state / "worktrees" / f"task-{task.id}"
        self.log = log.bind(task=task.id, job=lease.job_id)
        self._open: list[Sandbox] = []

    def abort(self) -> None:
        """Stop the job now (daemon stopping): remove its containers so a running command ends."""
        self.cancel.set()
        for sandbox in list(self._open):
            sandbox.close()

    def cleanup(self) -> None:
        """Remove the job's worktrees (used when the job thread cannot finish by itself)."""
        for path in (self.worktree, self.worktree.with_name(f"{self.worktree.name}-gate")):
            self.deps.mirror.remove_worktree(path)

    def _sandbox(self, workspace: Path, name: str) -> Sandbox:
        if self.cancel.is_set():
            raise JobCancelled("the job was cancelled")
        sandbox = self.deps.sandboxes.open(workspace, name)
        self._open.append(sandbox)
        return sandbox

    def run(self) -> str:
        """Do the job; returns the task's final status."""
        store, mirror = self.deps.store, self.deps.mirror
        mirror.fetch()
        branch = branch_for(self.task)
        base = self._base_sha(self.task.event)
        store.update_task(self.task.id, base_sha=base)
        already = self._already_published(branch)
        if already:
            return self._finish(
                "fixed", "published earlier; nothing to redo", branch=branch, commit_sha=already, tests_passed=True
            )
        mirror.add_worktree(self.worktree, base)
        sandbox = self._sandbox(self.worktree, f"task-{self.task.id}")
        try:
            return self._work(sandbox, base, branch)
        finally:
            sandbox.close()
            mirror.remove_worktree(self.worktree)

    def _base_sha(self, event: Event) -> str:
        if isinstance(event, CommitPushed):
            return event.sha
        if isinstance(event, PullRequestUpdated):
            return event.head_sha
        return self.deps.mirror.resolve(event.base_ref)

    def _already_published(self, branch: str) -> str | None:
        sha = self.deps.mirror.published(branch)
        if sha and f"Agentd-Task: {self.task.id}\n" in self.deps.mirror.commit_message(sha):
            return sha
        return None

    def _test(self, sandbox: Sandbox) -> CommandResult:
        command = self.deps.config.repository.test_command
        result = sandbox.run(command, timeout_s=self.deps.config.repository.test_timeout_s)
        if self.cancel.is_set():
            raise JobCancelled("the job was cancelled during a test run")
        return result

    def _work(self, sandbox: Sandbox, base: str, branch: str) -> str:
        config, store = self.deps.config, self.deps.store
        baseline = self._test(sandbox)
        shown = evidence(baseline, config.repository.test_command)
        store.add_code_version(
            self.task.id,
            {"kind": "base", "sha": base, "tests_passed": baseline.ok, "test_output": self.deps.redactor.text(shown)},
        )
        self.log.info("baseline tested", tests_passed=baseline.ok)
        session_id = store.start_session(self.task.id, "debate", "round_robin")
        team = self._team(sandbox, session_id)
        event = self.task.event
        findings: list[dict[str, object]] = []
        if isinstance(event, CommitPushed | PullRequestUpdated):
            review = team.review(self._change(event, base), shown)
            findings = [f for f in review.findings if f.get("severity") in {"major", "critical"}]
            if baseline.ok and not findings:
                store.finish_session(session_id, "reviewed", _verdict(review))
                return self._finish("reviewed", review.summary or review.reason, tests_passed=True)
        result = team.fix(
            self._problem(event, shown, findings),
            lambda: self.deps.mirror.stage(self.worktree),
            lambda: self._candidate_test(sandbox),
        )
        store.finish_session(session_id, "agreed" if result.accepted else "rejected", _verdict(result))
        if not result.accepted:
            return self._finish(
                "no_fix",
                f"{result.summary}\n\nNot committed: {result.reason}".strip(),
                tests_passed=bool(result.tests and result.tests.ok),
            )
        return self._gate_and_publish(session_id, result, branch)

    def _change(self, event: CommitPushed | PullRequestUpdated, base: str) -> str:
        """What to review: a commit's own patch, or a PR's diff against its merge base."""
        mirror = self.deps.mirror
        if isinstance(event, CommitPushed):
            return mirror.show(base)
        target = mirror.head(event.base_branch)
        return mirror.diff(mirror.merge_base(target, base) if target else f"{base}~1", base)

    def _problem(self, event: Event, shown: str, findings: list[dict[str, object]]) -> str:
        if isinstance(event, TaskRequested):
            return f"Task ({event.kind}): {event.description}\n\nThe tests before any change:\n{shown}"
        what = "This pull request" if isinstance(event, PullRequestUpdated) else "This commit"
        problem = (
            f"{self.task.description}\n\n{what} needs a fix. Change the code (not the tests, unless a test is "
            f"clearly wrong) so the tests pass and the findings below are resolved.\n\n{shown}"
        )
        if findings:
            problem += "\n\nThe reviewer's blocking findings:\n" + "\n".join(
                f"- [{f.get('severity')}] {f.get('file') or ''}:{f.get('line') or ''} {f.get('message')}"
                for f in findings
            )
        return problem

    def _candidate_test(self, sandbox: Sandbox) -> tuple[CommandResult, str]:
        result = self._test(sandbox)
        shown = evidence(result, self.deps.config.repository.test_command)
        self.deps.store.add_code_version(
            self.task.id,
            {
                "kind": "candidate",
                "diff": self.deps.mirror.stage(self.worktree),
                "tests_passed": result.ok,
                "test_output": self.deps.redactor.text(shown),
            },
        )
        return result, shown

    def _gate_and_publish(self, session_id: int, result: TeamResult, branch: str) -> str:
        mirror, store = self.deps.mirror, self.deps.store
        diff = mirror.stage(self.worktree)
        sha = mirror.commit(
            self.worktree, commit_message(self.task, session_id, result), self.state / f"task-{self.task.id}.msg"
        )
        gate_tree = mirror.add_worktree(self.state / "worktrees" / f"task-{self.task.id}-gate", sha)
        gate = self._sandbox(gate_tree, f"task-{self.task.id}-gate")
        try:
            final = self._test(gate)
        finally:
            gate.close()
            mirror.remove_worktree(gate_tree)
        shown = evidence(final, self.deps.config.repository.test_command)
        store.add_code_version(
            self.task.id,
            {
                "kind": "final",
                "sha": sha,
                "diff": diff,
                "tests_passed": final.ok,
                "test_output": self.deps.redactor.text(shown),
            },
        )
        if not final.ok:
            return self._finish(
                "no_fix", f"{result.summary}\n\nNot committed: the gate's fresh test run failed.", tests_passed=False
            )
        mirror.publish(sha, branch)
        self.log.info("published", branch=branch, commit=sha)
        return self._finish("fixed", result.summary, branch=branch, commit_sha=sha, tests_passed=True)

    def _team(self, sandbox: Sandbox, session_id: int) -> Team:
        deps = self.deps
        session = Session(deps.store, self.task.id, session_id)
        toolbox = Toolbox(
            CodeTool(self.worktree, deps.policy),
            ExecuteCommandTool(sandbox, deps.policy, deps.config.sandbox.command_timeout_s),
            deps.query,
            deps.policy,
            deps.redactor,
            audit=lambda record: deps.store.add_tool_call(session_id, record),
        )
        participants = {role: Participant(role, role, model, SUBMIT_OF[role]) for role, model in deps.models.items()}
        team_config = deps.config.team
        return Team(participants, toolbox, session, self.cancel, team_config.max_steps_per_turn, team_config.max_rounds)

    def _finish(self, status: str, summary: str, **fields: object) -> str:
        self.deps.store.update_task(
            self.task.id, status=status, summary=self.deps.redactor.text(summary), finished_at=time.time(), **fields
        )
        write_report(self.deps, self.task.id)
        return status


def _verdict(result: TeamResult) -> dict[str, object]:
    return {
        "accepted": result.accepted,
        "summary": result.summary,
        "reason": result.reason,
        "votes": result.votes,
        "models": result.models,
        "findings": result.findings,
    }


def worktree_root(state_dir: Path) -> Path:
    """Where job worktrees live."""
    return state_dir / "worktrees"
