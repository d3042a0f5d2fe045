"""Adaptive model choice from recorded outcomes (plain data)."""

from __future__ import annotations

import dataclasses

from agentd.models.adaptive import order_chain, value
from agentd.store.records import ModelOutcomes


def row(model: str, runs: int, agreed: int, green: int, cost: float = 0.0, latency_ms: float = 0.0) -> ModelOutcomes:
    """A model's recorded outcomes for kind 'commit'."""
    return ModelOutcomes("commit", model, runs, agreed, green, cost, latency_ms)


def test_better_outcomes_go_first() -> None:
    """Of two proven models, the one agreeing and green more often leads the chain."""
    stats = [row("a:gpt", 10, 3, 3), row("b:claude", 10, 9, 9)]
    assert order_chain(["a", "b"], "commit", stats) == ["b", "a"]


def test_cost_breaks_a_tie_in_quality() -> None:
    """With equal outcomes, the cheaper model is the better value."""
    stats = [row("a:x", 10, 8, 8, cost=20.0), row("b:y", 10, 8, 8, cost=1.0)]
    assert order_chain(["a", "b"], "commit", stats) == ["b", "a"]
    assert value(stats[1]) > value(stats[0])


def test_untried_models_are_explored_first_in_config_order() -> None:
    """A model with too few runs keeps its configured place ahead of proven ones."""
    stats = [row("a:x", 10, 10, 10), row("b:y", 1, 0, 0)]
    assert order_chain(["a", "b", "c"], "commit", stats) == ["b", "c", "a"]


def test_other_kinds_do_not_count() -> None:
    """Outcomes of another kind of task leave the configured order alone."""
    stats = [
        dataclasses.replace(row("a:x", 10, 0, 0), kind="pr"),
        dataclasses.replace(row("b:y", 10, 10, 10), kind="pr"),
    ]
    assert order_chain(["a", "b"], "commit", stats) == ["a", "b"]
