"""Benchmark output parsing, the Mann-Whitney U test against published values, and the verdicts."""

from __future__ import annotations

import itertools
import math

import pytest

from agentd.config import parse_config
from agentd.perf.benchcmp import (
    BenchmarkRun,
    Summary,
    compare_runs,
    compare_samples,
    mann_whitney_u,
    midranks,
    parse_bench_output,
    u_distribution,
    u_statistic,
)
from agentd.perf.config import OptimizerConfig
from tests.perf.conftest import load_text


def test_parse_real_bench_output() -> None:
    """Every -count line of real `go test -bench -benchmem` output becomes a run with ns/op, B/op, allocs/op."""
    runs = parse_bench_output(load_text("bench_quadratic.txt"))
    assert len(runs) == 5
    assert {run.name for run in runs} == {"BenchmarkDedupe-2"}
    assert runs[0] == BenchmarkRun("BenchmarkDedupe-2", 63, {"ns/op": 8336927, "B/op": 60291, "allocs/op": 14})


def test_parse_sub_benchmarks_and_custom_metrics() -> None:
    """Sub-benchmark names, MB/s and b.ReportMetric units are kept; other lines are ignored."""
    text = (
        "goos: linux\n"
        "BenchmarkEncode/small-8   \t 1000\t  1234 ns/op\t  81.00 MB/s\t 3.5 widgets/op\t 16 B/op\t 1 allocs/op\n"
        "--- BENCH: BenchmarkEncode/small-8\n"
        "    encode_test.go:12: a log line\n"
        "BenchmarkLonely\n"
        "PASS\n"
    )
    (run,) = parse_bench_output(text)
    assert run.name == "BenchmarkEncode/small-8"
    assert run.metrics == {"ns/op": 1234, "MB/s": 81.0, "widgets/op": 3.5, "B/op": 16, "allocs/op": 1}


def test_mann_whitney_matches_scipy_exact_example() -> None:
    """scipy's documented example (males vs females): U = 17, exact two-sided p = 1/9."""
    u, p = mann_whitney_u([19, 22, 16, 29, 24], [20, 11, 17, 12])
    assert u == 17
    assert p == pytest.approx(0.1111111111111111, abs=1e-12)


def test_mann_whitney_matches_scipy_asymptotic_example() -> None:
    """The same example with the normal approximation: p = 0.11134688653314041 as scipy prints."""
    _, p = mann_whitney_u([19, 22, 16, 29, 24], [20, 11, 17, 12], method="asymptotic")
    assert p == pytest.approx(0.11134688653314041, abs=1e-12)


def test_mann_whitney_matches_r_wilcox_example() -> None:
    """R's ?wilcox.test permeability example: W = 35, one-sided p = 0.1272, so two-sided 0.2544."""
    x = [0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46]
    y = [1.15, 0.88, 0.90, 0.74, 1.21]
    u, p = mann_whitney_u(x, y)
    assert u == 35
    assert p / 2 == pytest.approx(0.1272, abs=5e-5)


def test_mann_whitney_with_ties_uses_corrected_variance() -> None:
    """With ties: U = 1.5 and p = 0.008733 from the tie-corrected variance 37.227 (worked by hand)."""
    x, y = [1, 2, 2, 3, 3, 3], [3, 4, 4, 5, 5, 6]
    assert midranks([*x, *y])[:6] == [1, 2.5, 2.5, 5.5, 5.5, 5.5]
    u, p = mann_whitney_u(x, y)
    assert u == 1.5
    variance = 36 / 12 * (13 - (6 + 60 + 6 + 6) / (12 * 11))
    assert variance == pytest.approx(37.2273, abs=1e-4)
    assert p == pytest.approx(math.erfc((16.5 - 0.5) / math.sqrt(variance) / math.sqrt(2)))
    assert p == pytest.approx(0.008733, abs=1e-6)
    with pytest.raises(ValueError, match="ties"):
        mann_whitney_u(x, y, method="exact")


@pytest.mark.parametrize(("n1", "n2"), [(1, 1), (2, 5), (4, 4), (3, 7), (6, 5)])
def test_exact_distribution_equals_enumeration(n1: int, n2: int) -> None:
    """The Gaussian-binomial U distribution equals brute-force enumeration of every ordering."""
    counts = [0] * (n1 * n2 + 1)
    values = range(n1 + n2)
    for chosen in itertools.combinations(values, n1):
        rest = [v for v in values if v not in chosen]
        counts[int(u_statistic(list(chosen), rest))] += 1
    assert u_distribution(n1, n2) == counts
    assert sum(counts) == math.comb(n1 + n2, n1)


def test_identical_samples_give_p_one() -> None:
    """All values equal on both sides: no evidence of a difference, p = 1."""
    assert mann_whitney_u([5, 5, 5], [5, 5, 5]) == (4.5, 1.0)


def test_complete_separation_of_ten_runs_is_significant() -> None:
    """Ten runs each, every candidate faster: exact p = 2 / C(20, 10)."""
    _, p = mann_whitney_u(list(range(100, 110)), list(range(10)))
    assert p == pytest.approx(2 / math.comb(20, 10))


def test_summary_has_median_iqr_and_range() -> None:
    """Median, quartiles (linear interpolation) and min/max of a sample."""
    summary = Summary.of([4, 1, 3, 2])
    assert (summary.median, summary.q1, summary.q3, summary.minimum, summary.maximum) == (2.5, 1.75, 3.25, 1, 4)


def test_verdicts_need_significance_and_size() -> None:
    """Faster, slower and unchanged: p below alpha and a change of at least min_gain, else no change."""
    base = [100.0, 101, 102, 103, 104, 105, 106, 107]
    faster = compare_samples(base, [v * 0.5 for v in base], "ns/op", alpha=0.05, min_gain=0.05)
    slower = compare_samples(base, [v * 1.5 for v in base], "ns/op", alpha=0.05, min_gain=0.05)
    tiny = compare_samples(base, [v * 0.98 for v in base], "ns/op", alpha=0.05, min_gain=0.05)
    assert (faster.verdict, slower.verdict, tiny.verdict) == ("improved", "regressed", "unchanged")
    assert faster.describe().startswith("faster by 50.0% (p=")
    assert slower.describe().startswith("slower by 50.0% (p=")
    assert tiny.describe().startswith("no significant change (p=")
    noisy = compare_samples(base, [*base[4:], *[v * 0.5 for v in base[:4]]], "ns/op", alpha=0.05, min_gain=0.05)
    assert noisy.verdict == "unchanged"


def test_compare_runs_from_real_outputs() -> None:
    """The captured quadratic and map-based runs: faster in ns/op, more bytes but fewer allocations."""
    base = parse_bench_output(load_text("bench_quadratic.txt"))
    candidate = parse_bench_output(load_text("bench_hashed.txt"))
    comparison = compare_runs(base, candidate, alpha=0.05, min_gain=0.05)
    bench = comparison.benchmark("BenchmarkDedupe")
    assert bench.verdict == "improved"
    time = bench.time
    assert time is not None
    assert time.p_value == pytest.approx(2 / math.comb(10, 5))
    assert time.change < -0.9
    allocs = bench.metric("allocs/op")
    assert allocs is not None
    assert allocs.verdict == "improved"
    assert comparison.shows_gain
    (trailer,) = comparison.trailers()
    assert trailer.startswith("Agentd-Benchmark: BenchmarkDedupe-2 faster by 9")
    assert trailer.endswith("(p=0.0079, n=5+5)")
    assert comparison.to_dict()["benchmarks"][0]["verdict"] == "improved"


def test_benchmarks_on_one_side_only_are_listed() -> None:
    """A benchmark the candidate removed or added is named, not compared."""
    base = [BenchmarkRun("BenchmarkA-2", 1, {"ns/op": 1.0}), BenchmarkRun("BenchmarkB-2", 1, {"ns/op": 1.0})]
    candidate = [BenchmarkRun("BenchmarkA-2", 1, {"ns/op": 1.0}), BenchmarkRun("BenchmarkC-2", 1, {"ns/op": 1.0})]
    comparison = compare_runs(base, candidate)
    assert [bench.name for bench in comparison.benchmarks] == ["BenchmarkA-2"]
    assert comparison.only_in_base == ("BenchmarkB-2",)
    assert comparison.only_in_candidate == ("BenchmarkC-2",)
    assert not comparison.shows_gain
    with pytest.raises(KeyError, match="BenchmarkZ"):
        comparison.benchmark("BenchmarkZ")


def test_optimizer_settings_default_and_come_from_the_file() -> None:
    """[optimizer] sets min_gain, bench_count and alpha; without it the defaults are 5%, 10 rounds, 0.05."""
    base = '[repository]\npath = "/srv/repo"\n[models.default]\nprovider = "scripted"\nmodel = "demo"\n'
    assert parse_config(base, env={}).optimizer == OptimizerConfig(min_gain=0.05, bench_count=10, alpha=0.05)
    tuned = parse_config(base + "[optimizer]\nmin_gain = 0.1\nbench_count = 6\nalpha = 0.01\n", env={})
    assert (tuned.optimizer.min_gain, tuned.optimizer.bench_count, tuned.optimizer.alpha) == (0.1, 6, 0.01)
