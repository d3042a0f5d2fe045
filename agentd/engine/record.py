"""A session's record: finished turns go to the store as JSON rows and come back typed on resume.

This is the one module that knows how a turn is laid out in the store. The store has no column
for the replay key, so a row keeps it in the stored submission JSON under `key` (where earlier
versions put it, so their sessions still resume); only `turn_row` and `Replay` see it there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from agentd.engine.turn import TurnResult, UsageMeter
from agentd.engine.verdicts import SubmitTool
from agentd.kernel import crashpoints
from agentd.kernel.seams import Completion

ROW_KEY = "key"


class Recorder(UsageMeter, Protocol):
    """Where a session writes each model call's usage and each finished turn, as they happen."""

    def turn(self, turn: TurnResult) -> None:
        """Record a finished turn (under its replay key)."""
        ...


class TurnStore(Protocol):
    """What the store recorder needs of agentd's store."""

    def add_turn(self, session_id: int, turn: dict[str, Any]) -> int:
        """Append one debate turn to a session."""
        ...

    def add_usage(self, task_id: int, model: str, input_tokens: int, output_tokens: int, cost_usd: float = 0.0) -> None:
        """Record one model call's tokens and cost."""
        ...


class StoreRecorder:
    """A `Recorder` over agentd's store: usage per task, turns per debate session."""

    def __init__(self, store: TurnStore, task_id: int, session_id: int) -> None:
        """Record for `task_id`'s session `session_id`."""
        self.store = store
        self.task_id = task_id
        self.session_id = session_id

    def usage(self, model: str, completion: Completion) -> None:
        """Record one model call's tokens and cost (priced once, by the budget guard) under the model that answered."""
        usage = completion.usage
        self.store.add_usage(self.task_id, model, usage.input_tokens, usage.output_tokens, completion.cost_usd)

    def turn(self, turn: TurnResult) -> None:
        """Record a finished turn as the store's row."""
        self.store.add_turn(self.session_id, turn_row(turn))
        crashpoints.reached("debate")


def turn_row(turn: TurnResult) -> dict[str, Any]:
    """A turn as the store keeps it: plain JSON, the replay key inside the submission."""
    submission = turn.submission.model_dump(mode="json") if turn.submission is not None else None
    return {
        "seq": turn.seq,
        "agent": turn.agent,
        "role": turn.role,
        "model": turn.model,
        "content": turn.content,
        "submission": {ROW_KEY: turn.key, **submission} if submission is not None else None,
        "status": turn.status,
        "input_tokens": turn.input_tokens,
        "output_tokens": turn.output_tokens,
        "latency_ms": turn.latency_ms,
    }


class Replay:
    """The completed turns of a resumed session by replay key, and where its numbering goes on."""

    def __init__(self, rows: Sequence[Mapping[str, Any]] = ()) -> None:
        """Index the store's rows of one session (every turn, finished or failed)."""
        self.next_seq = max((int(row["seq"]) for row in rows), default=-1) + 1
        self.rows = {
            str(row["submission"][ROW_KEY]): row
            for row in rows
            if row.get("status") == "done"
            and isinstance(row.get("submission"), Mapping)
            and ROW_KEY in row["submission"]
        }

    def __len__(self) -> int:
        """How many turns can be replayed."""
        return len(self.rows)

    def turn(self, key: str, submit: SubmitTool) -> TurnResult | None:
        """The completed turn recorded under `key`, its submission typed by `submit`; None if there is none."""
        row = self.rows.get(key)
        if row is None:
            return None
        recorded = {k: v for k, v in row["submission"].items() if k != ROW_KEY}
        return TurnResult(
            str(row["agent"]),
            str(row["role"]),
            str(row["model"]),
            submit.restore(recorded),
            str(row.get("content") or ""),
            int(row.get("input_tokens") or 0),
            int(row.get("output_tokens") or 0),
            float(row.get("latency_ms") or 0.0),
            seq=int(row["seq"]),
            key=key,
        )
