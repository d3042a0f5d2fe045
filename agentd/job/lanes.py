"""A job's workbench: lanes, each a fresh worktree of the base commit with its own sandbox and toolbox.

The vote protocol gives every proposer a lane of its own; the debate and negotiation protocols
use one. agentd tests a lane itself and records each tested tree; a turn that changed a lane
records the lane's change (a draft) before the turn itself, so a resumed job that replays the
turn restores what it did.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from agentd.engine.lanes import Evidence
from agentd.kernel import trace
from agentd.kernel.errors import JobCancelled, RepositoryError
from agentd.kernel.policy import Policy
from agentd.kernel.redact import Redactor
from agentd.kernel.seams import CommandResult, Sandbox, SandboxFactory
from agentd.repo.mirror import Mirror, run_git
from agentd.store.base import Store
from tools.code import CodeTool
from tools.execute import ExecuteCommandTool
from tools.query import QueryDatabaseTool
from tools.registry import Toolbox

log = structlog.get_logger("agentd.job.lanes")
MAX_STORED_DIFF = 1 << 20  # a diff past this is stored cut, with a marker saying how much is missing


def stored_diff(diff: str) -> str:
    """A diff as the store keeps it: whole up to MAX_STORED_DIFF, else cut with a marker."""
    if len(diff) <= MAX_STORED_DIFF:
        return diff
    return diff[:MAX_STORED_DIFF] + f"\n[agentd: diff cut here; {len(diff) - MAX_STORED_DIFF} more bytes not stored]\n"


@dataclass
class LaneSettings:
    """What every lane of one job shares."""

    task_id: int
    base: str
    root: Path  # worktrees go under it, one folder per lane
    test_command: list[str]
    test_timeout_s: float
    command_timeout_s: float
    mirror: Mirror
    sandboxes: SandboxFactory
    store: Store
    policy: Policy
    redactor: Redactor
    query: QueryDatabaseTool | None
    session_id: int  # the debate session the lanes' tool calls are audited under
    cancel: threading.Event


@dataclass
class JobLane:
    """One worktree, its sandbox and its toolbox."""

    name: str
    worktree: Path
    sandbox: Sandbox
    tools: Toolbox
    owner: JobLanes
    tested_tree: str | None = None  # the tree agentd last tested here; None when a test run changed it
    recorded_diff: str = ""  # the change last recorded for this lane (tested or draft), to restore on resume

    def diff(self) -> str:
        """The lane's change against the base, staged with the lane frozen (no process left that could change it)
        and planted .git entries removed."""
        killed = self.sandbox.freeze()
        if killed:
            log.warning("processes left in a lane were killed before staging", lane=self.name, killed=killed)
        return self.owner.config.mirror.stage(self.worktree)

    def run_tests(self) -> CommandResult:
        """agentd's own test run in this lane's sandbox, unrecorded."""
        config = self.owner.config
        with trace.span("test run", **{"agentd.lane": self.name}) as current:
            result = self.sandbox.run(config.test_command, timeout_s=config.test_timeout_s)
            current.set_attribute("agentd.tests_passed", result.ok)
        if config.cancel.is_set():
            raise JobCancelled("the job was cancelled during a test run")
        return result

    def test(self) -> Evidence:
        """agentd's own test run of the lane's tree, recorded (diff, tree, result) as its candidate version.

        The tree is taken before the run; a run that changes it leaves the lane with no tested tree,
        so the gate refuses to publish what nobody tested.
        """
        config, mirror = self.owner.config, self.owner.config.mirror
        diff = self.diff()
        tree = mirror.index_tree(self.worktree)
        earlier = self.owner.tested.get(tree)
        if earlier is not None:  # the same tree, image and command: the same run (never for the gate)
            result, lane = earlier
            trace.record("test run reused", trace.now(), trace.now(), **{"agentd.lane": self.name, "agentd.from": lane})
            after, after_diff = tree, diff
        else:
            result = self.run_tests()
            after_diff = self.diff()
            after = mirror.index_tree(self.worktree)
            if after == tree:
                self.owner.tested[tree] = (result, self.name)
        self.tested_tree = tree if after == tree else None
        self.recorded_diff = after_diff if after == tree else self.recorded_diff
        proof = Evidence.of(result, config.test_command)
        shown = proof.shown if after == tree else proof.shown + "\n(the test run changed the workspace)"
        if earlier is not None:
            shown += f"\n(the same tree as {earlier[1]}'s: agentd's run there)"
        config.store.add_code_version(
            config.task_id,
            {
                "kind": f"candidate:{self.name}",
                "sha": tree,
                "diff": stored_diff(diff),
                "tests_passed": result.ok,
                "test_output": config.redactor.text(shown),
            },
        )
        return proof


class ReadOnlySandbox:
    """A sandbox over a lane's worktree mounted read-only, started on its first command (for roles that may not write).

    The kernel, not an argv pattern, keeps a critic's `gofmt -w` or `go run` from changing the lane.
    """

    def __init__(self, factory: SandboxFactory, worktree: Path, job_id: str) -> None:
        self._factory, self._worktree, self._job_id = factory, worktree, job_id
        self._sandbox: Sandbox | None = None
        self._lock = threading.Lock()

    @property
    def workspace(self) -> Path:
        """The lane's worktree."""
        return self._worktree

    def _started(self) -> Sandbox:
        with self._lock:
            if self._sandbox is None:
                self._sandbox = self._factory.open(self._worktree, self._job_id, read_only=True)
            return self._sandbox

    def run(
        self, argv: list[str], cwd: str = ".", timeout_s: float = 300.0, env: dict[str, str] | None = None
    ) -> CommandResult:
        """Run argv in the read-only sandbox (starting it if needed)."""
        return self._started().run(argv, cwd=cwd, timeout_s=timeout_s, env=env)

    def freeze(self) -> int:
        """Kill every process in the read-only sandbox, if it was ever started; how many."""
        with self._lock:
            return self._sandbox.freeze() if self._sandbox is not None else 0

    def close(self) -> None:
        """Remove the container if it was ever started."""
        with self._lock:
            if self._sandbox is not None:
                self._sandbox.close()
                self._sandbox = None


@dataclass
class JobLanes:
    """The lanes of one job; closing it removes every container and worktree.

    Lanes can be prepared ahead, side by side (`prepare`): each is made on a thread of its own while
    the job goes on, and `lane` waits for it. The mirror serialises the worktree changes itself.
    """

    config: LaneSettings
    lanes: dict[str, JobLane] = field(default_factory=dict)
    sandboxes: list[Sandbox] = field(default_factory=list)
    tested: dict[str, tuple[CommandResult, str]] = field(default_factory=dict)  # tree -> agentd's run, its lane
    touched: dict[tuple[str, int], set[str]] = field(default_factory=dict)  # (agent, turn) -> lanes it used
    _pending: dict[str, Future[JobLane]] = field(default_factory=dict)
    _pool: ThreadPoolExecutor | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _closed: bool = False

    def prepare(self, names: Sequence[str]) -> None:
        """Start making the lanes called `names` now, each on its own thread; `lane` waits for them."""
        with self._lock:
            if self._closed:
                return
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix=f"agentd-lanes-{self.config.task_id}")
            for name in names:
                if name not in self.lanes and name not in self._pending:
                    self._pending[name] = self._pool.submit(trace.in_context(self._make), name)

    def lane(self, name: str) -> JobLane:
        """A lane by name, created on first use from the base commit (restored on resume)."""
        with self._lock:
            made, pending = self.lanes.get(name), self._pending.get(name)
        if made is not None:
            return made
        return pending.result() if pending is not None else self._make(name)

    def _make(self, name: str) -> JobLane:
        if self.config.cancel.is_set():
            raise JobCancelled("the job was cancelled")
        config = self.config
        with trace.span("worktree", **{"agentd.lane": name}):
            worktree = config.mirror.add_worktree(config.root / f"task-{config.task_id}-{name}", config.base)
            restored = self._restore(name, worktree)
        # Each sandbox's Go build cache is its own (in its memory), seeded from the image's read-only one:
        # nothing one lane's code writes there reaches another lane, the gate or a later job.
        with trace.span("sandbox start", **{"agentd.lane": name}):
            sandbox = config.sandboxes.open(worktree, f"task-{config.task_id}-{name}")
        read_only = ReadOnlySandbox(config.sandboxes, worktree, f"task-{config.task_id}-{name}-ro")
        tools = Toolbox(
            CodeTool(worktree, config.policy),
            ExecuteCommandTool(sandbox, config.policy, config.command_timeout_s),
            config.query,
            config.policy,
            config.redactor,
            audit=lambda call: self._audit(name, call),
            read_only_execute=ExecuteCommandTool(read_only, config.policy, config.command_timeout_s),
        )
        with self._lock:
            if not self._closed:
                self.sandboxes += [sandbox, read_only]
                self.lanes[name] = JobLane(name, worktree, sandbox, tools, self, recorded_diff=restored)
                return self.lanes[name]
        sandbox.close()  # the job ended while this lane was being made
        raise JobCancelled("the job's lanes were closed")

    def _audit(self, lane: str, call: Mapping[str, Any]) -> None:
        """Write a tool call to the audit trail, noting which lane the agent's turn worked in."""
        with self._lock:
            self.touched.setdefault((str(call.get("agent", "")), int(call.get("turn_seq", 0))), set()).add(lane)
        self.config.store.add_tool_call(self.config.session_id, call)

    def save_drafts(self, agent: str, turn_seq: int) -> None:
        """Record the change of every lane this turn used, when it differs from the lane's last recorded one."""
        with self._lock:
            names = sorted(self.touched.pop((agent, turn_seq), set()))
        for name in names:
            lane = self.lanes[name]
            change = lane.diff()
            if change != lane.recorded_diff:
                self.config.store.add_code_version(self.config.task_id, {"kind": f"draft:{name}", "diff": change})
                lane.recorded_diff = change

    def open_gate(self, sha: str, name: str = "gate") -> tuple[Path, Sandbox]:
        """A fresh worktree of `sha` and a fresh container for one of agentd's own test runs (by default the gate's)."""
        config = self.config
        with trace.span("worktree", **{"agentd.lane": name}):
            worktree = config.mirror.add_worktree(config.root / f"task-{config.task_id}-{name}", sha)
        with trace.span("sandbox start", **{"agentd.lane": name}):
            sandbox = config.sandboxes.open(worktree, f"task-{config.task_id}-{name}")
        with self._lock:
            self.sandboxes.append(sandbox)
        return worktree, sandbox

    def _restore(self, name: str, worktree: Path) -> str:
        """On a resumed job, put back the lane's last recorded change (tested, or left by a finished turn)."""
        versions = self.config.store.task_record(self.config.task_id).versions
        last = [v for v in versions if v.kind in (f"candidate:{name}", f"draft:{name}")]
        if not last or not last[-1].diff.strip():
            return ""
        try:
            run_git(worktree, "apply", "--whitespace=nowarn", "-", timeout_s=60, stdin=last[-1].diff + "\n")
        except RepositoryError as exc:
            raise RepositoryError(f"cannot restore lane {name} on resume: {exc}") from None
        return last[-1].diff

    def abort(self) -> None:
        """Remove every container now (a running command ends), and any a lane still being made starts; never raises."""
        with self._lock:
            self._closed = True
            sandboxes = list(self.sandboxes)
        for sandbox in sandboxes:
            try:
                sandbox.close()
            except Exception:
                log.exception("sandbox close failed")

    def close(self) -> None:
        """Remove every container and worktree of the job (after the lanes still being made)."""
        self.abort()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        for path in self.config.root.glob(f"task-{self.config.task_id}-*"):
            self.config.mirror.remove_worktree(path)
