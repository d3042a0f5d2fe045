"""What each latency cut of the demo job is worth: the job with every cut, without one, and without any, interleaved.

Each job runs in a fresh process (a freshly started daemon, like `agentd demo`: it pays the model
SDK's import), so configurations measured in turn see the same machine. A cut is turned off by
putting back what agentd did before it:

  gocache  no Go build cache linked from the image (each sandbox builds the standard library's vet facts cold)
  warm     the model SDK imported by the first model call, not in the background when the job is claimed
  prepare  lanes made one after another when the protocol asks for them, not side by side during the review
  reuse    every candidate tested, even a tree another lane already tested

Usage: .venv/bin/python -m bench.job_cuts [-n 5] [--proposers 3] [--before PATH]
(`--before` adds the job of another checkout, e.g. `git worktree add --detach /tmp/base COMMIT`, run with
this checkout's interpreter and that checkout's agentd and sandbox image.)
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.job_latency import PHASES, floor_s, one_job, percentile, phase_of

CUTS = ("gocache", "warm", "prepare", "reuse")
CONFIGS = {"all cuts": (), **{f"without {cut}": (cut,) for cut in CUTS}, "no cut": CUTS}


def turn_off(cuts: tuple[str, ...]) -> None:
    """Put back agentd's behaviour before each of `cuts` (in this process only)."""
    from agentd.job.lanes import JobLanes  # noqa: PLC0415 - imported where the cuts are turned off
    from agentd.models.pool import ModelPool  # noqa: PLC0415
    from sandbox.docker import DockerSandbox  # noqa: PLC0415

    if "gocache" in cuts:
        DockerSandbox.seed_go_cache = nothing  # type: ignore[method-assign,assignment]
    if "warm" in cuts:
        ModelPool.warm = nothing  # type: ignore[method-assign,assignment]
    if "prepare" in cuts:
        JobLanes.prepare = nothing  # type: ignore[method-assign,assignment]
    if "reuse" in cuts:
        made = JobLanes.__init__

        def forgetful(self: JobLanes, *args: Any, **kwargs: Any) -> None:
            made(self, *args, **kwargs)
            self.tested = Forgetful()

        JobLanes.__init__ = forgetful  # type: ignore[method-assign]


def nothing(*_args: Any) -> None:
    """Do nothing (a cut turned off)."""


class Forgetful(dict[str, Any]):
    """A memory of tested trees that keeps nothing."""

    def __setitem__(self, key: str, value: Any) -> None:
        """Forget it."""


def child(root: Path, cuts: tuple[str, ...], proposers: int) -> None:
    """One job in this fresh process with `cuts` turned off; prints its total and phases as JSON."""
    turn_off(cuts)
    seconds, spans = one_job(root, proposers)
    phases = {name: sum(s.duration_ms for s in spans if phase_of(s) == name) / 1000 for name in (*PHASES, "protocol")}
    print(json.dumps({"total": seconds, "phases": phases}))


BEFORE = """
import json, sys
from pathlib import Path
from bench.job_latency import one_job, phase_of
seconds, spans = one_job(Path(sys.argv[1]), int(sys.argv[2]))
names = ("queued", "claim", "fetch", "worktree", "sandbox start", "test run", "review", "invoke_agent", "chat",
         "execute_tool", "gate", "publish", "report", "protocol")
print(json.dumps({"total": seconds, "phases": {n: sum(s.duration_ms for s in spans if phase_of(s) == n) / 1000
                                                for n in names}}))
"""  # the child for another checkout (`--before`): its own agentd, through its own bench.job_latency


def run_config(
    root: Path, cuts: tuple[str, ...], proposers: int, checkout: Path | None = None
) -> dict[str, Any] | None:
    """One job in a fresh interpreter (of this checkout, or of `checkout` with its own agentd); None if it failed
    or hung (the daemon of a checkout before the reap fix can die at start on a busy shared engine)."""
    argv = [sys.executable, "-m", "bench.job_cuts", "--child", str(root), "--proposers", str(proposers)]
    argv += ["--without", ",".join(cuts)] if cuts else []
    if checkout is not None:
        argv = [sys.executable, "-c", BEFORE, str(root), str(proposers)]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False, cwd=checkout)
    except subprocess.TimeoutExpired:
        return None
    if done.returncode != 0:
        print(f"job with {cuts or 'every cut'} failed, not counted:\n{done.stderr[-1500:]}", file=sys.stderr)
        return None
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    """Interleave the configurations N times in random order; print p50/p95 of each and its cost against all cuts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=5)
    parser.add_argument("--proposers", type=int, default=3)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--without", default="", help=argparse.SUPPRESS)
    parser.add_argument("--before", type=Path, help="also run the job of another checkout (the commit before the cuts)")
    args = parser.parse_args()
    if args.child is not None:
        child(args.child, tuple(filter(None, args.without.split(","))), args.proposers)
        return
    configs = {**CONFIGS, **({"before": ()} if args.before else {})}
    totals: dict[str, list[float]] = {name: [] for name in configs}
    phases: dict[str, list[dict[str, float]]] = {name: [] for name in configs}
    floors: list[float] = []
    with tempfile.TemporaryDirectory(prefix="agentd-cuts-") as scratch:
        for i in range(args.n):
            order = list(configs)
            random.shuffle(order)
            for name in order:
                where = Path(scratch) / f"{i}-{name.replace(' ', '-')}"
                checkout = args.before.resolve() if name == "before" else None
                measured = run_config(where, configs[name], args.proposers, checkout)
                if measured is None:
                    print(f"round {i + 1}: {name:16} failed (not counted)", flush=True)
                    continue
                totals[name].append(measured["total"])
                phases[name].append(measured["phases"])
                print(f"round {i + 1}: {name:16} {measured['total']:6.2f} s", flush=True)
            floors.append(floor_s(Path(scratch) / f"floor{i}", args.proposers))
    best = statistics.median(totals["all cuts"])
    print(f"demo job in a fresh daemon, {args.proposers} proposers, N={args.n} per configuration, interleaved:")
    shown = ("review", "sandbox start", "test run", "protocol", "gate")
    print(f"  {'':16} {'total p50':>9} {'p95':>6} {'vs all':>7}  " + " ".join(f"{p:>13}" for p in shown))
    for name in [name for name in configs if totals[name]]:
        p50 = statistics.median(totals[name])
        medians = [statistics.median(p[phase] for p in phases[name]) for phase in shown]
        print(
            f"  {name:16} {p50:9.2f} {percentile(totals[name], 0.95):6.2f} {p50 - best:+7.2f}  "
            + " ".join(f"{m:13.2f}" for m in medians)
        )
    print("  (seconds; phases are p50 of each job's summed spans: sandbox starts and test runs of every lane)")
    print(f"floor p50 {statistics.median(floors):.2f} s")


if __name__ == "__main__":
    main()
