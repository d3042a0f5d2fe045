"""Profiles and interleaved before/after benchmarks of a real Go package in the real sandbox."""

from __future__ import annotations

import pytest

from agentd.perf.config import OptimizerConfig
from agentd.perf.runner import PerfError, compare, locate_package, profile
from sandbox.docker import DockerSandbox
from tests.perf.go_targets import FUNCTION, MODULE, PACKAGE
from tools.profile import PROFILE_DESCRIPTION, ProfileArgs, run_profile

pytestmark = pytest.mark.docker

BENCH = "^BenchmarkDedupe$"
ROUNDS = 8
BENCHTIME = "100ms"
ENV = {"GOMAXPROCS": "1"}  # the sandbox's CPU quota is one CPU; Go 1.19 would otherwise use every host CPU


def test_locate_package_resolves_directory_and_module(go_sandboxes: dict[str, DockerSandbox]) -> None:
    """`./dedupe` resolves to its workspace-relative directory, import path and module; a missing one fails."""
    info = locate_package(go_sandboxes["quadratic"], PACKAGE)
    assert (info.directory, info.import_path, info.module) == ("dedupe", f"{MODULE}/dedupe", MODULE)
    with pytest.raises(PerfError, match=r"go list \./nowhere"):
        locate_package(go_sandboxes["quadratic"], "./nowhere")


def test_profile_names_the_quadratic_function_and_its_line(go_sandboxes: dict[str, DockerSandbox]) -> None:
    """The CPU hot spot is the quadratic Dedupe, its hottest line the nested loop; allocations point at append."""
    report = profile(go_sandboxes["quadratic"], PACKAGE, BENCH, count=2, benchtime=BENCHTIME, env=ENV)
    assert len(report.benchmarks) == 2
    assert all(run.name.startswith("BenchmarkDedupe") for run in report.benchmarks)
    assert report.own_hot_spots()[0] == FUNCTION
    assert report.cpu.hot_spots[0].function == FUNCTION
    hottest = report.hottest_line()
    assert hottest is not None
    assert hottest.file == "dedupe/dedupe.go"
    assert hottest.line in (9, 10)  # `for _, kept := range out` / `if kept == item`
    (alloc,) = [listing for listing in report.alloc_listings if listing.function == FUNCTION]
    alloc_line = alloc.hottest()
    assert alloc_line is not None
    assert (alloc_line.file, alloc_line.line) == ("dedupe/dedupe.go", 16)
    assert report.to_dict()["hottest_line"] == f"dedupe/dedupe.go:{hottest.line}"


def test_compare_map_based_candidate_is_faster(go_sandboxes: dict[str, DockerSandbox]) -> None:
    """Quadratic base against the map-based candidate: faster, p < 0.05, and the gate would keep it."""
    result = compare(
        go_sandboxes["quadratic"], go_sandboxes["hashed"], PACKAGE, BENCH, rounds=ROUNDS, benchtime=BENCHTIME, env=ENV
    )
    time = result.benchmark("BenchmarkDedupe").time
    assert time is not None
    assert time.verdict == "improved", time.describe()
    assert time.p_value < 0.05
    assert time.base.n == time.candidate.n == ROUNDS
    assert result.shows_gain
    assert result.trailers()[0].startswith("Agentd-Benchmark: BenchmarkDedupe faster by ")


def test_compare_identical_copy_shows_no_change(go_sandboxes: dict[str, DockerSandbox]) -> None:
    """Base against an identical copy: no significant change, so the gate would not keep it.

    Any test at level alpha calls identical code changed with probability about alpha, so this one
    runs at alpha = 0.01 to keep its own false-alarm rate near 1% on a noisy machine.
    """
    strict = OptimizerConfig(alpha=0.01)
    result = compare(
        go_sandboxes["quadratic"],
        go_sandboxes["copy"],
        PACKAGE,
        BENCH,
        rounds=ROUNDS,
        benchtime=BENCHTIME,
        settings=strict,
        env=ENV,
    )
    time = result.benchmark("BenchmarkDedupe").time
    assert time is not None
    assert time.verdict == "unchanged", time.describe()
    assert not result.shows_gain


def test_compare_slower_candidate_is_slower(go_sandboxes: dict[str, DockerSandbox]) -> None:
    """Base against a deliberately slower candidate: slower, p < 0.05."""
    result = compare(
        go_sandboxes["quadratic"], go_sandboxes["slower"], PACKAGE, BENCH, rounds=ROUNDS, benchtime=BENCHTIME, env=ENV
    )
    time = result.benchmark("BenchmarkDedupe").time
    assert time is not None
    assert time.verdict == "regressed", time.describe()
    assert time.p_value < 0.05
    assert not result.shows_gain


def test_profile_tool_returns_hot_spots(go_sandboxes: dict[str, DockerSandbox]) -> None:
    """The `profile` tool gives the model the hot function and file:line as structured output."""
    result = run_profile(go_sandboxes["quadratic"], ProfileArgs(package=PACKAGE, bench=BENCH, count=1), env=ENV)
    assert result.ok, result.output
    assert result.output["cpu_top"]["hot_spots"][0]["function"] == FUNCTION
    assert result.output["hottest_line"].startswith("dedupe/dedupe.go:")
    assert "pprof" in PROFILE_DESCRIPTION


def test_profile_tool_failures_are_results(go_sandboxes: dict[str, DockerSandbox]) -> None:
    """A missing package or no matching benchmark comes back as a failed result with the reason."""
    missing = run_profile(go_sandboxes["quadratic"], ProfileArgs(package="./nowhere", bench=BENCH))
    assert (missing.ok, missing.decision) == (False, "failed")
    assert "nowhere" in missing.error_text()
    unmatched = run_profile(go_sandboxes["quadratic"], ProfileArgs(package=PACKAGE, bench="^BenchmarkNothing$"))
    assert not unmatched.ok
    assert "no benchmark matched" in unmatched.error_text()


@pytest.mark.parametrize("package", ["-exec=/bin/sh", "../elsewhere", "./...", "a b", ""])
def test_profile_args_refuse_flags_and_escapes(package: str) -> None:
    """A package that could be a flag, leave the workspace or name many packages is refused by validation."""
    with pytest.raises(ValueError, match="package"):
        ProfileArgs(package=package)
