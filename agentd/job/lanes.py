"""A job's workbench: lanes, each a fresh worktree of the base commit with its own sandbox and toolbox.

The vote protocol gives every proposer a lane of its own; the debate and negotiation protocols
use one. agentd tests a lane itself and records each tested tree; a turn that changed a lane
records the lane's change (a draft) before the turn itself, so a resumed job that replays the
turn restores what it did.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from agentd.engine.lanes import Evidence
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
        """The lane's change against the base (agentd stages it after removing planted .git entries)."""
        return self.owner.config.mirror.stage(self.worktree)

    def run_tests(self) -> CommandResult:
        """agentd's own test run in this lane's sandbox, unrecorded."""
        config = self.owner.config
        result = self.sandbox.run(config.test_command, timeout_s=config.test_timeout_s)
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
        result = self.run_tests()
        after_diff = self.diff()
        after = mirror.index_tree(self.worktree)
        self.tested_tree = tree if after == tree else None
        self.recorded_diff = after_diff if after == tree else self.recorded_diff
        proof = Evidence.of(result, config.test_command)
        shown = proof.shown if after == tree else proof.shown + "\n(the test run changed the workspace)"
        config.store.add_code_version(
            config.task_id,
            {
                "kind": f"candidate:{self.name}",
                "sha": tree,
                "diff": diff,
                "tests_passed": result.ok,
                "test_output": config.redactor.text(shown),
            },
        )
        return proof


@dataclass
class JobLanes:
    """The lanes of one job; closing it removes every container and worktree."""

    config: LaneSettings
    lanes: dict[str, JobLane] = field(default_factory=dict)
    sandboxes: list[Sandbox] = field(default_factory=list)
    touched: dict[tuple[str, int], set[str]] = field(default_factory=dict)  # (agent, turn) -> lanes it used
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def lane(self, name: str) -> JobLane:
        """A lane by name, created on first use from the base commit (restored on resume)."""
        if name in self.lanes:
            return self.lanes[name]
        if self.config.cancel.is_set():
            raise JobCancelled("the job was cancelled")
        config = self.config
        worktree = config.mirror.add_worktree(config.root / f"task-{config.task_id}-{name}", config.base)
        restored = self._restore(name, worktree)
        cache = config.root.parent / "cache" / f"task-{config.task_id}"
        sandbox = config.sandboxes.open(worktree, f"task-{config.task_id}-{name}", cache_dir=cache)
        self.sandboxes.append(sandbox)
        tools = Toolbox(
            CodeTool(worktree, config.policy),
            ExecuteCommandTool(sandbox, config.policy, config.command_timeout_s),
            config.query,
            config.policy,
            config.redactor,
            audit=lambda call: self._audit(name, call),
        )
        self.lanes[name] = JobLane(name, worktree, sandbox, tools, self, recorded_diff=restored)
        return self.lanes[name]

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

    def open_gate(self, sha: str) -> tuple[Path, Sandbox]:
        """A fresh worktree of `sha` and a fresh container for the gate's test run."""
        config = self.config
        worktree = config.mirror.add_worktree(config.root / f"task-{config.task_id}-gate", sha)
        sandbox = config.sandboxes.open(worktree, f"task-{config.task_id}-gate")
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
        """Remove every container now (a running command ends); never raises."""
        for sandbox in list(self.sandboxes):
            try:
                sandbox.close()
            except Exception:
                log.exception("sandbox close failed")

    def close(self) -> None:
        """Remove every container, worktree and the build cache of the job."""
        self.abort()
        for path in self.config.root.glob(f"task-{self.config.task_id}-*"):
            self.config.mirror.remove_worktree(path)
        shutil.rmtree(self.config.root.parent / "cache" / f"task-{self.config.task_id}", ignore_errors=True)
