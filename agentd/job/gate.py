"""The gate: agentd's own proof, never an agent's claim, before anything is published.

A commit passes when its tree is the one agentd tested and voted on, and the test command passes
in a fresh container on a fresh worktree of exactly that commit; an optimization also needs
agentd's own measurement of the gain (interleaved Go benchmarks, or a cheaper SQL plan).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from agentd.engine.lanes import show_test_run
from agentd.job.context import JobContext
from agentd.job.lanes import JobLane, JobLanes, stored_diff
from agentd.kernel import trace
from agentd.kernel.errors import JobCancelled
from agentd.kernel.tampering import find_tampering
from agentd.perf import sqlgate, sqlpath
from agentd.perf.diffs import benchmark_packages
from agentd.perf.runner import compare

SPEED_NOTE = (  # told to the team of an optimization, so it knows what the gate will ask of its change
    "\n\nThis task is about speed: agentd keeps the change only when its own interleaved benchmark comparison "
    "(or, for SQL, its plan check) shows it faster, and the tests still pass."
)


@dataclass(frozen=True)
class GateVerdict:
    """What the gate found: passed or not, why not, and what it measured (with the commit trailers saying so)."""

    passed: bool
    reason: str = ""
    trailers: tuple[str, ...] = ()
    measured: str = ""


def same_tree(ctx: JobContext, lane: JobLane, sha: str) -> GateVerdict:
    """The commit must hold exactly the tree agentd tested in the lane (nothing written after the vote)."""
    committed = ctx.deps.mirror.tree_of(sha)
    if lane.tested_tree is None or committed != lane.tested_tree:
        return GateVerdict(
            False,
            f"the lane's tree changed after agentd tested it ({(lane.tested_tree or 'never tested')[:12]} tested, "
            f"{committed[:12]} to publish)",
        )
    return GateVerdict(True)


def untampered(ctx: JobContext, diff: str) -> GateVerdict:
    """The change must not delete or weaken tests (agentd.kernel.tampering), unless the task is about the tests."""
    found = find_tampering(diff)
    if not found or ctx.about_tests:
        return GateVerdict(True, measured="; ".join(f.describe() for f in found))
    shown = "; ".join(finding.describe() for finding in found[:5]) + ("; …" if len(found) > 5 else "")
    return GateVerdict(False, f"the change deletes or weakens tests and the task is not about the tests: {shown}")


def test_commit(ctx: JobContext, lanes: JobLanes, sha: str, diff: str) -> GateVerdict:
    """The test command in a fresh container on a fresh worktree of `sha`; recorded as the final version."""
    repository = ctx.deps.settings.repository
    _, gate = lanes.open_gate(sha)
    try:
        with trace.span("test run", **{"agentd.lane": "gate"}) as current:
            final = gate.run(repository.test_command, timeout_s=repository.test_timeout_s)
            current.set_attribute("agentd.tests_passed", final.ok)
    finally:
        gate.close()
    if ctx.cancel.is_set():
        raise JobCancelled("the job was cancelled during the gate")
    shown = show_test_run(final, repository.test_command)
    tree = ctx.deps.mirror.tree_of(sha)
    version = {"kind": "final", "sha": sha, "diff": stored_diff(diff), "tests_passed": final.ok, "test_output": shown}
    ctx.record_version(version)
    ctx.log.info("gate tested", commit=sha[:12], tree=tree[:12], tests_passed=final.ok)
    return GateVerdict(final.ok, "" if final.ok else "the gate's fresh test run failed")


def measure_gain(
    ctx: JobContext, lanes: JobLanes, lane: JobLane, diff: str, sql_cases: list[sqlpath.SqlCase]
) -> GateVerdict:
    """For an optimization, with a target database: the plan gate when the change touches SQL the code holds
    (agentd.perf.sqlgate), else the index gate when it adds an index; otherwise the speed gate. Kept only when
    agentd's own measurement shows the gain."""
    query = ctx.deps.query
    if query is not None and query.dsn:
        base = lanes.lane("perf-base").worktree
        planned = sqlgate.statement_gate(query.dsn, base, lane.worktree, diff, ctx.deps.policy.sql, _min_gain(ctx))
        if planned is not None:
            kept, trailers, measured = planned
            reason = "" if kept else f"agentd's plan check shows no plan cheaper by {_min_gain(ctx):.0%}: {measured}"
            return GateVerdict(kept, reason, tuple(trailers), measured)
    if query is not None and query.dsn and sqlpath.added_indexes(diff):
        kept, trailers, measured = sqlpath.migration_gate(query.dsn, diff, sql_cases)
    else:
        kept, trailers, measured = _speed_gate(ctx, lanes, lane, diff)
    reason = "" if kept else f"agentd's own benchmark shows no significant gain above {_min_gain(ctx):.0%}: {measured}"
    return GateVerdict(kept, reason, tuple(trailers), measured)


def _min_gain(ctx: JobContext) -> float:
    return ctx.deps.settings.optimizer.min_gain


def _speed_gate(ctx: JobContext, lanes: JobLanes, lane: JobLane, diff: str) -> tuple[bool, list[str], str]:
    """Interleaved before/after Go benchmarks of the changed packages; (kept, trailers, the measurement in words)."""
    packages = benchmark_packages(diff, lane.worktree)
    if not packages:
        return False, [], "no benchmark covers the changed packages, so agentd could not measure a gain"
    base = lanes.lane("perf-base")
    cpus = str(max(1, int(ctx.deps.settings.sandbox.cpus)))
    trailers: list[str] = []
    said: list[str] = []
    kept = True
    for package in packages:
        comparison = compare(
            base.sandbox, lane.sandbox, package, ".", settings=ctx.deps.settings.optimizer, env={"GOMAXPROCS": cpus}
        )
        ctx.record_version({"kind": f"benchmark:{package}", "test_output": json.dumps(comparison.to_dict())})
        trailers += comparison.trailers()
        said += [f"{b.name}: {b.describe()}" for b in comparison.benchmarks]
        kept = kept and comparison.shows_gain
    return kept, trailers, "; ".join(said)
