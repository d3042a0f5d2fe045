"""`agentd eval check`: is each task valid? Its tests must fail before the reference fix and pass after it.

For fix and sql tasks: test_command with hidden/ laid over repo/ fails, and passes once
solution.patch is applied. For optimize tasks the slow starting tree is correct, so the tests pass
on both trees, and agentd's own interleaved benchmark comparison must find the solution faster by
at least min_gain. Every run happens in agentd's sandbox, never on the host.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from agentd.eval.harness import Harness
from agentd.eval.task import EvalTask, load_task
from agentd.eval.trees import scoring_tree, solution_text
from agentd.kernel.errors import AgentdError
from agentd.kernel.seams import CommandResult
from agentd.perf.config import OptimizerConfig
from agentd.perf.runner import compare

OUTPUT_LINES = 12
_BUILD_FAILED = ("[build failed]", "[setup failed]")


@dataclass
class TaskCheck:
    """The verdict on one task: valid or not, why not, what else was seen, and how long it took."""

    task: str
    kind: str = "?"
    reasons: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)  # each test run's outcome and last lines, for --verbose
    seconds: float = 0.0

    @property
    def valid(self) -> bool:
        """True when nothing made the task invalid."""
        return not self.reasons

    def line(self) -> str:
        """One line for the terminal: the verdict, the task, and why (or what was seen)."""
        said = "; ".join(self.reasons or self.notes)
        return f"{'ok  ' if self.valid else 'FAIL'}  {self.task} ({self.kind}, {self.seconds:.1f}s)" + (
            f": {said}" if said else ""
        )


def output_tail(result: CommandResult, lines: int = OUTPUT_LINES) -> str:
    """The last lines of a test run's output, on one line, for a reason or a note."""
    text = (result.stdout.rstrip() + "\n" + result.stderr.rstrip()).strip()
    return " | ".join(text.splitlines()[-lines:]) or "(no output)"


def _outcome(result: CommandResult, limit_s: float) -> str:
    if result.timed_out:
        return f"timed out after {limit_s:.0f}s"
    return f"exit code {result.exit_code}"


def _run(task: EvalTask, harness: Harness, tree: Path, label: str, verdict: TaskCheck) -> CommandResult:
    result = harness.run_tests(task, tree, label)
    verdict.runs.append(f"{label}: {_outcome(result, task.spec.limits.test_timeout_s)}: {output_tail(result)}")
    return result


def _check_fails_then_passes(task: EvalTask, harness: Harness, scratch: Path, verdict: TaskCheck) -> None:
    limit = task.spec.limits.test_timeout_s
    before = _run(task, harness, scoring_tree(task, scratch / "before"), "before", verdict)
    if before.ok:
        verdict.reasons.append("the tests pass on repo/ with hidden/ laid over it: nothing fails before the fix")
    elif before.timed_out:
        verdict.notes.append(f"before the fix the tests time out ({limit:.0f}s): a hang counts as a failure")
    elif any(mark in before.stdout for mark in _BUILD_FAILED):
        verdict.notes.append("before the fix the tests do not build: hidden/ uses names only the fix adds")
    after = _run(task, harness, scoring_tree(task, scratch / "after", solution_text(task)), "after", verdict)
    if not after.ok:
        verdict.reasons.append(f"the tests fail after solution.patch ({_outcome(after, limit)}): {output_tail(after)}")


def _check_optimization(task: EvalTask, harness: Harness, scratch: Path, verdict: TaskCheck) -> None:
    spec = task.spec
    assert spec.min_gain is not None
    before = scoring_tree(task, scratch / "before")
    after = scoring_tree(task, scratch / "after", solution_text(task))
    for label, tree in (("before", before), ("after", after)):
        result = _run(task, harness, tree, label, verdict)
        if not result.ok:
            when = "on the slow starting tree" if label == "before" else "after solution.patch"
            verdict.reasons.append(
                f"the behaviour tests fail {when} ({_outcome(result, spec.limits.test_timeout_s)}): "
                f"{output_tail(result)}"
            )
    if verdict.reasons:
        return
    gained, measured = measure_gain(task, harness, before, after)
    if gained:
        verdict.notes.append(f"solution measured by agentd: {measured}")
    else:
        verdict.reasons.append(f"agentd's benchmark shows no gain of at least {spec.min_gain:.0%}: {measured}")


def measure_gain(task: EvalTask, harness: Harness, before: Path, after: Path) -> tuple[bool, str]:
    """agentd's interleaved benchmark comparison of two trees of an optimize task: (min_gain shown?, in words)."""
    spec = task.spec
    assert spec.benchmark is not None
    assert spec.min_gain is not None
    settings = OptimizerConfig(min_gain=spec.min_gain)
    cpus = str(max(1, int(harness.config.cpus)))
    with (
        harness.sandbox(task, before, "bench-base") as base,
        harness.sandbox(task, after, "bench-candidate") as candidate,
    ):
        comparison = compare(
            base, candidate, spec.benchmark, spec.bench_pattern, settings=settings, env={"GOMAXPROCS": cpus}
        )
    measured = "; ".join(bench.describe() for bench in comparison.benchmarks) or "no benchmark ran"
    return comparison.shows_gain, measured


def check_task(root: Path, harness: Harness, scratch: Path) -> TaskCheck:
    """Validate one task directory; every failure becomes a reason in the verdict, never an exception."""
    started = time.monotonic()
    verdict = TaskCheck(root.name)
    try:
        task = load_task(root)
        verdict.kind = task.spec.kind
        scratch.mkdir(parents=True)
        if task.spec.kind == "optimize":
            _check_optimization(task, harness, scratch, verdict)
        else:
            _check_fails_then_passes(task, harness, scratch, verdict)
    except AgentdError as exc:
        verdict.reasons.append(str(exc))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    verdict.seconds = time.monotonic() - started
    return verdict


def check_tasks(
    roots: Sequence[Path],
    harness: Harness,
    scratch: Path,
    jobs: int = 1,
    on_result: Callable[[TaskCheck], None] = lambda _verdict: None,
) -> list[TaskCheck]:
    """Validate tasks, `jobs` at a time; `on_result` hears each verdict as it comes; verdicts in input order."""
    with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="eval-check") as pool:
        futures = [pool.submit(check_task, root, harness, scratch / f"{index:04d}") for index, root in enumerate(roots)]
        verdicts = []
        for future in futures:
            verdict = future.result()
            on_result(verdict)
            verdicts.append(verdict)
    return verdicts
