"""A task's purpose read from its words: plain data in, the kind and the reason out."""

from __future__ import annotations

import tomllib

import pytest

from agentd.eval.task import BUILTIN_SUITE
from agentd.kernel.purpose import about_tests, classify, speed_request

# The built-in suite's descriptions are real requests: the sql tasks that ask for speed are optimizations.
SQL_SPEED = {"sql-case-insensitive-login", "sql-day-query-rewrite", "sql-missing-index-migration"}


def suite_descriptions() -> list[tuple[str, str, str]]:
    """(task, kind, description) of every built-in task."""
    found = []
    for toml in sorted(BUILTIN_SUITE.glob("*/task.toml")):
        spec = tomllib.loads(toml.read_text(encoding="utf-8"))
        found.append((toml.parent.name, spec["kind"], spec["description"]))
    return found


@pytest.mark.parametrize(("task", "kind", "description"), suite_descriptions())
def test_each_builtin_task_is_read_as_its_kind(task: str, kind: str, description: str) -> None:
    """Sent without --kind, every optimize task and every sql task asking for speed is an optimization; no other."""
    purpose = classify("fix", description)
    expected = "optimize" if kind == "optimize" or task in SQL_SPEED else "fix"
    assert purpose.kind == expected, purpose.why


def test_the_issue_example_gets_the_speed_gate() -> None:
    """ "Make Dedup faster; keep its behaviour." without --kind is an optimization, and the reason quotes the words."""
    purpose = classify("fix", "Make Dedup faster; keep its behaviour.")
    assert purpose.optimizing
    assert '"faster"' in purpose.why
    assert purpose.line().startswith("Kind: optimize (chosen by agentd; asked fix: the description asks for speed")


@pytest.mark.parametrize(
    "description",
    [
        "The goroutine count grows with every request until the service runs out of memory.",
        "Shutdown takes minutes because retry.Do sleeps through its whole backoff.",
        "store.GetMany hangs forever when asked for more than one key.",
        "The upload progress bar goes negative for large files.",
    ],
)
def test_symptoms_that_only_sound_like_speed_are_fixes(description: str) -> None:
    """A leak, a hang or slow shutdown from a bug is not a request for speed."""
    assert speed_request(description) is None
    assert classify("fix", description).kind == "fix"


@pytest.mark.parametrize(
    ("description", "words"),
    [
        ("Rendering is too slow for big tables.", "is too slow"),
        ("Please reduce allocations in the parser.", "reduce allocations"),
        ("Export uses lots of memory; fix that.", "lots of memory"),
        ("Speed up the importer.", "Speed up"),
        ("BenchmarkEncode shows we regressed.", "BenchmarkEncode"),
    ],
)
def test_requests_for_speed_or_memory_are_found(description: str, words: str) -> None:
    """Each way of asking for speed or memory is found and quoted."""
    why = speed_request(description)
    assert why is not None
    assert f'"{words}"' in why


def test_an_explicit_optimize_is_taken_as_given() -> None:
    """--kind optimize needs no words: the request named it."""
    purpose = classify("optimize", "Dedup")
    assert purpose.optimizing
    assert purpose.line() == "Kind: optimize (as asked: the request named the kind optimize)."


def test_a_review_or_feature_asking_for_speed() -> None:
    """A feature request that asks for speed is an optimization; a review stays a review."""
    assert classify("feature", "Add a cache so lookups are faster").kind == "optimize"
    assert classify("review", "Is this faster?").kind == "review"


@pytest.mark.parametrize(
    ("description", "is_about_tests"),
    [
        ("TestParse is flaky; fix the flaky test.", True),
        ("The test is wrong: it expects UTC.", True),
        ("Remove the obsolete tests for the v1 API.", True),
        ("Update TestRender for the new header.", True),
        ("Paging is wrong; the tests show page 2 overlaps page 1.", False),
        ("Make Dedup faster; keep its behaviour (its tests must still pass).", False),
    ],
)
def test_tasks_about_the_tests_are_told_apart(description: str, is_about_tests: bool) -> None:
    """Only a request for work on the tests themselves lets a change weaken them."""
    assert (about_tests(description) is not None) == is_about_tests
    assert classify("fix", description).about_tests == is_about_tests
