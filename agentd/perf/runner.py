"""Run Go benchmarks and profiles inside sandboxes; the only part of agentd.perf that runs Go.

Everything goes through the Sandbox protocol. `profile` runs one `go test -bench` with CPU and
memory profiles and reads them back with `go tool pprof`; `compare` builds the base and the
candidate test binaries once and then runs them in interleaved rounds, so drift of the machine
(other load, thermal state) hits both sides alike instead of biasing one of them.
"""

from __future__ import annotations

import contextlib
import secrets
from dataclasses import dataclass
from typing import Any

from agentd.kernel.errors import AgentdError
from agentd.kernel.seams import CommandResult, Sandbox
from agentd.perf.benchcmp import BenchmarkRun, Comparison, compare_runs, parse_bench_output
from agentd.perf.config import OptimizerConfig
from agentd.perf.pprof import Listing, SourceLine, TopReport, go_regexp_quote, in_module, parse_list, parse_top

TMP = "/tmp"  # noqa: S108 - a tmpfs inside the sandbox, never the host's /tmp
OUTPUT_TAIL = 4000


class PerfError(AgentdError):
    """A benchmark or profile could not be run; the message carries the command's output."""


@dataclass(frozen=True)
class PackageInfo:
    """One Go package as `go list` sees it; `directory` is relative to the workspace root at `root`."""

    directory: str
    import_path: str
    module: str
    root: str


@dataclass(frozen=True)
class ProfileReport:
    """What one profiled benchmark run found: results, CPU and allocation hot spots, hot lines."""

    package: PackageInfo
    benchmarks: tuple[BenchmarkRun, ...]
    cpu: TopReport
    cpu_cum: TopReport
    alloc: TopReport
    cpu_listings: tuple[Listing, ...]
    alloc_listings: tuple[Listing, ...]

    def own_hot_spots(self) -> list[str]:
        """The module's own functions with CPU samples, hottest (flat) first."""
        return _own(self.cpu, self.package.module)

    def hottest_line(self) -> SourceLine | None:
        """The single line of the module's code with the most CPU samples."""
        lines = [line for listing in self.cpu_listings if (line := listing.hottest()) is not None]
        return max(lines, key=lambda line: (line.flat, line.cum), default=None)

    def to_dict(self, limit: int = 10) -> dict[str, Any]:
        """A JSON-ready view for a model: benchmarks, top functions, and the hot lines as file:line."""
        hottest = self.hottest_line()
        return {
            "package": self.package.import_path,
            "directory": self.package.directory,
            "benchmarks": [{"name": run.name, "n": run.iterations, **run.metrics} for run in self.benchmarks],
            "cpu_top": self.cpu.to_dict(limit),
            "cpu_top_cum": self.cpu_cum.to_dict(limit),
            "alloc_top": self.alloc.to_dict(limit),
            "cpu_lines": [listing.to_dict(self.cpu.unit) for listing in self.cpu_listings],
            "alloc_lines": [listing.to_dict(self.alloc.unit) for listing in self.alloc_listings],
            "hottest_line": None if hottest is None else f"{hottest.file}:{hottest.line}",
        }


def _check(result: CommandResult, what: str) -> CommandResult:
    if result.ok:
        return result
    reason = "timed out" if result.timed_out else f"exited {result.exit_code}"
    output = (result.stdout + "\n" + result.stderr).strip()[-OUTPUT_TAIL:]
    raise PerfError(f"{what} {reason}:\n{output}")


def locate_package(sandbox: Sandbox, package: str, timeout_s: float = 120.0) -> PackageInfo:
    """Resolve one package pattern ('./dedupe', '.') to its directory, import path and module."""
    if not package or package.startswith("-"):
        raise PerfError(f"package {package!r}: name a package directory such as ./pkg")
    root = _check(sandbox.run(["pwd"], timeout_s=timeout_s), "pwd").stdout.strip()
    template = "{{.Dir}}\t{{.ImportPath}}\t{{with .Module}}{{.Path}}{{end}}"
    listed = _check(sandbox.run(["go", "list", "-f", template, package], timeout_s=timeout_s), f"go list {package}")
    rows = [line.split("\t") for line in listed.stdout.splitlines() if line.strip()]
    if len(rows) != 1 or len(rows[0]) != 3:
        raise PerfError(f"package {package!r} names {len(rows)} packages; profile and compare take exactly one")
    directory, import_path, module = rows[0]
    prefix = root.rstrip("/") + "/"
    if directory == root:
        relative = "."
    elif directory.startswith(prefix):
        relative = directory[len(prefix) :]
    else:
        raise PerfError(f"package {package!r} lies outside the workspace ({directory})")
    return PackageInfo(relative, import_path, module or import_path, root)


def _pprof(sandbox: Sandbox, args: list[str], binary: str, data: str, timeout_s: float) -> str:
    result = sandbox.run(["go", "tool", "pprof", *args, binary, data], timeout_s=timeout_s)
    return _check(result, f"go tool pprof {' '.join(args)}").stdout


def _listings(
    sandbox: Sandbox, functions: list[str], extra: list[str], binary: str, data: str, timeout_s: float
) -> tuple[Listing, ...]:
    if not functions:
        return ()
    pattern = "^(?:" + "|".join(go_regexp_quote(name) for name in functions) + ")$"
    text = _pprof(sandbox, ["-list", pattern, *extra], binary, data, timeout_s)
    return parse_list(text)


def profile(
    sandbox: Sandbox,
    package: str,
    bench_regex: str,
    count: int = 1,
    *,
    benchtime: str | None = None,
    nodecount: int = 20,
    listed: int = 3,
    env: dict[str, str] | None = None,
    timeout_s: float = 600.0,
) -> ProfileReport:
    """Benchmark one package with CPU and memory profiles; hot spots, and the hot lines of its own code.

    Runs `go test -run '^$' -bench REGEX -benchmem -count N -cpuprofile -memprofile -o BINARY PKG`,
    then `go tool pprof -top`, `-top -cum` and `-top -sample_index=alloc_space` on the kept test
    binary, and `-list` on the `listed` hottest functions of the module (CPU and allocations).
    """
    info = locate_package(sandbox, package)
    stem = f"{TMP}/agentd-profile-{secrets.token_hex(4)}"
    binary, cpu, mem = f"{stem}.test", f"{stem}.cpu", f"{stem}.mem"
    argv = ["go", "test", "-run", "^$", "-bench", bench_regex, "-benchmem", "-count", str(count)]
    if benchtime:
        argv += ["-benchtime", benchtime]
    argv += ["-cpuprofile", cpu, "-memprofile", mem, "-o", binary, package]
    try:
        ran = _check(sandbox.run(argv, timeout_s=timeout_s, env=env), "go test -bench")
        runs = tuple(parse_bench_output(ran.stdout))
        if not runs:
            raise PerfError(f"no benchmark matched {bench_regex!r} in {package}:\n{ran.stdout[-OUTPUT_TAIL:]}")
        top = ["-top", f"-nodecount={nodecount}"]
        cpu_top = parse_top(_pprof(sandbox, top, binary, cpu, timeout_s))
        cpu_cum = parse_top(_pprof(sandbox, [*top, "-cum"], binary, cpu, timeout_s))
        alloc_args = ["-sample_index=alloc_space"]
        alloc_top = parse_top(_pprof(sandbox, [*top, *alloc_args], binary, mem, timeout_s))
        hot = _own(cpu_top, info.module)[:listed]
        hot_alloc = _own(alloc_top, info.module)[:listed]
        cpu_lists = _listings(sandbox, hot, [], binary, cpu, timeout_s)
        alloc_lists = _listings(sandbox, hot_alloc, alloc_args, binary, mem, timeout_s)
    finally:
        _remove(sandbox, binary, cpu, mem)
    root = info.root
    return ProfileReport(
        package=info,
        benchmarks=runs,
        cpu=cpu_top,
        cpu_cum=cpu_cum,
        alloc=alloc_top,
        cpu_listings=tuple(listing.relative_to(root) for listing in cpu_lists),
        alloc_listings=tuple(listing.relative_to(root) for listing in alloc_lists),
    )


def _own(report: TopReport, module: str) -> list[str]:
    spots = [spot for spot in report.hot_spots if spot.flat > 0 and in_module(spot.function, module)]
    return [spot.function for spot in sorted(spots, key=lambda spot: spot.flat, reverse=True)]


def _remove(sandbox: Sandbox, *paths: str) -> None:
    # best effort: a failed clean-up of /tmp must not hide the error that ended the run
    with contextlib.suppress(AgentdError):
        sandbox.run(["rm", "-f", *paths], timeout_s=30)


# ---------------------------------------------------------------- before/after


@dataclass(frozen=True)
class _Side:
    sandbox: Sandbox
    info: PackageInfo
    binary: str


def _build(sandbox: Sandbox, package: str, label: str, timeout_s: float) -> _Side:
    info = locate_package(sandbox, package)
    binary = f"{TMP}/agentd-bench-{label}-{secrets.token_hex(4)}.test"
    _check(sandbox.run(["go", "test", "-c", "-o", binary, package], timeout_s=timeout_s), f"go test -c ({label})")
    return _Side(sandbox, info, binary)


def _bench_once(
    side: _Side, bench_regex: str, count: int, benchtime: str, env: dict[str, str] | None, timeout_s: float
) -> list[BenchmarkRun]:
    argv = [side.binary, "-test.run", "^$", "-test.bench", bench_regex, "-test.benchmem"]
    argv += ["-test.count", str(count), "-test.benchtime", benchtime]
    ran = side.sandbox.run(argv, cwd=side.info.directory, timeout_s=timeout_s, env=env)
    return parse_bench_output(_check(ran, f"benchmark {side.binary}").stdout)


def compare(
    base_sandbox: Sandbox,
    candidate_sandbox: Sandbox,
    package: str,
    bench_regex: str,
    count: int = 1,
    rounds: int | None = None,
    *,
    benchtime: str = "200ms",
    settings: OptimizerConfig | None = None,
    env: dict[str, str] | None = None,
    timeout_s: float = 600.0,
) -> Comparison:
    """Benchmark base and candidate in interleaved rounds and compare them (Mann-Whitney U).

    Each sandbox builds its test binary once (`go test -c`), so compilation never lands inside a
    measurement; then every round runs both binaries with `-count` runs each, alternating which
    side goes first (ABBA) so a steady drift or a warm-cache edge favours neither. `rounds`
    defaults to settings.bench_count; alpha and min_gain come from `settings`. `env` is added to
    the benchmark runs' environment, e.g. GOMAXPROCS matching the sandbox's CPU quota (Go 1.19
    does not read cgroup limits, and a quota smaller than GOMAXPROCS adds throttling noise).
    """
    settings = settings or OptimizerConfig()
    rounds = rounds or settings.bench_count
    base = _build(base_sandbox, package, "base", timeout_s)
    candidate = _build(candidate_sandbox, package, "candidate", timeout_s)
    base_runs: list[BenchmarkRun] = []
    candidate_runs: list[BenchmarkRun] = []
    try:
        for round_number in range(rounds):
            order = [(base, base_runs), (candidate, candidate_runs)]
            for side, runs in order if round_number % 2 == 0 else reversed(order):
                runs.extend(_bench_once(side, bench_regex, count, benchtime, env, timeout_s))
    finally:
        _remove(base_sandbox, base.binary)
        _remove(candidate_sandbox, candidate.binary)
    if not base_runs:
        raise PerfError(f"no benchmark matched {bench_regex!r} in the base tree of {package}")
    return compare_runs(base_runs, candidate_runs, alpha=settings.alpha, min_gain=settings.min_gain)
