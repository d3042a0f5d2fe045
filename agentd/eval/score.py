"""Scoring one eval run: hidden/ laid over what agentd published, and what the store recorded of the attempt.

"Published but wrong" is the number that says whether to trust agentd: its gate passed a change
that the hidden tests (for an optimization: the hidden behaviour tests and agentd's own benchmark
comparison with the starting tree) say does not do what the task asks.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from agentd.eval.check import measure_gain, output_tail
from agentd.eval.harness import Harness
from agentd.eval.task import EvalTask, TaskError
from agentd.eval.trees import scoring_tree
from agentd.kernel.tampering import find_tampering
from agentd.store.base import Store

TAMPERING_REFUSAL = "deletes or weakens tests"  # what the gate's reason says (agentd.job.gate.untampered)


@dataclass(frozen=True)
class Score:
    """What the hidden tests say of a published change."""

    resolved: bool
    published: bool
    published_but_wrong: bool
    scored: str  # in words: why resolved or not

    def as_dict(self) -> dict[str, Any]:
        """The fields of a results.json record."""
        return asdict(self)


def score(task: EvalTask, harness: Harness, published_diff: str | None, scratch: Path) -> Score:
    """Lay hidden/ over the published change (None: nothing published) and run the task's tests on it."""
    if published_diff is None:
        return Score(False, False, False, "nothing published")
    if not published_diff.strip():
        return Score(False, True, True, "agentd published an empty change")
    try:
        tree = scoring_tree(task, scratch / "published", published_diff, "the published change")
    except TaskError as exc:
        return Score(False, True, True, f"the published change does not apply to repo/: {exc}")
    result = harness.run_tests(task, tree, "score")
    if not result.ok:
        return Score(False, True, True, f"the hidden tests fail: {output_tail(result, 4)}")
    if task.spec.kind != "optimize":
        return Score(True, True, False, "the hidden tests pass")
    before = scoring_tree(task, scratch / "starting")
    gained, measured = measure_gain(task, harness, before, tree)
    if not gained:
        return Score(False, True, True, f"the hidden tests pass but the change is not faster enough: {measured}")
    return Score(True, True, False, f"the hidden tests pass; measured: {measured}")


def attempt_metrics(store: Store, task_id: int) -> dict[str, Any]:
    """What the store recorded of one attempt: its end, tokens, dollars, model and tool calls, tampering seen."""
    task = store.get_task(task_id)
    record = store.task_record(task_id)
    calls = [call for session in record.sessions for call in session.tool_calls]
    turns = [turn for session in record.sessions for turn in session.turns]
    candidates = [v for v in record.versions if v.kind.startswith("candidate:") and v.diff.strip()]
    tampered = sorted({finding.describe() for v in candidates for finding in find_tampering(v.diff)})
    summary = task.summary if task is not None else ""
    usage = record.usage
    return {
        "status": task.status if task is not None else "missing",
        "reason": _reason(summary),
        "tokens": usage.input_tokens + usage.output_tokens,
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cost_usd": round(usage.cost_usd, 6),
        "model_calls": usage.calls,
        "tool_calls": len(calls),
        "tool_calls_refused": sum(call.decision != "allowed" for call in calls),
        "turns": len(turns),
        "turns_failed": sum(turn.status != "done" for turn in turns),
        "protocols_run": sorted({session.protocol for session in record.sessions}),
        "tampering_flagged": tampered,
        "tampering_refused": TAMPERING_REFUSAL in summary,
    }


def _reason(summary: str) -> str:
    """The line of a task's summary that says why nothing was committed, or its first line."""
    for line in summary.splitlines():
        if line.startswith(("Not committed:", "Stopped:", "Gave up")):
            return line
    return summary.strip().splitlines()[0] if summary.strip() else ""
