"""One job, start to end: worktree → sandbox → agentd's test run → team → gate → publish.

The gate re-runs the test command in a fresh container on a fresh worktree of the exact commit
that would be published; only a green commit gets an agentd/ branch.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import structlog

from agentd.engine.config import DebateConfig, TeamConfig
from agentd.engine.debate import Outcome, Session, Team, evidence
from agentd.job.lanes import BenchConfig, JobBench, JobLane
from agentd.job.report import render_markdown
from agentd.kernel.errors import BudgetExceeded, JobCancelled
from agentd.kernel.events import CommitPushed, Event, PullRequestUpdated, TaskRequested
from agentd.kernel.policy import Policy
from agentd.kernel.redact import Redactor
from agentd.kernel.seams import Forge, SandboxFactory
from agentd.models.budget import BudgetConfig, BudgetGuard, Price, cost_usd
from agentd.models.pool import ModelPool
from agentd.perf import sqlpath
from agentd.perf.config import OptimizerConfig
from agentd.perf.diffs import benchmark_packages
from agentd.perf.runner import compare
from agentd.repo.config import RepositoryConfig
from agentd.repo.mirror import Mirror
from agentd.store.base import Lease, Store, Task
from sandbox.config import SandboxConfig
from tools.query import QueryDatabaseTool

log = structlog.get_logger("agentd.job.job")


@dataclass(frozen=True)
class JobSettings:
    """The parts of the configuration a job reads, each owned by its part."""

    state_dir: Path
    repository: RepositoryConfig
    sandbox: SandboxConfig
    debate: DebateConfig
    team: TeamConfig
    budget: BudgetConfig
    prices: Mapping[str, Price]
    optimizer: OptimizerConfig


@dataclass
class JobDeps:
    """Everything a job needs, built once by the daemon."""

    settings: JobSettings
    store: Store
    mirror: Mirror
    sandboxes: SandboxFactory
    models: ModelPool
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
    path = deps.settings.state_dir / "reports" / f"task-{task_id}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(markdown, encoding="utf-8")
    event = task.event
    if deps.forge is not None and isinstance(event, PullRequestUpdated):
        from agentd.forge.github import comment_for  # noqa: PLC0415 - only with a forge configured

        repo = deps.settings.repository.source
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


def commit_message(task: Task, session_id: int, outcome: Outcome) -> str:
    """The published commit's message: the agreed summary and agentd's trailers."""
    title, _, body = outcome.summary.strip().partition("\n")
    body = body.strip()
    trailers = (
        f"Agentd-Task: {task.id}\n"
        f"Agentd-Debate: session {session_id}, protocol {outcome.protocol}\n"
        f"Agentd-Votes: {', '.join(outcome.votes)}\n"
        f"Agentd-Models: {', '.join(outcome.models)}\n"
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
        self.state = deps.settings.state_dir
        self.log = log.bind(task=task.id, job=lease.job_id)
        self.session_id = 0
        self.bench: JobBench | None = None
        self.sql_cases: list[sqlpath.SqlCase] = []

    def _optimizing(self) -> bool:
        event = self.task.event
        return isinstance(event, TaskRequested) and event.kind == "optimize"

    def abort(self) -> None:
        """Stop the job now (daemon stopping): remove its containers so a running command ends."""
        self.cancel.set()
        if self.bench is not None:
            self.bench.abort()

    def cleanup(self) -> None:
        """Remove the job's containers and worktrees (also when its thread cannot finish by itself)."""
        if self.bench is not None:
            self.bench.close()

    def run(self) -> str:
        """Do the job; returns the task's final status."""
        mirror, config = self.deps.mirror, self.deps.settings
        mirror.fetch()
        branch = branch_for(self.task)
        base = self._base_sha(self.task.event)
        self.deps.store.update_task(self.task.id, base_sha=base)
        event = self.task.event
        if isinstance(event, PullRequestUpdated) and mirror.pull_requests:
            current = mirror.pull_heads().get(event.number)
            if current is not None and current != event.head_sha:
                return self._finish("superseded", f"PR #{event.number} moved on to {current[:7]} before this ran")
        already = self._already_published(branch)
        if already:
            return self._finish(
                "fixed", "published earlier; nothing to redo", branch=branch, commit_sha=already, tests_passed=True
            )
        self.bench = JobBench(
            BenchConfig(
                self.task.id,
                base,
                self.state / "worktrees",
                config.repository.test_command,
                config.repository.test_timeout_s,
                config.sandbox.command_timeout_s,
                mirror,
                self.deps.sandboxes,
                self.deps.store,
                self.deps.policy,
                self.deps.redactor,
                self.deps.query,
                lambda: self.session_id,
                self.cancel.is_set,
            )
        )
        try:
            return self._work(base, branch)
        except BudgetExceeded as exc:
            return self._finish("no_fix", f"Stopped: {exc}. Nothing was committed.")
        finally:
            self.bench.close()

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

    def _team(self) -> Team:
        deps, store = self.deps, self.deps.store
        resumed = store.running_session(self.task.id)
        if resumed is not None:
            self.session_id, turns = resumed
            self.log.info("resuming debate", session=self.session_id, turns=len(turns))
        else:
            self.session_id = store.start_session(
                self.task.id, deps.settings.debate.protocol, deps.settings.debate.strategy
            )
            turns = []
        replay = {t["submission"]["key"]: t for t in turns if t.get("submission") and "key" in t["submission"]}
        prices = deps.settings.prices
        session = Session(
            store, self.task.id, self.session_id, replay, price=lambda model, usage: cost_usd(model, usage, prices)
        )
        midnight = time.time() - time.time() % 86_400
        guard = BudgetGuard(deps.settings.budget, store.spent_since(midnight), prices=prices)
        models = deps.models.for_job(self.task.kind, guard, store.model_stats())
        return Team(models, session, deps.settings.debate, self.cancel, deps.settings.team.max_steps_per_turn)

    def _work(self, base: str, branch: str) -> str:
        assert self.bench is not None
        config, store = self.deps.settings, self.deps.store
        team = self._team()
        main = self.bench.lane("main")
        baseline = main.run_tests()
        shown = evidence(baseline, config.repository.test_command)
        store.add_code_version(
            self.task.id,
            {"kind": "base", "sha": base, "tests_passed": baseline.ok, "test_output": self.deps.redactor.text(shown)},
        )
        self.log.info("baseline tested", tests_passed=baseline.ok)
        event = self.task.event
        findings: list[dict[str, object]] = []
        if isinstance(event, CommitPushed | PullRequestUpdated):
            review = team.review(self._change(event, base), shown, main.tools)
            findings = [f for f in review.findings if f.get("severity") in {"major", "critical"}]
            if baseline.ok and not findings:
                store.finish_session(self.session_id, "reviewed", _verdict(review))
                self._learn(team, review, green=True)
                return self._finish("reviewed", review.summary or review.reason, tests_passed=True)
        problem = self._problem(event, shown, findings)
        if self._optimizing() and self.deps.query is not None and self.deps.query.dsn:
            self.sql_cases = sqlpath.collect(self.deps.query.dsn, main.worktree, self.deps.policy.sql)
            problem += "\n\n" + self.deps.redactor.text(sqlpath.describe(self.sql_cases, main.worktree))
        outcome = team.decide(problem, self.bench)
        store.finish_session(self.session_id, "agreed" if outcome.accepted else "rejected", _verdict(outcome))
        self._learn(team, outcome, green=bool(outcome.tests and outcome.tests.ok))
        if not outcome.accepted or outcome.lane is None:
            flag = " A person should look." if outcome.flagged_for_person else ""
            return self._finish(
                "no_fix" if not outcome.flagged_for_person else "no_consensus",
                f"{outcome.summary}\n\nNot committed: {outcome.reason}.{flag}".strip(),
                tests_passed=bool(outcome.tests and outcome.tests.ok),
            )
        assert isinstance(outcome.lane, JobLane)
        return self._gate_and_publish(outcome, outcome.lane, branch)

    def _learn(self, team: Team, outcome: Outcome, green: bool) -> None:
        """Add this task's outcome to the record of each model the team used (adaptive choice)."""
        record = self.deps.store.task_record(self.task.id)
        turns = [turn for session in record["sessions"] for turn in session["turns"]]
        names = {m.split(" | ")[0] for m in team.used_models.values()}
        for name in names:
            latency = sum(float(t["latency_ms"]) for t in turns if str(t["model"]).split(" | ")[0] == name)
            self.deps.store.record_model_outcome(
                self.task.kind,
                name,
                outcome.accepted,
                green,
                float(record["usage"].get("cost_usd", 0.0)) / max(1, len(names)),
                latency,
            )

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

    def _speed_gate(self, lane: JobLane) -> tuple[bool, list[str], str]:
        """For an optimization: agentd's own interleaved before/after benchmark must show the gain.

        Returns (kept, commit trailers, the measurement in words).
        """
        assert self.bench is not None
        packages = benchmark_packages(lane.diff(), lane.worktree)
        if not packages:
            return False, [], "no benchmark covers the changed packages, so agentd could not measure a gain"
        base = self.bench.lane("perf-base")
        cpus = str(max(1, int(self.deps.settings.sandbox.cpus)))
        trailers: list[str] = []
        said: list[str] = []
        kept = True
        for package in packages:
            comparison = compare(
                base.sandbox,
                lane.sandbox,
                package,
                ".",
                settings=self.deps.settings.optimizer,
                env={"GOMAXPROCS": cpus},
            )
            self.deps.store.add_code_version(
                self.task.id, {"kind": f"benchmark:{package}", "test_output": json.dumps(comparison.to_dict())}
            )
            trailers += comparison.trailers()
            said += [f"{b.name}: {b.describe()}" for b in comparison.benchmarks]
            kept = kept and comparison.shows_gain
        return kept, trailers, "; ".join(said)

    def _gate_and_publish(self, outcome: Outcome, lane: JobLane, branch: str) -> str:
        assert self.bench is not None
        mirror, store = self.deps.mirror, self.deps.store
        diff = lane.diff()
        message = commit_message(self.task, self.session_id, outcome)
        if self._optimizing():
            dsn = self.deps.query.dsn if self.deps.query is not None else None
            if dsn and sqlpath.added_indexes(diff):
                kept, trailers, measured = sqlpath.migration_gate(dsn, diff, self.sql_cases)
            else:
                kept, trailers, measured = self._speed_gate(lane)
            if not kept:
                gain = self.deps.settings.optimizer.min_gain
                return self._finish(
                    "no_fix",
                    f"{outcome.summary}\n\nNot committed: agentd's own benchmark shows no significant gain "
                    f"above {gain:.0%}: {measured}",
                    tests_passed=bool(outcome.tests and outcome.tests.ok),
                )
            message += "".join(f"{line}\n" for line in trailers)
            outcome.summary = f"{outcome.summary}\n\nMeasured by agentd: {measured}"
        sha = mirror.commit(lane.worktree, message, self.state / f"task-{self.task.id}.msg")
        _, gate = self.bench.open_gate(sha)
        repository = self.deps.settings.repository
        final = gate.run(repository.test_command, timeout_s=repository.test_timeout_s)
        gate.close()
        if self.cancel.is_set():
            raise JobCancelled("the job was cancelled during the gate")
        shown = evidence(final, self.deps.settings.repository.test_command)
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
                "no_fix", f"{outcome.summary}\n\nNot committed: the gate's fresh test run failed.", tests_passed=False
            )
        mirror.publish(sha, branch)
        self.log.info("published", branch=branch, commit=sha)
        return self._finish("fixed", outcome.summary, branch=branch, commit_sha=sha, tests_passed=True)

    def _finish(self, status: str, summary: str, **fields: object) -> str:
        self.deps.store.update_task(
            self.task.id, status=status, summary=self.deps.redactor.text(summary), finished_at=time.time(), **fields
        )
        write_report(self.deps, self.task.id)
        return status


def _verdict(outcome: Outcome) -> dict[str, object]:
    return {
        "accepted": outcome.accepted,
        "summary": outcome.summary,
        "reason": outcome.reason,
        "protocol": outcome.protocol,
        "votes": outcome.votes,
        "models": outcome.models,
        "findings": outcome.findings,
        **outcome.record,
    }
