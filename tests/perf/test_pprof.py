"""pprof text reports parsed into hot spots and source lines, checked on outputs captured from a real run."""

from __future__ import annotations

import pytest

from agentd.perf.pprof import (
    format_quantity,
    go_regexp_quote,
    in_module,
    package_of,
    parse_list,
    parse_quantity,
    parse_top,
)
from tests.perf.conftest import load_text
from tests.perf.go_targets import FUNCTION, MODULE


@pytest.mark.parametrize(
    ("text", "value", "unit"),
    [
        ("1.22s", 1.22, "s"),
        ("660ms", 0.66, "s"),
        ("5us", 5e-6, "s"),
        ("1.5hrs", 5400.0, "s"),
        ("22.75MB", 22.75 * 2**20, "B"),
        ("23334.53kB", 23334.53 * 1024, "B"),
        (".", 0.0, ""),
        ("0", 0.0, ""),
        ("12", 12.0, ""),
    ],
)
def test_quantities_convert_to_base_units(text: str, value: float, unit: str) -> None:
    """Every unit pprof prints converts to seconds, bytes or a plain count."""
    parsed, parsed_unit = parse_quantity(text)
    assert parsed == pytest.approx(value)
    assert parsed_unit == unit


def test_unknown_unit_is_an_error() -> None:
    """A quantity in a unit pprof never prints is refused rather than misread."""
    with pytest.raises(ValueError, match="unknown pprof unit"):
        parse_quantity("3parsecs")


def test_format_quantity_matches_pprof_style() -> None:
    """Quantities are shown the way pprof shows them: largest unit with a value of at least one."""
    assert format_quantity(1.22, "s") == "1.22s"
    assert format_quantity(0.66, "s") == "660ms"
    assert format_quantity(22.75 * 2**20, "B") == "22.75MB"
    assert format_quantity(0, "s") == "0"


def test_cpu_top_finds_the_quadratic_function_first() -> None:
    """-top on the real CPU profile: the quadratic Dedupe is the first row, with its flat and cum shares."""
    report = parse_top(load_text("cpu_top.txt"))
    assert report.sample_type == "cpu"
    assert report.unit == "s"
    assert report.total == pytest.approx(1.49)
    assert len(report.hot_spots) == 20
    first = report.hot_spots[0]
    assert first.function == FUNCTION
    assert first.inline is True
    assert first.flat == pytest.approx(1.22)
    assert first.flat_pct == pytest.approx(81.88)
    assert first.cum == pytest.approx(1.41)
    assert first.cum_pct == pytest.approx(94.63)
    assert report.hot_spots[-1].flat == 0


def test_cum_top_keeps_pprof_order() -> None:
    """-top -cum rows come in cumulative order, the benchmark driver above the function it calls."""
    report = parse_top(load_text("cpu_top_cum.txt"))
    cums = [spot.cum for spot in report.hot_spots]
    assert cums == sorted(cums, reverse=True)
    names = [spot.function for spot in report.hot_spots]
    assert names.index(f"{MODULE}/dedupe.BenchmarkDedupe") < names.index(FUNCTION)


def test_alloc_top_reads_bytes() -> None:
    """-sample_index=alloc_space: allocation hot spots in bytes, the quadratic function's append first."""
    report = parse_top(load_text("alloc_top.txt"))
    assert report.sample_type == "alloc_space"
    assert report.unit == "B"
    assert report.hot_spots[0].function == FUNCTION
    assert report.hot_spots[0].flat > 20 * 2**20


def test_list_points_at_the_inner_loop() -> None:
    """-list on the CPU profile gives file:line with samples; the hottest line is the nested loop."""
    (listing,) = parse_list(load_text("cpu_list.txt"))
    assert listing.function == FUNCTION
    assert listing.file == "/workspace/dedupe/dedupe.go"
    assert listing.flat == pytest.approx(1.22)
    assert [line.line for line in listing.lines] == [9, 10, 16]
    hottest = listing.hottest()
    assert hottest is not None
    assert hottest.line == 9
    assert hottest.flat == pytest.approx(0.66)
    assert hottest.cum == pytest.approx(0.74)
    assert hottest.source.strip() == "for _, kept := range out {"
    relative = listing.relative_to("/workspace")
    assert relative.file == "dedupe/dedupe.go"
    assert relative.to_dict("s")["lines"][0]["at"] == "dedupe/dedupe.go:9"


def test_alloc_list_points_at_the_append() -> None:
    """-list on the memory profile names the append that allocates, in bytes."""
    (listing,) = parse_list(load_text("alloc_list.txt"))
    (line,) = listing.lines
    assert line.line == 16
    assert line.flat == pytest.approx(22.75 * 2**20)
    assert "append" in line.source


def test_list_with_two_routines_gives_two_listings() -> None:
    """A -list regex matching several functions yields one listing per ROUTINE block."""
    text = load_text("cpu_list.txt")
    twice = text + text.split("\n", 1)[1].replace("Dedupe in", "Other in", 1)
    listings = parse_list(twice)
    assert [listing.function.rsplit(".", 1)[1] for listing in listings] == ["Dedupe", "Other"]


@pytest.mark.parametrize(
    ("symbol", "package"),
    [
        ("example.com/shop/dedupe.Dedupe", "example.com/shop/dedupe"),
        ("example.com/shop/dedupe.(*Set).Add", "example.com/shop/dedupe"),
        ("example.com/shop.Map[go.shape.int,example.com/x.T]", "example.com/shop"),
        ("runtime.mallocgc", "runtime"),
        ("testing.(*B).runN", "testing"),
        ("main.main", "main"),
    ],
)
def test_package_of_symbols(symbol: str, package: str) -> None:
    """The import path is cut from a Go symbol, methods and generic instantiations included."""
    assert package_of(symbol) == package


def test_in_module_separates_own_code_from_std() -> None:
    """The module's packages are its own code; the runtime and a same-prefix module are not."""
    assert in_module(FUNCTION, MODULE)
    assert not in_module("runtime.asyncPreempt", MODULE)
    assert not in_module("example.com/shopping.F", MODULE)


def test_go_regexp_quote_escapes_metacharacters() -> None:
    """Symbols with dots, stars and parentheses are quoted for Go's regexp, as regexp.QuoteMeta does."""
    assert go_regexp_quote("a.(*T).M") == r"a\.\(\*T\)\.M"
