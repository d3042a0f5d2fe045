"""Prices, costs and the hard budgets checked before every model call."""

from __future__ import annotations

import threading

import pytest

from agentd.config import parse_config
from agentd.kernel.errors import BudgetExceeded
from agentd.kernel.seams import Usage
from agentd.models.budget import BudgetConfig, BudgetGuard, Price, PriceTable, cost_usd, price_for

PRICES = {
    "gpt-4.1": Price(input_usd_per_mtok=2.0, output_usd_per_mtok=8.0),
    "claude-sonnet-4": Price(input_usd_per_mtok=3.0, output_usd_per_mtok=15.0),
}


def test_cost_is_tokens_times_price_per_million() -> None:
    """One million input and one million output tokens cost the two listed prices."""
    assert cost_usd("gpt-4.1", Usage(1_000_000, 1_000_000), PRICES) == pytest.approx(10.0)
    assert cost_usd("gpt-4.1", Usage(1000, 500), PRICES) == pytest.approx(0.006)


def test_price_lookup_accepts_agentd_labels_and_dated_ids() -> None:
    """`default:gpt-4.1` and the dated id a provider answers with both find the `gpt-4.1` price."""
    assert price_for("default:gpt-4.1", PRICES) == PRICES["gpt-4.1"]
    assert price_for("default:gpt-4.1-2025-04-14", PRICES) == PRICES["gpt-4.1"]
    assert price_for("claude-sonnet-4-20250514", PriceTable(PRICES)) == PRICES["claude-sonnet-4"]
    assert price_for("gpt-4.1-mini", PRICES) is None


def test_unknown_model_costs_nothing_but_is_flagged() -> None:
    """A model without a price costs 0.0 and the guard names it in `unpriced_models`."""
    guard = BudgetGuard(BudgetConfig(), prices=PRICES)
    assert cost_usd("llama3", Usage(1000, 1000), PRICES) == 0.0
    assert guard.record("local:llama3", Usage(1000, 1000)) == 0.0
    assert guard.record("gpt-4.1", Usage(1000, 0)) == pytest.approx(0.002)
    assert guard.unpriced_models == {"local:llama3"}
    assert guard.task_tokens == 3000


def test_the_task_budget_stops_the_next_call_before_it_is_sent() -> None:
    """Once a task has spent its dollars, the check before the next call raises BudgetExceeded."""
    guard = BudgetGuard(BudgetConfig(max_usd_per_task=0.01), prices=PRICES)
    guard.check_before_call("gpt-4.1")
    assert guard.record("gpt-4.1", Usage(1000, 1000)) == pytest.approx(0.01)
    with pytest.raises(BudgetExceeded, match=r"not calling gpt-4\.1: the task's budget is spent.*max_usd_per_task"):
        guard.check_before_call("gpt-4.1")


def test_the_day_budget_counts_what_other_tasks_spent() -> None:
    """A fresh task is refused when the day's earlier spend plus its own reaches the day budget."""
    config = BudgetConfig(max_usd_per_task=5.0, max_usd_per_day=1.0)
    guard = BudgetGuard(config, spent_today_usd=0.995, prices=PRICES)
    guard.check_before_call("gpt-4.1")
    guard.record("gpt-4.1", Usage(2500, 0))
    assert guard.day_usd == pytest.approx(1.0)
    with pytest.raises(BudgetExceeded, match=r"today's budget is spent.*max_usd_per_day"):
        guard.check_before_call("gpt-4.1")


def test_a_day_already_spent_refuses_the_first_call() -> None:
    """A task started after the day's budget ran out makes no call at all."""
    with pytest.raises(BudgetExceeded, match="after 0 model call"):
        BudgetGuard(BudgetConfig(max_usd_per_day=50.0), spent_today_usd=50.0).check_before_call("m")


def test_the_token_budget_also_stops_unpriced_models() -> None:
    """Free (unpriced) calls still count tokens, so max_tokens_per_task stops them."""
    guard = BudgetGuard(BudgetConfig(max_tokens_per_task=100))
    guard.record("local:llama3", Usage(60, 40))
    with pytest.raises(BudgetExceeded, match="token budget"):
        guard.check_before_call("local:llama3")


def test_recording_is_thread_safe() -> None:
    """Parallel agents recording at once lose no call."""
    guard = BudgetGuard(BudgetConfig(), prices=PRICES)

    def work() -> None:
        for _ in range(500):
            guard.record("gpt-4.1", Usage(1, 1))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert guard.task_tokens == 8000
    assert guard.task_usd == pytest.approx(4000 * 10 / 1e6)


def test_config_reads_budget_and_prices() -> None:
    """`[budget]` and `[prices."model"]` tables parse into the config, with safe defaults when absent."""
    base = '[repository]\npath = "/tmp/repo"\n[models.default]\nprovider = "openai"\nmodel = "gpt-4.1"\n'
    defaults = parse_config(base, env={})
    assert defaults.budget == BudgetConfig(max_usd_per_task=2.0, max_usd_per_day=50.0, max_tokens_per_task=None)
    assert defaults.prices == {}
    text = base + (
        "[budget]\nmax_usd_per_task = 0.5\nmax_tokens_per_task = 200000\n"
        '[prices."gpt-4.1"]\ninput_usd_per_mtok = 2.0\noutput_usd_per_mtok = 8.0\n'
    )
    config = parse_config(text, env={})
    assert config.budget.max_usd_per_task == 0.5
    assert config.budget.max_tokens_per_task == 200_000
    assert config.prices == {"gpt-4.1": PRICES["gpt-4.1"]}
