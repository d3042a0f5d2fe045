"""Compare Go benchmark runs the way benchstat does: medians, spread, Mann-Whitney U, a verdict.

Pure functions: parse `go test -bench ... -benchmem` output into samples per benchmark and unit,
test base against candidate with a two-sided Mann-Whitney U test (exact without ties when the
samples are small, else the normal approximation with tie and continuity corrections), and call
a change only when it is both significant (p < alpha) and at least min_gain in size.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

TIME_UNIT = "ns/op"
EXACT_LIMIT = 50  # exact U distribution when both samples are at most this big and nothing ties

Verdict = Literal["improved", "regressed", "unchanged"]
_BENCH_LINE = re.compile(r"^(Benchmark\S*)\s+(\d+)\s+(.+?)\s*$")
_WORDS = {
    "ns/op": ("faster", "slower"),
    "B/op": ("fewer bytes allocated", "more bytes allocated"),
    "allocs/op": ("fewer allocations", "more allocations"),
}


@dataclass(frozen=True)
class BenchmarkRun:
    """One result line of `go test -bench`: the name (with its -GOMAXPROCS suffix) and its metrics."""

    name: str
    iterations: int
    metrics: dict[str, float]


def parse_bench_output(text: str) -> list[BenchmarkRun]:
    """Every benchmark result line in `go test -bench` output, in order (one per -count)."""
    runs: list[BenchmarkRun] = []
    for line in text.splitlines():
        match = _BENCH_LINE.match(line.strip())
        if match is None:
            continue
        fields = match.group(3).split()
        metrics: dict[str, float] = {}
        for value, unit in zip(fields[::2], fields[1::2], strict=False):
            try:
                metrics[unit] = float(value)
            except ValueError:
                break
        if metrics:
            runs.append(BenchmarkRun(match.group(1), int(match.group(2)), metrics))
    return runs


def samples_by_benchmark(runs: Iterable[BenchmarkRun]) -> dict[str, dict[str, list[float]]]:
    """Group runs into {benchmark name: {unit: [values in run order]}}."""
    grouped: dict[str, dict[str, list[float]]] = {}
    for run in runs:
        units = grouped.setdefault(run.name, {})
        for unit, value in run.metrics.items():
            units.setdefault(unit, []).append(value)
    return grouped


# ---------------------------------------------------------------- statistics


def median(values: Sequence[float]) -> float:
    """The median of a non-empty sample."""
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def quantile(values: Sequence[float], q: float) -> float:
    """The q-quantile by linear interpolation between order statistics (numpy's default)."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True)
class Summary:
    """The centre and spread of one sample."""

    n: int
    median: float
    q1: float
    q3: float
    minimum: float
    maximum: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        """Summarise a non-empty sample."""
        if not values:
            raise ValueError("cannot summarise an empty sample")
        return cls(
            len(values), median(values), quantile(values, 0.25), quantile(values, 0.75), min(values), max(values)
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "n": self.n,
            "median": self.median,
            "iqr": [self.q1, self.q3],
            "min": self.minimum,
            "max": self.maximum,
        }


def midranks(values: Sequence[float]) -> list[float]:
    """Ranks 1..n of the values, tied values sharing the mean of their ranks."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for position in range(start, end + 1):
            ranks[order[position]] = (start + end) / 2 + 1
        start = end + 1
    return ranks


def u_statistic(x: Sequence[float], y: Sequence[float]) -> float:
    """Mann-Whitney U of x: how many (x, y) pairs have x > y, ties counting one half."""
    ranks = midranks([*x, *y])
    return sum(ranks[: len(x)]) - len(x) * (len(x) + 1) / 2


def u_distribution(n1: int, n2: int) -> list[int]:
    """How many of the C(n1+n2, n1) orderings give U = 0, 1, ..., n1*n2 (no ties).

    These are the coefficients of the Gaussian binomial [n1+n2 choose n1](q), built as the product
    of (1 - q^(n2+i)) / (1 - q^i) for i = 1..n1; every partial product is itself a polynomial.
    """
    small = min(n1, n2)
    large = max(n1, n2)
    poly = [1]
    for i in range(1, small + 1):
        grown = [*poly, *([0] * (large + i))]
        times = [grown[k] - (grown[k - large - i] if k >= large + i else 0) for k in range(len(grown))]
        quotient = [0] * len(times)
        for k in range(len(times)):
            quotient[k] = times[k] + (quotient[k - i] if k >= i else 0)
        poly = quotient[: i * large + 1]
    return poly


def mann_whitney_u(
    x: Sequence[float], y: Sequence[float], method: Literal["auto", "exact", "asymptotic"] = "auto"
) -> tuple[float, float]:
    """Two-sided Mann-Whitney U test of x against y: (U of x, p-value).

    'auto' is exact when neither sample is over EXACT_LIMIT and no value ties; otherwise, and for
    'asymptotic', the normal approximation with the tie correction of the variance and a
    continuity correction of 0.5. 'exact' with ties raises ValueError.
    """
    n1, n2 = len(x), len(y)
    if n1 == 0 or n2 == 0:
        raise ValueError("Mann-Whitney U needs at least one value in each sample")
    u = u_statistic(x, y)
    combined = [*x, *y]
    tied = len(set(combined)) < len(combined)
    if method == "exact" and tied:
        raise ValueError("the exact distribution here assumes no ties; use method='asymptotic'")
    if method == "exact" or (method == "auto" and not tied and max(n1, n2) <= EXACT_LIMIT):
        counts = u_distribution(n1, n2)
        total = math.comb(n1 + n2, n1)
        k = round(u)
        lower = sum(counts[: k + 1])
        upper = sum(counts[k:])
        return u, min(1.0, 2 * min(lower, upper) / total)
    n = n1 + n2
    ties = _tie_sizes(combined)
    variance = n1 * n2 / 12 * ((n + 1) - sum(t**3 - t for t in ties) / (n * (n - 1)))
    if variance <= 0:
        return u, 1.0  # every value equal: no evidence of any difference
    deviation = abs(u - n1 * n2 / 2)
    z = max(0.0, deviation - 0.5) / math.sqrt(variance)
    return u, min(1.0, math.erfc(z / math.sqrt(2)))


def _tie_sizes(values: Sequence[float]) -> list[int]:
    counts: dict[float, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return [count for count in counts.values() if count > 1]


# ---------------------------------------------------------------- verdicts


@dataclass(frozen=True)
class MetricComparison:
    """Base against candidate for one benchmark and one unit (ns/op, B/op, allocs/op)."""

    unit: str
    base: Summary
    candidate: Summary
    change: float  # (candidate median - base median) / base median; negative is less
    p_value: float
    verdict: Verdict

    def describe(self, extra: str = "") -> str:
        """'faster by 97.1% (p=0.0002)', 'no significant change (p=0.42)', 'slower by 48.0% (p=0.001)'."""
        evidence = f"p={self.p_value:.2g}{extra}"
        if self.verdict == "unchanged":
            return f"no significant change ({evidence})"
        better, worse = _WORDS.get(self.unit, (f"less {self.unit}", f"more {self.unit}"))
        word = better if self.verdict == "improved" else worse
        return f"{word} by {abs(self.change) * 100:.1f}% ({evidence})"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "unit": self.unit,
            "base": self.base.to_dict(),
            "candidate": self.candidate.to_dict(),
            "change_pct": round(self.change * 100, 2),
            "p_value": self.p_value,
            "verdict": self.verdict,
            "summary": self.describe(),
        }


def compare_samples(
    base: Sequence[float], candidate: Sequence[float], unit: str, alpha: float, min_gain: float
) -> MetricComparison:
    """Compare two samples of one metric where lower is better; decide with alpha and min_gain."""
    base_summary, candidate_summary = Summary.of(base), Summary.of(candidate)
    if base_summary.median == 0:
        change = 0.0 if candidate_summary.median == 0 else math.inf
    else:
        change = (candidate_summary.median - base_summary.median) / base_summary.median
    _, p_value = mann_whitney_u(base, candidate)
    verdict: Verdict = "unchanged"
    if p_value < alpha and abs(change) >= min_gain:
        verdict = "improved" if change < 0 else "regressed"
    return MetricComparison(unit, base_summary, candidate_summary, change, p_value, verdict)


@dataclass(frozen=True)
class BenchmarkComparison:
    """One benchmark, base against candidate, in every unit both sides report."""

    name: str
    metrics: tuple[MetricComparison, ...]

    def metric(self, unit: str) -> MetricComparison | None:
        """The comparison in one unit, if both sides reported it."""
        return next((metric for metric in self.metrics if metric.unit == unit), None)

    @property
    def time(self) -> MetricComparison | None:
        """The ns/op comparison, which decides the benchmark's verdict."""
        return self.metric(TIME_UNIT)

    @property
    def verdict(self) -> Verdict:
        """The verdict on time per operation."""
        return self.time.verdict if self.time else "unchanged"

    def describe(self) -> str:
        """One line: the name, then each unit's verdict."""
        parts = [f"{metric.unit} {metric.describe()}" for metric in self.metrics]
        return f"{self.name}: " + "; ".join(parts)


@dataclass(frozen=True)
class Comparison:
    """Base against candidate for every benchmark, with the thresholds that decided the verdicts."""

    benchmarks: tuple[BenchmarkComparison, ...]
    alpha: float
    min_gain: float
    only_in_base: tuple[str, ...] = ()
    only_in_candidate: tuple[str, ...] = ()

    def benchmark(self, name: str) -> BenchmarkComparison:
        """The comparison of one benchmark by its full name (or its name without -GOMAXPROCS)."""
        for bench in self.benchmarks:
            if name in (bench.name, re.sub(r"-\d+$", "", bench.name)):
                return bench
        raise KeyError(f"no benchmark {name!r}; compared: {', '.join(b.name for b in self.benchmarks)}")

    @property
    def shows_gain(self) -> bool:
        """True when some benchmark is significantly faster and none is significantly slower."""
        verdicts = [bench.verdict for bench in self.benchmarks]
        return "improved" in verdicts and "regressed" not in verdicts

    def trailers(self) -> list[str]:
        """Commit trailers, one per benchmark: 'Agentd-Benchmark: BenchmarkX-2 faster by 97.1% (p=0.00016, n=8+8)'."""
        lines = []
        for bench in self.benchmarks:
            time = bench.time
            if time is None:
                continue
            sizes = f", n={time.base.n}+{time.candidate.n}"
            lines.append(f"Agentd-Benchmark: {bench.name} {time.describe(sizes)}")
        return lines

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view, for reports and the store."""
        return {
            "alpha": self.alpha,
            "min_gain": self.min_gain,
            "shows_gain": self.shows_gain,
            "benchmarks": [
                {"name": bench.name, "verdict": bench.verdict, "metrics": [m.to_dict() for m in bench.metrics]}
                for bench in self.benchmarks
            ],
            "only_in_base": list(self.only_in_base),
            "only_in_candidate": list(self.only_in_candidate),
        }


def compare_runs(
    base: Iterable[BenchmarkRun], candidate: Iterable[BenchmarkRun], *, alpha: float = 0.05, min_gain: float = 0.05
) -> Comparison:
    """Compare every benchmark both sides ran, in every unit both sides reported."""
    base_samples, candidate_samples = samples_by_benchmark(base), samples_by_benchmark(candidate)
    benchmarks = []
    for name, base_units in base_samples.items():
        candidate_units = candidate_samples.get(name)
        if candidate_units is None:
            continue
        metrics = tuple(
            compare_samples(values, candidate_units[unit], unit, alpha, min_gain)
            for unit, values in base_units.items()
            if unit in candidate_units
        )
        benchmarks.append(BenchmarkComparison(name, metrics))
    return Comparison(
        benchmarks=tuple(benchmarks),
        alpha=alpha,
        min_gain=min_gain,
        only_in_base=tuple(name for name in base_samples if name not in candidate_samples),
        only_in_candidate=tuple(name for name in candidate_samples if name not in base_samples),
    )
