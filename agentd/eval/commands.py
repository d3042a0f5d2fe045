"""What `agentd eval check` and `agentd eval replay` do, behind the CLI's thin commands; `say` prints a line."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentd.eval.check import TaskCheck, check_tasks
from agentd.eval.harness import Harness
from agentd.eval.replay import ReplayOptions, prepare, replay
from agentd.eval.task import load_task, task_dirs
from sandbox.config import SandboxConfig

if TYPE_CHECKING:
    from agentd.config import Config

Say = Callable[[str], None]


def summary(verdicts: Sequence[TaskCheck], seconds: float) -> str:
    """The last line of a check: how many tasks, how many valid, how long."""
    invalid = [verdict.task for verdict in verdicts if not verdict.valid]
    line = f"checked {len(verdicts)} tasks in {seconds:.1f}s: {len(verdicts) - len(invalid)} valid"
    return line + (f", {len(invalid)} not valid ({', '.join(invalid)})" if invalid else "")


def _report(verdict: TaskCheck, verbose: bool, say: Say) -> None:
    say(verdict.line())
    for run in verdict.runs if verbose else ():
        say(f"      {run}")


def run_check(
    suite: str, config: SandboxConfig, jobs: int, only: Sequence[str], say: Say, *, verbose: bool = False
) -> bool:
    """Validate the tasks of a suite, printing a line per task (and its runs) and a summary; True when all are valid."""
    roots = task_dirs(suite, only)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="agentd-eval-") as scratch:
        harness = Harness(config, Path(scratch) / "run")
        try:
            verdicts = check_tasks(
                roots, harness, Path(scratch) / "trees", jobs, on_result=lambda v: _report(v, verbose, say)
            )
        finally:
            harness.close()
    say(summary(verdicts, time.monotonic() - started))
    return all(verdict.valid for verdict in verdicts)


def run_replay(repo: Path, out: Path, options: ReplayOptions, config: SandboxConfig, say: Say) -> int:
    """Build tasks from a repository's history into `out`, printing what was kept and skipped; how many kept."""
    prepare(repo, out)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="agentd-replay-") as scratch:
        harness = Harness(config, Path(scratch) / "run")
        try:
            kept = replay(repo, out, options, harness, Path(scratch), say)
        finally:
            harness.close()
    say(f"replayed {repo}: {len(kept)} valid tasks in {out} ({time.monotonic() - started:.1f}s)")
    return len(kept)


@dataclass(frozen=True)
class RunChoices:
    """What `agentd eval run` was asked for."""

    suite: str
    protocols: tuple[str, ...]
    models: tuple[str, ...]
    repeat: int = 1
    jobs: int = 1
    out: Path = Path("eval-out")
    only: tuple[str, ...] = ()


def run_eval(config: Config, choices: RunChoices, say: Say, progress_stream: Any = None) -> list[dict[str, Any]]:
    """Run (or resume) an eval into choices.out: every attempt, then results.json, report.md, chart.png."""
    from agentd.eval.progress import Progress  # noqa: PLC0415 - the run's parts load only for `eval run`
    from agentd.eval.results import draw_chart, outcome, render_report, write_results  # noqa: PLC0415
    from agentd.eval.run import EvalRunner, check_choices, plan_runs, run_all  # noqa: PLC0415
    from agentd.store import open_store  # noqa: PLC0415

    check_choices(config, choices.protocols, choices.models)
    tasks = {root.name: load_task(root) for root in task_dirs(choices.suite, choices.only)}
    out = choices.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    keys = plan_runs(list(tasks), choices.protocols, choices.models, choices.repeat)
    store = open_store(f"sqlite:///{out / 'agentd.db'}")
    try:
        recorded = store.eval_results()
        done = {key.id: recorded[key.id] for key in keys if recorded.get(key.id, {}).get("error", "") is None}
        todo = [key for key in keys if key.id not in done]
        say(f"{len(keys)} runs in {out}: {len(done)} done before, {len(todo)} to run")
        records = dict(done)
        progress = Progress(len(keys), progress_stream, enabled=None if progress_stream is None else False)
        progress.done = len(done)
        progress.draw()

        def finished(record: dict[str, Any]) -> None:
            records[record["key"]] = record
            progress.clear()
            mark = "ok  " if record["resolved"] else ("WRONG" if record["published_but_wrong"] else "--  ")
            say(f"{mark} {record['key']} ({record.get('seconds', 0):.0f}s): {outcome(record)[:160]}")
            progress.advance(record)
            write_results(out, list(records.values()))

        harness = Harness(config.sandbox, out / "run")
        try:
            runner = EvalRunner(config, out, harness, store)
            abandoned = runner.abandon_leftovers()
            if abandoned:
                say(f"{abandoned} attempt(s) a stopped run left unfinished are marked abandoned and run again")
            run_all(runner, tasks, todo, choices.jobs, finished)
        finally:
            harness.close()
            progress.close()
    finally:
        store.close()
    ordered = [records[key.id] for key in keys if key.id in records]
    write_results(out, ordered)
    note = draw_chart(out / "chart.png", ordered)
    protocols, models = ", ".join(choices.protocols), ", ".join(choices.models)
    title = f"agentd eval: {choices.suite} (protocols {protocols}; models {models})"
    (out / "report.md").write_text(render_report(ordered, title, None if note else "chart.png", note), "utf-8")
    say(f"wrote {out / 'results.json'}, {out / 'report.md'}" + ("" if note else f", {out / 'chart.png'}"))
    return ordered
