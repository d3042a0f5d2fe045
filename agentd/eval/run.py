"""`agentd eval run`: every (task, protocol, model, repeat) through agentd's real job path, then scored.

One run is what a user's `agentd task "<description>"` would be on a repository holding the task's
repo/: a scratch git repository, agentd's own clone of it, a `TaskRequested` event in the eval's
store, and `agentd.job.job.Job` with its worktrees, sandboxes, tools, gate and publish. The event
names no kind (`fix`, the CLI's default), so agentd decides the task's purpose itself, as it would
for the user. Then hidden/ is laid over what agentd published (agentd.eval.score).

The eval keeps its own store (DIR/agentd.db), never the daemon's: a running daemon would claim
the eval's queued jobs. Each scored run is recorded there as it ends, so a killed eval resumes
where it stopped: done runs are skipped, runs that died of an error are tried again.
"""

from __future__ import annotations

import contextlib
import math
import re
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentd.app import build_deps, sandbox_config
from agentd.config import Config
from agentd.eval.harness import Harness, TaskSandboxes
from agentd.eval.models import BUILTIN_MODELS, script_for
from agentd.eval.score import Score, attempt_metrics, score
from agentd.eval.task import EvalTask
from agentd.eval.trees import starting_tree
from agentd.forge.config import ForgeConfig
from agentd.intake.config import ApiConfig, WebhookConfig
from agentd.job.context import JobDeps, purpose_of
from agentd.job.job import Job
from agentd.kernel.errors import AgentdError
from agentd.kernel.events import TaskRequested
from agentd.models.budget import Price
from agentd.models.config import ModelConfig
from agentd.models.scripted import ScriptedModelServer
from agentd.repo.config import RepositoryConfig
from agentd.repo.mirror import run_git
from agentd.store.base import Lease, Store
from tools.config import QueryDatabaseConfig

PROTOCOLS = ("single", "vote", "debate", "negotiation", "auto")
REQUESTED_KIND = "fix"  # what `agentd task` sends without --kind: agentd reads the purpose from the words
BLIND_DESCRIPTION = "The tests show something is wrong in this repository. Find it and fix it."
LEASE_S = 7 * 86_400.0  # the eval's store has no other worker; a killed eval's leases must never come back


class EvalError(AgentdError):
    """An eval run cannot start: bad options (the message names the fix)."""


@dataclass(frozen=True, order=True)
class RunKey:
    """One attempt: a task under a protocol with a model, the n-th time."""

    task: str
    protocol: str
    model: str
    repeat: int

    @property
    def id(self) -> str:
        """`task/protocol/model/repeat`: the attempt's key in the store and in results.json."""
        return f"{self.task}/{self.protocol}/{self.model}/{self.repeat}"

    @property
    def slug(self) -> str:
        """The key as a directory name."""
        return re.sub(r"[^A-Za-z0-9._-]+", "-", self.id.replace("/", "--"))


def plan_runs(tasks: Sequence[str], protocols: Sequence[str], models: Sequence[str], repeat: int) -> list[RunKey]:
    """Every attempt, task by task (so the first results cover the whole grid of one task)."""
    return [
        RunKey(task, protocol, model, n)
        for task in tasks
        for protocol in protocols
        for model in models
        for n in range(1, repeat + 1)
    ]


def check_choices(config: Config, protocols: Sequence[str], models: Sequence[str]) -> None:
    """Refuse unknown protocols and model names before anything runs, naming the choices."""
    unknown = [p for p in protocols if p not in PROTOCOLS]
    if unknown:
        raise EvalError(f"unknown protocol(s) {', '.join(unknown)}; choose from {', '.join(PROTOCOLS)}")
    known = [*BUILTIN_MODELS, *config.models]
    missing = [m for m in models if m not in known]
    if missing:
        raise EvalError(
            f"unknown model(s) {', '.join(missing)}: name a [models.NAME] table of the config "
            f"({', '.join(config.models)}) or a built-in scripted model ({', '.join(BUILTIN_MODELS)})"
        )


def run_config(config: Config, task: EvalTask, protocol: str, model: ModelConfig, work: Path) -> Config:
    """The user's config, pointed at one attempt: the scratch repository, its state, the protocol, the model,
    the task's limits; no forge, webhook, API or target database of the user's."""
    limits = task.spec.limits
    budget = {"max_tokens_per_task": limits.max_tokens, "max_usd_per_task": limits.max_usd}
    team = {"max_steps_per_turn": limits.max_steps_per_turn}
    repository = RepositoryConfig(
        path=work / "repo",
        watch_branches=["main"],
        test_command=list(task.spec.test_command),
        test_timeout_s=math.ceil(limits.test_timeout_s),
    )
    return config.model_copy(
        update={
            "daemon": config.daemon.model_copy(update={"state_dir": work / "state"}),
            "repository": repository,
            "models": {"default": model},
            "roles": {},
            "debate": config.debate.model_copy(update={"protocol": protocol}),
            "team": config.team.model_copy(update={k: v for k, v in team.items() if v is not None}),
            "budget": config.budget.model_copy(update={k: v for k, v in budget.items() if v is not None}),
            "forge": ForgeConfig(),
            "webhook": WebhookConfig(),
            "api": ApiConfig(),
            "target_database": QueryDatabaseConfig(),
            # the built-in models cost nothing, and say so (an unpriced model is warned about on every call)
            "prices": {**config.prices, model.model: Price()} if model.model in BUILTIN_MODELS else config.prices,
        }
    )


class EvalRunner:
    """Runs attempts through the job path in the eval's store and scores them; safe to call from several threads."""

    def __init__(self, config: Config, out: Path, harness: Harness, store: Store) -> None:
        self.config, self.out, self.harness, self.store = config, out, harness, store
        self.owner = f"eval-{uuid.uuid4().hex[:8]}"
        self._claim = threading.Lock()

    def abandon_leftovers(self) -> int:
        """Mark the tasks a killed eval left queued or running as abandoned (one eval at a time uses a DIR)."""
        summary = "Abandoned: the eval run working on it was stopped; the attempt is run again."
        left = [t for status in ("queued", "running") for t in self.store.list_tasks(100_000, status)]
        for found in left:
            self.store.update_task(found.id, status="cancelled", summary=summary, finished_at=time.time())
        return len(left)

    def run(self, task: EvalTask, key: RunKey) -> dict[str, Any]:
        """One attempt start to end; the record is stored before it is returned. Never raises for the attempt."""
        work = self.out / "work" / key.slug
        self._clear(task, work)
        started = time.monotonic()
        record: dict[str, Any] = {
            "key": key.id,
            "task": key.task,
            "kind": task.spec.kind,
            "protocol": key.protocol,
            "model": key.model,
            "repeat": key.repeat,
            **Score(False, False, False, "not run").as_dict(),
            "error": None,
        }
        task_id = None
        try:
            with contextlib.ExitStack() as stack:
                task_id = self._attempt(task, key, work, stack, record)
        except Exception as exc:  # noqa: BLE001 - one attempt's failure is its record, never the whole eval's end
            record["error"] = f"{type(exc).__name__}: {exc}"
        record["seconds"] = round(time.monotonic() - started, 1)
        self.store.set_eval_result(key.id, task_id, record)
        self._keep_report(work, task_id, key)
        self._clear(task, work)
        return record

    def _attempt(
        self, task: EvalTask, key: RunKey, work: Path, stack: contextlib.ExitStack, record: dict[str, Any]
    ) -> int:
        starting_tree(task, work / "repo")
        config = run_config(self.config, task, key.protocol, self._model(key.model, task, work, stack), work)
        deps = build_deps(config, self.store)
        stack.callback(deps.models.close)
        deps.sandboxes = TaskSandboxes(self.harness, task, sandbox_config(config, deps.policy), work / "state" / "run")
        self._give_database(task, deps, stack)
        event = self._event(task, config, key)
        purpose = purpose_of(event)
        record |= {"kind_chosen": purpose.kind, "kind_why": purpose.why}
        task_id, lease = self._enqueue_and_claim(event)
        record["store_task"] = task_id
        error = self._run_job(deps, lease, task)
        record |= attempt_metrics(self.store, task_id)
        record["error"] = error
        record |= score(task, self.harness, self._published_diff(deps, task_id), work / "score").as_dict()
        return task_id

    def _model(self, name: str, task: EvalTask, work: Path, stack: contextlib.ExitStack) -> ModelConfig:
        """The [models.NAME] table of the config, or a built-in scripted model served for this attempt."""
        if name not in BUILTIN_MODELS:
            return self.config.models[name]
        server = ScriptedModelServer(script_for(name, task, work / "oracle")).start()
        stack.callback(server.stop)
        return ModelConfig(provider="openai", model=name, base_url=server.openai_base_url, max_retries=0)

    def _give_database(self, task: EvalTask, deps: JobDeps, stack: contextlib.ExitStack) -> None:
        """For a task with a fixture: a fresh database of it is the project's database (query_database, SQL gate)."""
        if task.fixture is None:
            return
        from tools.query import QueryDatabaseTool  # noqa: PLC0415 - psycopg loads only for tasks with a database

        dsn = stack.enter_context(self.harness.databases.fresh(task.fixture, on_host=True))
        deps.query = QueryDatabaseTool(dsn, QueryDatabaseConfig(), deps.policy.sql)

    def _event(self, task: EvalTask, config: Config, key: RunKey) -> TaskRequested:
        return TaskRequested(
            repo=config.repository.source,
            description=task.spec.description.strip() or BLIND_DESCRIPTION,
            base_ref="main",
            kind=REQUESTED_KIND,
            request_id=f"eval:{key.id}:{uuid.uuid4().hex}",
        )

    def _enqueue_and_claim(self, event: TaskRequested) -> tuple[int, Lease]:
        """Queue the attempt's task and lease its job; a job a killed eval left queued is marked abandoned."""
        with self._claim:
            task_id, _ = self.store.enqueue(event, event.description, None)
            while True:
                lease = self.store.claim_job(self.owner, LEASE_S)
                if lease is None:
                    raise EvalError(f"the eval store's queue has no job for task {task_id}, which was just queued")
                if lease.task_id == task_id:
                    return task_id, lease
                self.store.finish_job(lease, "cancelled", "abandoned: the eval run that queued it was stopped")
                summary = "Abandoned: the eval run that queued it was stopped; the run was tried again."
                self.store.update_task(lease.task_id, status="cancelled", summary=summary, finished_at=time.time())

    def _run_job(self, deps: JobDeps, lease: Lease, task: EvalTask) -> str | None:
        """The job, within the task's wall time; the error that ended it early, if one did."""
        cancel = threading.Event()
        wall = task.spec.limits.wall_time_s
        timer = threading.Timer(wall, cancel.set) if wall else None
        job = Job(deps, lease, cancel)
        error = None
        try:
            if timer is not None:
                timer.start()
            job.run()
            self.store.finish_job(lease, "done")
        except Exception as exc:  # noqa: BLE001 - a job that dies is the attempt's result, recorded as such
            error = f"wall time of {wall:.0f}s reached" if cancel.is_set() else f"{type(exc).__name__}: {exc}"
            self.store.finish_job(lease, "failed", error)
            summary = f"Stopped: {error}. Nothing was committed."
            self.store.update_task(lease.task_id, status="failed", summary=summary, finished_at=time.time())
        finally:
            if timer is not None:
                timer.cancel()
            job.cleanup()
        return error

    def _published_diff(self, deps: JobDeps, task_id: int) -> str | None:
        """The change agentd published (its commit against the base), or None when it published nothing."""
        found = self.store.get_task(task_id)
        if found is None or found.status != "fixed" or not found.commit_sha or not found.base_sha:
            return None
        return run_git(deps.mirror.path, "diff", "--binary", "--no-renames", found.base_sha, found.commit_sha) + "\n"

    def _keep_report(self, work: Path, task_id: int | None, key: RunKey) -> None:
        """Keep agentd's own report of the attempt (DIR/reports/<key>.md) before the scratch space goes."""
        report = work / "state" / "reports" / f"task-{task_id}.md"
        if task_id is not None and report.is_file():
            (self.out / "reports").mkdir(exist_ok=True)
            shutil.copyfile(report, self.out / "reports" / f"{key.slug}.md")

    def _clear(self, task: EvalTask, work: Path) -> None:
        """Remove an attempt's scratch space and any sandbox a killed eval left running over it."""
        if work.exists():
            with contextlib.suppress(AgentdError):
                TaskSandboxes(self.harness, task, self.harness.config, work / "state" / "run").reap()
            shutil.rmtree(work, ignore_errors=True)


def run_all(
    runner: EvalRunner,
    tasks: dict[str, EvalTask],
    keys: Sequence[RunKey],
    jobs: int,
    on_done: Callable[[dict[str, Any]], None],
) -> None:
    """Run the attempts `keys`, `jobs` at a time; `on_done` hears each record as it ends."""
    with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="eval-run") as pool:
        futures = [pool.submit(runner.run, tasks[key.task], key) for key in keys]
        for future in as_completed(futures):
            on_done(future.result())
