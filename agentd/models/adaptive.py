"""Adaptive model choice: per kind of task, prefer the models whose past outcomes gave the best value.

Value is the share of runs that ended agreed and green, less a charge for cost and latency. A
model with fewer than MIN_RUNS runs for a kind is treated optimistically, so each model in a
chain gets tried before the record decides. Pure functions over the store's model_stats records.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

MIN_RUNS = 3
USD_WEIGHT = 0.5  # one dollar per run costs half a success
SECOND_WEIGHT = 0.002  # a minute per run costs about an eighth of a success


class Outcomes(Protocol):
    """One model's recorded totals for one kind of task (the store's ModelOutcomes has this shape)."""

    @property
    def kind(self) -> str:
        """The kind of task."""
        ...

    @property
    def model(self) -> str:
        """The model, as the team named it."""
        ...

    @property
    def runs(self) -> int:
        """Tasks it took part in."""
        ...

    @property
    def agreed(self) -> int:
        """Of those, the ones that ended agreed."""
        ...

    @property
    def green(self) -> int:
        """Of those, the ones whose tests ended green."""
        ...

    @property
    def cost_usd(self) -> float:
        """Dollars over all its runs."""
        ...

    @property
    def latency_ms(self) -> float:
        """Model time over all its runs."""
        ...


def value(row: Outcomes) -> float:
    """A model's value for a kind of task from its totals (higher is better)."""
    runs = max(1, row.runs)
    success = (row.agreed + row.green) / (2 * runs)
    return success - USD_WEIGHT * row.cost_usd / runs - SECOND_WEIGHT * row.latency_ms / 1000 / runs


def order_chain(chain: Sequence[str], kind: str, stats: Sequence[Outcomes]) -> list[str]:
    """The chain reordered best value first; models without enough runs keep their place ahead of proven ones."""
    rows = {r.model.split(":", 1)[0]: r for r in stats if r.kind == kind}

    def key(item: tuple[int, str]) -> tuple[int, float, int]:
        position, name = item
        row = rows.get(name)
        if row is None or row.runs < MIN_RUNS:
            return (0, 0.0, position)  # explore first, in the configured order
        return (1, -value(row), position)

    return [name for _, name in sorted(enumerate(chain), key=key)]
