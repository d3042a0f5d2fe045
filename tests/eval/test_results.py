"""What an eval run reports, from plain records: Wilson intervals, the table per protocol and model, the chart."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from agentd.eval.progress import Progress
from agentd.eval.results import cells, draw_chart, outcome, render_report, wilson, write_results


def record(task: str, protocol: str = "vote", model: str = "m", repeat: int = 1, **fields: Any) -> dict[str, Any]:
    """One scored run, resolved unless `fields` say otherwise."""
    base: dict[str, Any] = {
        "key": f"{task}/{protocol}/{model}/{repeat}",
        "task": task,
        "kind": "fix",
        "protocol": protocol,
        "model": model,
        "repeat": repeat,
        "resolved": True,
        "published": True,
        "published_but_wrong": False,
        "scored": "the hidden tests pass",
        "error": None,
        "tokens": 1000,
        "cost_usd": 0.01,
        "seconds": 10.0,
        "model_calls": 4,
        "tool_calls": 3,
    }
    return base | fields


@pytest.mark.parametrize(
    ("successes", "trials", "low", "high"),
    [(0, 10, 0.0, 0.2775), (10, 10, 0.7225, 1.0), (5, 10, 0.2366, 0.7634), (1, 3, 0.0615, 0.7923)],
)
def test_wilson_intervals_match_the_published_values(successes: int, trials: int, low: float, high: float) -> None:
    """The Wilson 95% score interval, as the textbooks tabulate it."""
    got = wilson(successes, trials)
    assert got == pytest.approx((low, high), abs=1e-4)


def test_no_trials_know_nothing() -> None:
    """With no runs the interval is the whole range."""
    assert wilson(0, 0) == (0.0, 1.0)


def test_cells_count_each_protocol_and_model() -> None:
    """Runs group by (protocol, model); resolved, published, published-but-wrong and means per run are counted."""
    records = [
        record("a"),
        record("b", resolved=False, published_but_wrong=True, scored="the hidden tests fail", tokens=3000),
        record("a", protocol="single", resolved=False, published=False, tokens=500, tampering_refused=True),
    ]
    vote, single = cells(records)
    assert (vote.protocol, vote.runs, vote.resolved, vote.published, vote.published_but_wrong) == ("vote", 2, 1, 2, 1)
    assert vote.tokens == 2000
    assert (single.protocol, single.resolved, single.published, single.tampering_refused) == ("single", 0, 0, 1)


def test_the_report_says_published_but_wrong_and_why() -> None:
    """report.md counts published-but-wrong runs up front and shows each one's reason."""
    records = [record("a"), record("b", resolved=False, published_but_wrong=True, scored="the hidden tests fail: x")]
    report = render_report(records, "t", "chart.png")
    assert "**published but wrong: 1**" in report
    assert "| b | vote | m | 1 | PUBLISHED BUT WRONG: the hidden tests fail: x |" in report
    assert "![solve rate against cost](chart.png)" in report
    assert "Wilson" not in report  # one repeat: no intervals


def test_repeats_bring_wilson_intervals_into_the_table() -> None:
    """With --repeat > 1 the solve rate carries its Wilson interval."""
    records = [record("a", repeat=1), record("a", repeat=2, resolved=False, published=False)]
    report = render_report(records, "t", None, "matplotlib is not installed")
    assert "| vote | m | 2 | 1/2 (50%) [9%, 91%] |" in report
    assert "Intervals: Wilson score, 95%" in report
    assert "(No chart: matplotlib is not installed)" in report


def test_the_report_shows_the_kind_agentd_chose_and_tampering() -> None:
    """The chosen kind per task (marked when it differs from the task's) and the tampering caught are reported."""
    records = [
        record("opt", kind="optimize", kind_chosen="fix", kind_why="no words of speed"),
        record(
            "fix",
            resolved=False,
            published=False,
            tampering_flagged=["a_test.go (TestA): adds a skip: t.Skip()"],
            tampering_refused=True,
            reason="Not committed: the change deletes or weakens tests",
        ),
    ]
    report = render_report(records, "t", None, "none")
    assert "| opt | optimize | fix (differs) | no words of speed |" in report
    assert "1 run(s) had a candidate that deletes or weakens tests" in report
    assert "the gate refused 1 of them; 0 published" in report


def test_outcome_names_errors_and_refusals() -> None:
    """An error and a refusal read differently from a resolution."""
    assert outcome(record("a")) == "resolved"
    assert outcome(record("a", resolved=False, published=False, error="Boom")) == "error: Boom"
    refused = record("a", resolved=False, published=False, reason="Not committed: no gain")
    assert outcome(refused) == "not published: Not committed: no gain"


def test_results_json_holds_every_record_sorted(tmp_path: Path) -> None:
    """results.json is the records, sorted by task, protocol, model and repeat."""
    write_results(tmp_path, [record("b"), record("a", repeat=2), record("a")])
    written = json.loads((tmp_path / "results.json").read_text())
    assert [r["key"] for r in written] == ["a/vote/m/1", "a/vote/m/2", "b/vote/m/1"]
    assert not (tmp_path / ".results.json.tmp").exists()


def test_the_chart_is_a_png(tmp_path: Path) -> None:
    """The chart is drawn as a PNG file (matplotlib is in the dev set)."""
    records = [record("a"), record("a", protocol="single", cost_usd=0.001, resolved=False, published=False)]
    assert draw_chart(tmp_path / "chart.png", records) == ""
    assert (tmp_path / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_progress_bar_draws_only_on_a_terminal() -> None:
    """Enabled, the bar counts runs, resolved and published-but-wrong in place; disabled, it writes nothing."""
    shown, silent = io.StringIO(), io.StringIO()
    bar, quiet = Progress(4, shown, enabled=True), Progress(4, silent)
    for progress in (bar, quiet):
        progress.advance(record("a"))
        progress.advance(record("b", resolved=False, published_but_wrong=True))
        progress.close()
    assert "[############............] 2/4 runs · 1 resolved · 1 published but wrong" in shown.getvalue()
    assert "ETA" in shown.getvalue()
    assert silent.getvalue() == ""
