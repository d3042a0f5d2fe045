"""Adaptive model choice: per kind of task, prefer the models whose past outcomes gave the best value.

Value is the share of runs that ended agreed and green, less a charge for cost and latency. A
model with fewer than MIN_RUNS runs for a kind is treated optimistically, so each model in a
chain gets tried before the record decides. Pure functions over the store's model_stats rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

MIN_RUNS = 3
USD_WEIGHT = 0.5  # one dollar per run costs half a success
SECOND_WEIGHT = 0.002  # a minute per run costs about an eighth of a success


def value(row: Mapping[str, Any]) -> float:
    """A model's value for a kind of task from its totals (higher is better)."""
    runs = max(1, int(row["runs"]))
    success = (int(row["agreed"]) + int(row["green"])) / (2 * runs)
    return success - USD_WEIGHT * float(row["cost_usd"]) / runs - SECOND_WEIGHT * float(row["latency_ms"]) / 1000 / runs


def order_chain(chain: Sequence[str], kind: str, stats: Sequence[Mapping[str, Any]]) -> list[str]:
    """The chain reordered best value first; models without enough runs keep their place ahead of proven ones."""
    rows = {str(r["model"]).split(":", 1)[0]: r for r in stats if r["kind"] == kind}

    def key(item: tuple[int, str]) -> tuple[int, float, int]:
        position, name = item
        row = rows.get(name)
        if row is None or int(row["runs"]) < MIN_RUNS:
            return (0, 0.0, position)  # explore first, in the configured order
        return (1, -value(row), position)

    return [name for _, name in sorted(enumerate(chain), key=key)]
