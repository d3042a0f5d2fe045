"""One job, start to end: lanes → agentd's own test run → review → the team → the gate → publish.

The job reads its task once, makes one `JobContext`, and hands it to the gate (agentd.job.gate)
and the publisher (agentd.job.publish); the engine gets lanes through the `Lanes` protocol. What
it reviews and finds goes into the task's review record (agentd.job.reviewing), which the forge
delivery reads when the task ends. A few lines past ~400: the gate's tampering refusal sits in
`_publish` beside the gate's other refusals, so the path of a commit reads in one place.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import structlog

from agentd.engine.lanes import outcomes_per_test, show_test_run
from agentd.engine.outcome import Outcome, finding_line
from agentd.engine.protocol import first_lanes, review, run_protocol
from agentd.engine.record import Replay, StoreRecorder
from agentd.engine.session import Session
from agentd.engine.turn import TurnResult
from agentd.engine.verdicts import ReviewFinding
from agentd.forge.base import ForgeError
from agentd.job import commands, delivery, gate, reviewing
from agentd.job.commands import Mode
from agentd.job.context import JobContext, JobDeps
from agentd.job.lanes import JobLane, JobLanes, LaneSettings
from agentd.job.publish import (
    already_published,
    branch_for,
    commit_message,
    finish,
    publish,
    publish_notes,
    write_report,
)
from agentd.job.review import ReviewState
from agentd.job.review import load as load_review
from agentd.job.scope import ReviewScope, guidance
from agentd.job.trust import Trust, trust_of
from agentd.kernel import crashpoints, trace
from agentd.kernel.errors import BudgetExceeded, DiskLimitExceeded, RepositoryError
from agentd.kernel.events import CommitPushed, Event, PullRequestCommand, PullRequestUpdated, TaskRequested
from agentd.kernel.seams import CommandResult
from agentd.models.budget import BudgetGuard
from agentd.perf import sqlpath
from agentd.store.base import Lease, Store
from agentd.store.records import as_dict

log = structlog.get_logger("agentd.job.job")


class Job:
    """Runs one leased task; the caller owns the lease."""

    def __init__(
        self, deps: JobDeps, lease: Lease, cancel: threading.Event, claimed: tuple[float, float] | None = None
    ) -> None:
        task = deps.store.get_task(lease.task_id)
        if task is None:
            raise LookupError(f"task {lease.task_id} vanished from the store")
        self.deps = deps
        bound = log.bind(task=task.id, job=lease.job_id)
        undecided = Trust(False, "not decided yet")  # decided in run(), once the forge was asked
        self.ctx = JobContext(deps, task, "", branch_for(task), cancel, bound, undecided, lease)
        self.lanes: JobLanes | None = None
        self.sql_cases: list[sqlpath.SqlCase] = []
        self.mode: Mode = commands.mode_of(task.event)
        self.view: PullRequestUpdated | None = None  # a PR (or a command's PR) with the forge's facts
        self.state: ReviewState | None = None
        self.scope: ReviewScope | None = None
        self.guidance = ""
        self.claimed = claimed  # when the worker asked for the job and when it had it (wall clock)
        self.job_id = lease.job_id

    def abort(self) -> None:
        """Stop the job now (daemon stopping): remove its containers so a running command ends."""
        self.ctx.cancel.set()
        if self.lanes is not None:
            self.lanes.abort()

    def cleanup(self) -> None:
        """Remove the job's containers and worktrees (also when its thread cannot finish by itself)."""
        if self.lanes is not None:
            self.lanes.close()

    def run(self) -> str:
        """Do the job, traced (every phase a span in the store); returns the task's final status."""
        task = self.ctx.task
        attributes = {"agentd.job_id": self.job_id, "agentd.kind": task.kind}
        with trace.job_trace(self.deps.store, task.id, "job", **attributes):
            claiming, claimed = self.claimed or (trace.now(), trace.now())
            trace.record("queued", task.created_at, claiming)
            trace.record("claim", claiming, claimed)
            return self._run()

    def _run(self) -> str:
        ctx, deps = self.ctx, self.deps
        if ctx.task.done:  # it ended on an earlier attempt, killed before its report or its job's end
            write_report(deps, ctx.task.id)
            return ctx.task.status
        deps.models.warm()  # the SDK's import overlaps the fetch, the lanes and the base test run
        with trace.span("fetch"):
            unreachable = self._fetch()
        event = ctx.task.event
        if isinstance(event, PullRequestCommand):
            refused = commands.refusal(deps.forge, event)
            if refused:
                return finish(ctx, "refused", refused)
        self.view, pr_branch = commands.pull_request_view(deps.forge, event)
        ctx.trust = trust_of(self.view or event, deps.settings.repository, self._write_access)
        ctx.base = self._reachable_base(event, unreachable)
        deps.store.update_task(ctx.task.id, base_sha=ctx.base)
        if isinstance(event, PullRequestUpdated) and deps.mirror.pull_requests:
            current = deps.mirror.pull_heads().get(event.number)
            if current is not None and current != event.head_sha:
                self._queue_current_head(event, current)
                return finish(ctx, "superseded", f"PR #{event.number} moved on to {current[:7]} before this ran")
        self._start_review(event, pr_branch)
        published = already_published(ctx)
        if published:
            summary = "published earlier; nothing to redo"
            return finish(ctx, "fixed", summary, branch=ctx.branch, commit_sha=published, tests_passed=True)
        replay = self._open_session()
        self.lanes = JobLanes(self._lane_settings())
        try:
            return self._work(replay)
        except (BudgetExceeded, DiskLimitExceeded) as exc:
            return finish(ctx, "no_fix", f"Stopped: {exc}. Nothing was committed.")
        finally:
            self.lanes.close()

    def _queue_current_head(self, event: PullRequestUpdated, current: str) -> None:
        """Make sure the forge's current head of the PR has a job, even if an older head superseded it."""
        newest = event.model_copy(update={"head_sha": current})
        description = f"PR #{event.number} head {current[:7]} -> {event.base_branch}"
        task_id, queued = self.deps.store.enqueue(newest, description, current, revive=True)
        if queued:
            self.ctx.log.info("queued the current head", pr=event.number, head=current[:12], task=task_id)

    def _lane_settings(self) -> LaneSettings:
        deps, settings = self.deps, self.deps.settings
        return LaneSettings(
            task_id=self.ctx.task.id,
            base=self.ctx.base,
            root=settings.state_dir / "worktrees",
            test_command=settings.repository.test_command,
            test_timeout_s=settings.repository.test_timeout_s,
            command_timeout_s=settings.sandbox.command_timeout_s,
            mirror=deps.mirror,
            sandboxes=deps.sandboxes,
            store=deps.store,
            policy=deps.policy,
            redactor=deps.redactor,
            query=deps.query if self.ctx.trust.trusted else None,  # rows could reach an untrusted author
            session_id=self.ctx.session_id,
            cancel=self.ctx.cancel,
        )

    def _fetch(self) -> RepositoryError | None:
        """Fetch agentd's clone; the error when the remote could not be reached (the clone may still do)."""
        try:
            self.deps.mirror.fetch()
        except RepositoryError as unreachable:
            return unreachable
        return None

    def _reachable_base(self, event: Event, unreachable: RepositoryError | None) -> str:
        """The commit to work on; after a failed fetch it must already be in agentd's clone, else the fetch's error."""
        if unreachable is None:
            return self._base_sha(event)
        try:
            base = self._base_sha(event)
        except RepositoryError:
            raise unreachable from None
        if not self.deps.mirror.has_commit(base):
            raise unreachable
        self.ctx.log.warning("fetch failed; working from agentd's clone as last fetched", error=str(unreachable))
        return base

    def _base_sha(self, event: Event) -> str:
        if isinstance(event, CommitPushed):
            return event.sha
        if self.view is not None:
            return self.view.head_sha
        if isinstance(event, PullRequestUpdated):
            return event.head_sha
        assert isinstance(event, TaskRequested)  # a command always has its PR view
        return self.deps.mirror.resolve(event.base_ref)

    def _write_access(self, login: str) -> bool:
        """The forge's word on a login; a forge that cannot answer trusts nobody."""
        forge = self.deps.forge
        if forge is None:
            return False
        try:
            return forge.has_write_access(login)
        except ForgeError as exc:
            self.ctx.log.warning("write access not known; the PR is untrusted", login=login, error=str(exc))
            return False

    def _start_review(self, event: Event, pr_branch: str) -> None:
        """What the review covers, the repository's instructions for the team, and the head's check, in progress."""
        ctx, deps = self.ctx, self.deps
        if not self.mode.review:
            target = deps.mirror.head(self.view.base_branch) if self.view is not None else None
            rev = target or ctx.base  # a task's base is a branch agentd was asked to work on; a PR's is its target
            self.guidance = guidance(deps.mirror, rev, [], deps.settings.review)[0]
            return
        commit = event if isinstance(event, CommitPushed) else None
        earlier = load_review(deps.store, ctx.task.id)  # a retried job keeps what its first attempt found
        self.state, self.scope = reviewing.start(ctx, commit, self.view, self.mode.full, pr_branch)
        if earlier is not None and earlier.head == self.state.head:
            self.state.findings, self.state.notes, self.state.check = earlier.findings, earlier.notes, earlier.check
        self.state.command = event.verb if isinstance(event, PullRequestCommand) else ""
        self.guidance = self.scope.guidance
        if self.mode.check:  # in progress at once: the first sign on the forge waits for no worktree or sandbox
            delivery.start_check(deps, ctx.task.id, self.state)
            delivery.check_running(deps, ctx.task.id, self.state)

    def _open_session(self) -> Replay:
        """Start the task's debate session, or resume its unfinished one; the turns it can replay."""
        store, debate, ctx = self.deps.store, self.deps.settings.debate, self.ctx
        resumed = store.running_session(ctx.task.id)
        if resumed is None:
            ctx.session_id = store.start_session(ctx.task.id, debate.protocol, debate.strategy)
            return Replay()
        ctx.session_id, turns = resumed
        ctx.log.info("resuming debate", session=ctx.session_id, turns=len(turns))
        return Replay([as_dict(turn) for turn in turns])

    def _session(self, replay: Replay) -> Session:
        deps, store, task_id = self.deps, self.deps.store, self.ctx.task.id
        prices = deps.settings.prices
        assert self.lanes is not None
        recorder = DraftingRecorder(store, task_id, self.ctx.session_id, self.lanes)
        midnight = time.time() - time.time() % 86_400
        guard = BudgetGuard(deps.settings.budget, store.spent_since(midnight), prices=prices)
        models = deps.models.for_job(self.ctx.task.kind, guard, store.model_stats())
        settings = deps.settings
        return Session(models, recorder, settings.debate, settings.team, self.ctx.cancel, replay, self.guidance)

    def _work(self, replay: Replay) -> str:
        assert self.lanes is not None
        ctx, store, command = self.ctx, self.deps.store, self.deps.settings.repository.test_command
        session = self._session(replay)
        main = self.lanes.lane("main")
        event = ctx.task.event
        team_lanes = first_lanes(self.deps.settings.debate)
        if isinstance(event, TaskRequested):  # the team always works on a task: make its lanes meanwhile
            self.lanes.prepare(team_lanes)
        baseline = main.run_tests()
        if not baseline.ok:  # the team will work on it: its lanes are made while the reviewer reads
            self.lanes.prepare(team_lanes)
        shown = show_test_run(baseline, command)
        ctx.record_version({"kind": "base", "sha": ctx.base, "tests_passed": baseline.ok, "test_output": shown})
        ctx.log.info("baseline tested", tests_passed=baseline.ok)
        self.baseline = baseline
        findings: list[ReviewFinding] = []
        if self.state is not None and self.scope is not None:
            if self.view is not None and not baseline.ok:
                reviewing.test_target(ctx, self.lanes, self.state)
            change = self.scope.change or "(nothing to review: every changed path is skipped or the change is empty)"
            with trace.span("review"):
                reviewed = review(session, change, shown, main.tools, self.mode.ask)
            reviewing.record_findings(ctx, self.state, self.scope, reviewed.findings)
            with trace.span("database review"):
                reviewing.review_database(ctx, self.state, self.scope)
            findings = [f for f in reviewed.findings if f.blocking]
            done = self._reviewed(reviewed, baseline.ok, bool(findings))
            if done is not None:
                return done
        problem = self._problem(ctx.task.event, shown, findings)
        if ctx.optimizing and self.deps.query is not None and self.deps.query.dsn:
            self.sql_cases = sqlpath.collect(self.deps.query.dsn, main.worktree, self.deps.policy.sql)
            problem += "\n\n" + self.deps.redactor.text(sqlpath.describe(self.sql_cases, main.worktree))
        protocol = self.deps.settings.debate.protocol
        with trace.span(f"protocol {protocol}", **{"agentd.protocol": protocol}):
            outcome = run_protocol(session, problem, self.lanes)
        store.finish_session(ctx.session_id, "agreed" if outcome.accepted else "rejected", outcome.verdict())
        self._learn(outcome, green=outcome.tests_passed)
        if not outcome.accepted or outcome.lane is None:
            flag = " A person should look." if outcome.flagged_for_person else ""
            return finish(
                ctx,
                "no_fix" if not outcome.flagged_for_person else "no_consensus",
                f"{outcome.summary}\n\nNot committed: {outcome.reason}.{flag}".strip(),
                tests_passed=outcome.tests_passed,
            )
        return self._gate_and_publish(outcome, self.lanes.lanes[outcome.lane])

    def _reviewed(self, reviewed: Outcome, tests_passed: bool, blocking: bool) -> str | None:
        """End the job after the review when nothing is left to do (the status); None to go on to a fix."""
        ctx, mode = self.ctx, self.mode
        event = ctx.task.event
        asked = event.argument if isinstance(event, PullRequestCommand) else ""
        green = tests_passed and not blocking
        if mode.fix == "always" and (not green or asked):
            return None
        if mode.fix == "when_needed" and not green:
            return None
        self.deps.store.finish_session(ctx.session_id, "reviewed", reviewed.verdict())
        self._learn(reviewed, green=green)
        summary = reviewed.summary or reviewed.reason
        if mode.fix == "always":
            summary = f"Nothing to fix: the tests pass and the review found no blocking finding. {summary}"
        return finish(ctx, "reviewed", summary, tests_passed=tests_passed)

    def _gate_and_publish(self, outcome: Outcome, lane: JobLane) -> str:
        assert self.lanes is not None
        ctx = self.ctx
        diff = lane.diff()
        tampering = gate.untampered(ctx, diff)
        if not tampering.passed:
            refused = f"{outcome.summary}\n\nNot committed: {tampering.reason}."
            return finish(ctx, "no_fix", refused, tests_passed=outcome.tests_passed)
        if tampering.measured:  # weakened tests the task asked for: the commit says so
            outcome.summary += f"\n\nThe change weakens tests, as the task asks: {tampering.measured}"
        trailers: tuple[str, ...] = ()
        if ctx.optimizing:
            with trace.span("gate measure"):
                gain = gate.measure_gain(ctx, self.lanes, lane, diff, self.sql_cases)
            if not gain.passed:
                not_kept = f"{outcome.summary}\n\nNot committed: {gain.reason}"
                return finish(ctx, "no_fix", not_kept, tests_passed=outcome.tests_passed)
            trailers = gain.trailers
            outcome.summary = f"{outcome.summary}\n\nMeasured by agentd: {gain.measured}"
        message = self.deps.redactor.text(commit_message(ctx.task, ctx.session_id, outcome, trailers))
        state = self.deps.settings.state_dir
        lane.diff()  # frozen and staged again: the benchmarks above ran commands in this lane
        sha = self.deps.mirror.commit(lane.worktree, message, state / f"task-{ctx.task.id}.msg")
        with trace.span("gate", **{"agentd.commit": sha}):
            same = gate.same_tree(ctx, lane, sha)
            tested = gate.test_commit(ctx, self.lanes, sha, diff) if same.passed else same
        if not same.passed:
            refused = f"{outcome.summary}\n\nNot committed: {same.reason}."
            return finish(ctx, "no_fix", refused, tests_passed=outcome.tests_passed)
        if not tested.passed:
            return finish(ctx, "no_fix", f"{outcome.summary}\n\nNot committed: {tested.reason}.", tests_passed=False)
        crashpoints.reached("committed")
        with trace.span("publish", **{"agentd.branch": ctx.branch}):
            publish(ctx, sha)
        if self.state is not None:
            reviewing.suggest(ctx, self.state, diff, self._failing())
        summary = outcome.summary + publish_notes(ctx, diff)
        return finish(ctx, "fixed", summary, branch=ctx.branch, commit_sha=sha, tests_passed=True)

    def _learn(self, outcome: Outcome, green: bool) -> None:
        """Add this task's outcome to the record of each model that answered in it (adaptive choice)."""
        store, task = self.deps.store, self.ctx.task
        record = store.task_record(task.id)
        latency = answering_models([as_dict(turn) for session in record.sessions for turn in session.turns])
        cost = record.usage.cost_usd / max(1, len(latency))
        for name, latency_ms in latency.items():
            store.record_model_outcome(task.kind, name, outcome.accepted, green, cost, latency_ms)

    def _failing(self) -> str | None:
        """The tests that failed on the head (None when they passed), for agentd's own finding."""
        baseline: CommandResult | None = getattr(self, "baseline", None)
        if baseline is None or baseline.ok:
            return None
        failed = [name for name, ok in outcomes_per_test(baseline).items() if not ok]
        return ", ".join(failed[:5]) or "the test command fails"

    def _problem(self, event: Event, shown: str, findings: list[ReviewFinding]) -> str:
        if isinstance(event, TaskRequested):
            speed = gate.SPEED_NOTE if self.ctx.optimizing else ""
            kind = self.ctx.task_purpose.kind
            return f"Task ({kind}): {event.description}{speed}\n\nThe tests before any change:\n{shown}"
        if isinstance(event, PullRequestCommand) and event.verb == "optimize":
            asked = event.argument or "the code this pull request changes"
            return f"Task (optimize) on pull request #{event.number}: make {asked} faster.\n\n{shown}"
        if isinstance(event, PullRequestCommand) and event.argument:
            shown = f"{event.author} asked: {event.argument}\n\n{shown}"
        what = "This commit" if isinstance(event, CommitPushed) else "This pull request"
        problem = (
            f"{self.ctx.task.description}\n\n{what} needs a fix. Change the code (not the tests, unless a test is "
            f"clearly wrong) so the tests pass and the findings below are resolved.\n\n{shown}"
        )
        if findings:
            problem += "\n\nThe reviewer's blocking findings:\n" + "\n".join(finding_line(f) for f in findings)
        return problem


class DraftingRecorder(StoreRecorder):
    """The store's recorder that first records the lanes a turn changed, so replaying the turn restores its work."""

    def __init__(self, store: Store, task_id: int, session_id: int, lanes: JobLanes) -> None:
        super().__init__(store, task_id, session_id)
        self.lanes = lanes

    def turn(self, turn: TurnResult) -> None:
        """Record the turn's lane changes, then the turn (a kill between them re-runs the turn, never loses work)."""
        self.lanes.save_drafts(turn.agent, turn.seq)
        super().turn(turn)


def answering_models(turns: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """model -> its latency over the turns it answered (a failed turn names a chain nobody answered from)."""
    latency: dict[str, float] = {}
    for turn in turns:
        if turn["status"] != "failed":
            name = str(turn["model"])
            latency[name] = latency.get(name, 0.0) + float(turn["latency_ms"])
    return latency
