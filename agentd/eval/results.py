"""What an eval run reports: results.json, report.md and the chart, from the scored records alone.

Pure functions over the records (plain dicts), except the two writers at the end; the chart
needs matplotlib (`pip install 'agentd[eval]'`), and without it the report says so.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Record = dict[str, Any]
Z95 = 1.959964  # the normal quantile of a two-sided 95% interval
LEGEND_MAX = 12  # points named in a legend; more are labelled where they are


def wilson(successes: int, trials: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion (95% by default); (0, 1) with no trials."""
    if trials <= 0:
        return 0.0, 1.0
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Cell:
    """One protocol with one model, over every task and repeat."""

    protocol: str
    model: str
    runs: int
    resolved: int
    published: int
    published_but_wrong: int
    tampering_refused: int
    errors: int
    tokens: float  # per run
    cost_usd: float  # per run
    seconds: float  # per run
    model_calls: float  # per run
    tool_calls: float  # per run

    @property
    def rate(self) -> float:
        """The share of runs resolved."""
        return self.resolved / self.runs if self.runs else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        """The Wilson 95% interval of the solve rate."""
        return wilson(self.resolved, self.runs)


def _mean(records: Sequence[Record], field: str) -> float:
    values = [float(r.get(field) or 0) for r in records]
    return sum(values) / len(values) if values else 0.0


def cells(records: Iterable[Record]) -> list[Cell]:
    """The records grouped by (protocol, model), in the order they first appear."""
    groups: dict[tuple[str, str], list[Record]] = {}
    for record in records:
        groups.setdefault((record["protocol"], record["model"]), []).append(record)
    return [
        Cell(
            protocol,
            model,
            len(group),
            sum(bool(r["resolved"]) for r in group),
            sum(bool(r["published"]) for r in group),
            sum(bool(r["published_but_wrong"]) for r in group),
            sum(bool(r.get("tampering_refused")) for r in group),
            sum(r.get("error") is not None for r in group),
            _mean(group, "tokens"),
            _mean(group, "cost_usd"),
            _mean(group, "seconds"),
            _mean(group, "model_calls"),
            _mean(group, "tool_calls"),
        )
        for (protocol, model), group in groups.items()
    ]


def outcome(record: Record) -> str:
    """One run's outcome in a few words."""
    if record["resolved"]:
        return "resolved"
    if record["published_but_wrong"]:
        return f"PUBLISHED BUT WRONG: {record['scored']}"
    if record.get("error"):
        return f"error: {record['error']}"
    return f"not published: {record.get('reason') or record.get('status', '')}"


def _percent(cell: Cell, intervals: bool) -> str:
    shown = f"{cell.resolved}/{cell.runs} ({cell.rate:.0%})"
    if intervals:
        low, high = cell.interval
        shown += f" [{low:.0%}, {high:.0%}]"
    return shown


def _cell(text: object) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _summary_table(found: Sequence[Cell], intervals: bool) -> list[str]:
    solve = "resolved (Wilson 95%)" if intervals else "resolved"
    lines = [
        f"| protocol | model | runs | {solve} | published | published but wrong | refused: tampering | errors "
        "| tokens/run | $/run | s/run | model calls/run | tool calls/run |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for c in found:
        lines.append(
            f"| {c.protocol} | {c.model} | {c.runs} | {_percent(c, intervals)} | {c.published} | "
            f"{c.published_but_wrong} | {c.tampering_refused} | {c.errors} | {c.tokens:,.0f} | {c.cost_usd:.4f} | "
            f"{c.seconds:.1f} | {c.model_calls:.1f} | {c.tool_calls:.1f} |"
        )
    return lines


def _purpose_lines(records: Sequence[Record]) -> list[str]:
    chosen: dict[str, Record] = {}
    for record in records:
        if record.get("kind_chosen"):
            chosen.setdefault(record["task"], record)
    if not chosen:
        return []
    expected = {"fix": "fix", "optimize": "optimize"}
    lines = [
        "## The kind agentd chose",
        "",
        "Every task was sent as `agentd task` sends it without `--kind`; agentd read the purpose from the "
        "description. A sql task is expected as optimize when its description asks for speed.",
        "",
        "| task | task's kind | agentd chose | why |",
        "| --- | --- | --- | --- |",
    ]
    for name, record in sorted(chosen.items()):
        kind, picked = record["kind"], record["kind_chosen"]
        mark = "" if expected.get(kind, picked) == picked else " (differs)"
        lines.append(f"| {name} | {kind} | {picked}{mark} | {_cell(record.get('kind_why', ''))} |")
    return [*lines, ""]


def _tampering_lines(records: Sequence[Record]) -> list[str]:
    flagged = [r for r in records if r.get("tampering_flagged")]
    refused = [r for r in flagged if r.get("tampering_refused")]
    through = [r for r in flagged if r["published"]]
    lines = [
        "## Test tampering",
        "",
        f"{len(flagged)} run(s) had a candidate that deletes or weakens tests (agentd's tampering check, shown to "
        f"the voters); the gate refused {len(refused)} of them; {len(through)} published a change that weakens "
        "tests (allowed only when the task is about the tests).",
        "",
    ]
    for record in flagged[:20]:
        first = record["tampering_flagged"][0]
        lines.append(f"- {record['key']}: {_cell(first)} → {outcome(record)[:160]}")
    return [*lines, ""] if flagged else lines


def render_report(records: Sequence[Record], title: str, chart: str | None, chart_note: str = "") -> str:
    """report.md: the summary per protocol and model, the kind agentd chose, tampering, every run."""
    ordered = sorted(records, key=lambda r: (r["task"], r["protocol"], r["model"], r["repeat"]))
    found = cells(ordered)
    repeats = max((int(r["repeat"]) for r in ordered), default=1)
    wrong = sum(bool(r["published_but_wrong"]) for r in ordered)
    lines = [
        f"# {title}",
        "",
        f"{len(ordered)} runs; resolved {sum(bool(r['resolved']) for r in ordered)}; published "
        f"{sum(bool(r['published']) for r in ordered)}, of which **published but wrong: {wrong}** (agentd's gate "
        "passed them, the hidden tests do not).",
        "",
        *_summary_table(found, repeats > 1),
        "",
    ]
    if repeats > 1:
        lines += ["Intervals: Wilson score, 95%, over every run of the protocol and model.", ""]
    lines += [f"![solve rate against cost]({chart})", ""] if chart else ([f"(No chart: {chart_note})", ""])
    lines += _purpose_lines(ordered)
    lines += _tampering_lines(ordered)
    lines += [
        "## Every run",
        "",
        "| task | protocol | model | # | outcome | tokens | $ | s | store task |",
        "| --- | --- | --- | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for r in ordered:
        lines.append(
            f"| {r['task']} | {r['protocol']} | {r['model']} | {r['repeat']} | {_cell(outcome(r))[:200]} | "
            f"{int(r.get('tokens') or 0):,} | {float(r.get('cost_usd') or 0):.4f} | {float(r.get('seconds') or 0):.1f} "
            f"| {r.get('store_task') or '-'} |"
        )
    return "\n".join(lines) + "\n"


def write_results(out: Path, records: Sequence[Record]) -> Path:
    """DIR/results.json: every record, sorted by key, written whole and then moved into place."""
    path = out / "results.json"
    staged = out / ".results.json.tmp"
    ordered = sorted(records, key=lambda r: (r["task"], r["protocol"], r["model"], r["repeat"]))
    staged.write_text(json.dumps(ordered, indent=2) + "\n", encoding="utf-8")
    staged.replace(path)
    return path


def draw_chart(path: Path, records: Sequence[Record]) -> str:
    """The solve rate of each protocol and model against what a run cost (dollars, or tokens when nothing
    was priced), with Wilson intervals when runs repeat; "" when drawn, else why not."""
    try:
        import matplotlib as mpl  # noqa: PLC0415 - optional: agentd[eval]

        mpl.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        return "matplotlib is not installed; `pip install 'agentd[eval]'` draws it"
    found = cells(records)
    priced = any(c.cost_usd > 0 for c in found)
    repeats = max((int(r["repeat"]) for r in records), default=1)
    figure, axes = plt.subplots(figsize=(7, 4.5), dpi=120)
    for c in found:
        x = c.cost_usd if priced else c.tokens
        low, high = c.interval
        errors = [[c.rate - low], [high - c.rate]] if repeats > 1 else None
        axes.errorbar([x], [c.rate], yerr=errors, fmt="o", capsize=4, label=f"{c.protocol} / {c.model}")
        if len(found) > LEGEND_MAX:  # past the legend's size, each point says what it is
            axes.annotate(f"{c.protocol}/{c.model}", (x, c.rate), textcoords="offset points", xytext=(5, 5), fontsize=7)
    axes.set_xlabel("dollars per run" if priced else "tokens per run (no model was priced)")
    axes.set_ylabel("solve rate" + (" (Wilson 95%)" if repeats > 1 else ""))
    axes.set_ylim(-0.05, 1.05)
    axes.set_title("agentd eval: solve rate against cost, per protocol and model")
    axes.grid(visible=True, alpha=0.3)
    if len(found) <= LEGEND_MAX:
        axes.legend(fontsize=7, loc="best")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return ""
