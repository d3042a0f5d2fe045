"""Token and cost accounting, and the hard budgets checked before every model call.

Prices are data (`[prices."gpt-4.1"]` in agentd.toml), in US dollars per million tokens. A model
the table does not price costs 0.0 and is reported in `BudgetGuard.unpriced_models`, so the money
budget cannot silently stop protecting: the token budget still counts its tokens.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping

import structlog
from pydantic import BaseModel, ConfigDict, Field, RootModel

from agentd.kernel.errors import BudgetExceeded
from agentd.kernel.seams import Usage

log = structlog.get_logger("agentd.models.budget")
_DATE_SUFFIX = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8})$")  # gpt-4.1-2025-04-14, claude-…-20250514


class Price(BaseModel):
    """What one model costs, in US dollars per million tokens."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input_usd_per_mtok: float = Field(0.0, ge=0, description="USD per 1M input (prompt) tokens.")
    output_usd_per_mtok: float = Field(0.0, ge=0, description="USD per 1M output (completion) tokens.")


class PriceTable(RootModel[dict[str, Price]]):
    """Prices by model name: the vendor's model id (`gpt-4.1`) or agentd's `NAME:model` label."""

    root: dict[str, Price] = Field(default_factory=dict)


class BudgetConfig(BaseModel):
    """`[budget]`: hard limits; a call that would start past one is refused before it is sent."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_usd_per_task: float = Field(2.0, gt=0, description="Dollars one task may spend on model calls.")
    max_usd_per_day: float = Field(50.0, gt=0, description="Dollars all tasks together may spend in a day.")
    max_tokens_per_task: int | None = Field(
        None, ge=1, description="Input plus output tokens one task may use; unset: no token limit."
    )


def price_for(model: str, prices: Mapping[str, Price] | PriceTable) -> Price | None:
    """The price of `model`, tried as given, without agentd's `NAME:` label, then without a date suffix."""
    table = prices.root if isinstance(prices, PriceTable) else prices
    vendor = model.rsplit(":", 1)[-1]
    for key in (model, vendor, _DATE_SUFFIX.sub("", vendor)):
        if key in table:
            return table[key]
    return None


def cost_usd(model: str, usage: Usage, prices: Mapping[str, Price] | PriceTable) -> float:
    """What one call cost in US dollars; 0.0 for a model the table does not price (see `price_for`)."""
    price = price_for(model, prices)
    if price is None:
        return 0.0
    return (usage.input_tokens * price.input_usd_per_mtok + usage.output_tokens * price.output_usd_per_mtok) / 1e6


class BudgetGuard:
    """One task's spend against its budgets; thread-safe, so parallel agents can share it.

    Build one per task, with what the day's other tasks already spent (from the store's usage
    table). `check_before_call` refuses once a budget is used up; a call already under way is
    never cut off, so a task overshoots by at most the calls in flight when it ran out.
    """

    def __init__(
        self,
        config: BudgetConfig,
        spent_today_usd: float = 0.0,
        *,
        prices: Mapping[str, Price] | PriceTable | None = None,
    ) -> None:
        """Start a task's accounts; `spent_today_usd` is the day's spend before this task."""
        self.config = config
        self.prices: Mapping[str, Price] = (prices.root if isinstance(prices, PriceTable) else prices) or {}
        self._lock = threading.Lock()
        self._day_before = spent_today_usd
        self._task_usd = 0.0
        self._task_tokens = 0
        self._calls = 0
        self._unpriced: set[str] = set()

    @property
    def task_usd(self) -> float:
        """Dollars this task has spent."""
        with self._lock:
            return self._task_usd

    @property
    def day_usd(self) -> float:
        """Dollars spent today, this task included."""
        with self._lock:
            return self._day_before + self._task_usd

    @property
    def task_tokens(self) -> int:
        """Input plus output tokens this task has used."""
        with self._lock:
            return self._task_tokens

    @property
    def unpriced_models(self) -> frozenset[str]:
        """Models that answered but have no price, so their calls were counted as free."""
        with self._lock:
            return frozenset(self._unpriced)

    def check_before_call(self, model: str) -> None:
        """Raise BudgetExceeded when the task's or the day's budget is already spent."""
        with self._lock:
            problem = self._exhausted()
            calls = self._calls
        if problem:
            raise BudgetExceeded(f"not calling {model}: {problem} after {calls} model call(s) in this task")

    def _exhausted(self) -> str:
        config = self.config
        day = self._day_before + self._task_usd
        if self._task_usd >= config.max_usd_per_task:
            spent, key, limit_usd = self._task_usd, "max_usd_per_task", config.max_usd_per_task
            return f"the task's budget is spent (${spent:.4f} of budget.{key} = {limit_usd:g})"
        if day >= config.max_usd_per_day:
            return f"today's budget is spent (${day:.4f} of budget.max_usd_per_day = {config.max_usd_per_day:g})"
        limit = config.max_tokens_per_task
        if limit is not None and self._task_tokens >= limit:
            return f"the task's token budget is spent ({self._task_tokens} of budget.max_tokens_per_task {limit})"
        return ""

    def record(self, model: str, usage: Usage) -> float:
        """Add one finished call to the accounts; returns what it cost in US dollars."""
        priced = price_for(model, self.prices) is not None
        cost = cost_usd(model, usage, self.prices)
        with self._lock:
            self._task_usd += cost
            self._task_tokens += usage.input_tokens + usage.output_tokens
            self._calls += 1
            first_unpriced = not priced and model not in self._unpriced
            if not priced:
                self._unpriced.add(model)
        if first_unpriced:
            vendor = _DATE_SUFFIX.sub("", model.rsplit(":", 1)[-1])
            log.warning("model_unpriced", model=model, hint=f'add [prices."{vendor}"] to agentd.toml')
        return cost
