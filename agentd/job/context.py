"""What a job works with: the settings and parts the daemon built once, and one job's facts, read once."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from agentd.engine.config import DebateConfig, TeamConfig
from agentd.forge.base import Forge
from agentd.forge.config import ForgeConfig
from agentd.job.config import ReviewConfig
from agentd.job.trust import Trust
from agentd.kernel.events import Event, PullRequestCommand, TaskRequested
from agentd.kernel.policy import Policy
from agentd.kernel.purpose import Purpose, classify
from agentd.kernel.redact import Redactor
from agentd.kernel.seams import SandboxFactory
from agentd.models.budget import BudgetConfig, Price
from agentd.models.pool import ModelPool
from agentd.perf.config import OptimizerConfig
from agentd.repo.config import RepositoryConfig
from agentd.repo.mirror import Mirror
from agentd.store.base import Lease, Store, Task
from sandbox.config import SandboxConfig
from tools.query import QueryDatabaseTool


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
    review: ReviewConfig = field(default_factory=ReviewConfig)
    forge: ForgeConfig = field(default_factory=ForgeConfig)


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


@dataclass
class JobContext:
    """One job's facts, read once and handed to the gate and the publisher instead of callbacks."""

    deps: JobDeps
    task: Task
    base: str
    branch: str
    cancel: threading.Event
    log: structlog.stdlib.BoundLogger
    trust: Trust
    lease: Lease | None = None  # the worker's lease; the task's end is recorded only while it holds
    session_id: int = 0
    purpose: Purpose | None = None  # read from the task's event on first use when not given

    @property
    def task_purpose(self) -> Purpose:
        """What the job works the task as (agentd.kernel.purpose), read once from its event."""
        if self.purpose is None:
            self.purpose = purpose_of(self.task.event)
        return self.purpose

    @property
    def optimizing(self) -> bool:
        """Whether the task asks for speed (by its kind or its words), so the speed (or SQL) gate applies."""
        return self.task_purpose.optimizing

    @property
    def about_tests(self) -> bool:
        """Whether the task asks for work on the tests themselves (then changing them is no tampering)."""
        return self.task_purpose.about_tests

    def record_version(self, version: dict[str, object]) -> None:
        """Record a tree agentd tested (its test output redacted)."""
        if isinstance(version.get("test_output"), str):
            version = {**version, "test_output": self.deps.redactor.text(str(version["test_output"]))}
        self.deps.store.add_code_version(self.task.id, version)


def purpose_of(event: Event) -> Purpose:
    """What the job works the event as: a requested task's kind and words decide; `/agentd optimize` on a PR is an
    optimization; any other commit or PR is a fix."""
    if isinstance(event, TaskRequested):
        return classify(event.kind, event.description)
    if isinstance(event, PullRequestCommand) and event.verb == "optimize":
        return Purpose("optimize", "the pull request command /agentd optimize", False, "optimize")
    return Purpose("fix", "a commit or pull request: agentd fixes what its tests and reviewer find", False, "fix")
