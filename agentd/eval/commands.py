"""What `agentd eval check` and `agentd eval replay` do, behind the CLI's thin commands; `say` prints a line."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from agentd.eval.check import TaskCheck, check_tasks
from agentd.eval.harness import Harness
from agentd.eval.replay import ReplayOptions, prepare, replay
from agentd.eval.task import task_dirs
from sandbox.config import SandboxConfig

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
