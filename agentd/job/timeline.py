"""A job's phases as a timeline: its spans as a tree, each with its offset from the start and its duration.

Model calls (`chat …`) and tool calls (`execute_tool …`) are folded into one line under the
agent turn that made them; everything else is shown as it happened.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from agentd.store.records import Span

FOLDED = ("chat ", "execute_tool ")  # many per turn: counted under their turn, not listed
SHOWN = (
    "agentd.lane",
    "agentd.tests_passed",
    "agentd.protocol",
    "agentd.status",
    "agentd.branch",
    "agentd.turn_status",
)


@dataclass(frozen=True)
class PhaseTotals:
    """Time per phase name over one job, for benchmarks and the summary line."""

    total_ms: float
    by_name: dict[str, float]


def render_timeline(spans: Sequence[Span]) -> list[str]:
    """The timeline as text lines: `+offset  duration  name  facts`, indented by depth."""
    if not spans:
        return []
    start = min(span.started_at for span in spans)
    children: dict[str | None, list[Span]] = defaultdict(list)
    known = {span.span_id for span in spans}
    for span in spans:
        children[span.parent_id if span.parent_id in known else None].append(span)
    lines = ["timeline (offset from the event, duration):"]

    def walk(parent: str | None, depth: int) -> None:
        for span in sorted(children[parent], key=lambda s: s.started_at):
            if span.name.startswith(FOLDED):
                continue
            facts = [f"{key.removeprefix('agentd.')}={span.attributes[key]}" for key in SHOWN if key in span.attributes]
            folded = _folded(children[span.span_id])
            offset = (span.started_at - start) * 1000
            status = " ERROR" if span.status == "error" else ""
            line = f"  {offset:8.0f} ms {span.duration_ms:8.0f} ms  {'  ' * depth}{span.name}{status}"
            lines.append(line + "".join(f" {fact}" for fact in [*facts, *folded]))
            walk(span.span_id, depth + 1)

    walk(None, 0)
    return lines


def _folded(spans: Sequence[Span]) -> list[str]:
    said = []
    for prefix, label in (("chat ", "model calls"), ("execute_tool ", "tool calls")):
        found = [s for s in spans if s.name.startswith(prefix)]
        if found:
            said.append(f"[{len(found)} {label}, {sum(s.duration_ms for s in found):.0f} ms]")
    return said


def phase_totals(spans: Sequence[Span]) -> PhaseTotals:
    """Summed duration per span name (e.g. all `test run`s), and the job's end-to-end time from its event."""
    by_name: dict[str, float] = defaultdict(float)
    for span in spans:
        by_name[span.name.split(" ")[0] if span.name.startswith(FOLDED) else span.name] += span.duration_ms
    if not spans:
        return PhaseTotals(0.0, {})
    start = min(s.started_at for s in spans)
    end = max(s.started_at + s.duration_ms / 1000 for s in spans)
    return PhaseTotals((end - start) * 1000, dict(by_name))
