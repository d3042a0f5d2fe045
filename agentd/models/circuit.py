"""A circuit breaker per model endpoint, and `GuardedModel`: budget, breaker and cost in one place.

closed ──(failure_threshold consecutive ModelErrors)──► open ──(reset_after_s)──► half_open
half_open ──(the one trial call succeeds)──► closed;  half_open ──(it fails)──► open

While open the breaker refuses at once with `ModelUnavailableError`, the error a `FallbackModel`
answers by trying its next model, so a dead endpoint costs nothing but a check. Wrap each
endpoint of a fallback chain in its own `GuardedModel`.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from typing import Literal, TypeVar

from agentd.kernel.errors import ModelError
from agentd.kernel.seams import Completion, Message, Model, ToolSpec
from agentd.models.budget import BudgetGuard
from agentd.models.retry import ModelUnavailableError

State = Literal["closed", "open", "half_open"]
T = TypeVar("T")


class CircuitBreaker:
    """Stops calling an endpoint after repeated failures and lets one trial through after a pause."""

    def __init__(
        self,
        failure_threshold: int = 3,
        reset_after_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        *,
        name: str = "model",
    ) -> None:
        """Open after `failure_threshold` consecutive failures; try again `reset_after_s` later."""
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        self.failure_threshold = failure_threshold
        self.reset_after_s = reset_after_s
        self.name = name
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_running = False

    @property
    def state(self) -> State:
        """`closed`, `open`, or `half_open` once the pause is over (a trial may be running)."""
        with self._lock:
            return self._state()

    def _state(self) -> State:
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at >= self.reset_after_s:
            return "half_open"
        return "open"

    def _admit(self) -> bool:
        """Whether this call may go out; in half-open only the first caller becomes the trial."""
        with self._lock:
            state = self._state()
            if state == "closed":
                return False
            if state == "half_open" and not self._trial_running:
                self._trial_running = True
                return True
            assert self._opened_at is not None  # open, or half-open with its trial under way
            wait = max(0.0, self.reset_after_s - (self._clock() - self._opened_at))
            failures = self._failures
        raise ModelUnavailableError(
            f"{self.name}: circuit open after {failures} consecutive failure(s); next trial in {wait:.1f}s"
        )

    def call(self, fn: Callable[[], T]) -> T:
        """Run `fn` unless the circuit is open; count its ModelErrors, reset on success."""
        trial = self._admit()
        try:
            result = fn()
        except ModelError:
            self._settle(trial, ok=False)
            raise
        except BaseException:
            # not the endpoint's fault (a bug, a cancelled job): neither success nor failure
            if trial:
                with self._lock:
                    self._trial_running = False
            raise
        self._settle(trial, ok=True)
        return result

    def _settle(self, trial: bool, *, ok: bool) -> None:
        with self._lock:
            if trial:
                self._trial_running = False
            if ok:
                self._failures = 0
                self._opened_at = None
                return
            self._failures += 1
            if trial or self._failures >= self.failure_threshold:
                self._opened_at = self._clock()


class GuardedModel:
    """A `Model` with the budget checked before each call, a breaker around it, its cost recorded after."""

    def __init__(self, model: Model, breaker: CircuitBreaker, budget: BudgetGuard | None = None) -> None:
        """Guard `model`; without a budget only the breaker applies."""
        self.model = model
        self.breaker = breaker
        self.budget = budget

    @property
    def name(self) -> str:
        """The guarded model's name."""
        return self.model.name

    def complete(self, messages: list[Message], tools: list[ToolSpec], require: str | None = None) -> Completion:
        """One call: raises BudgetExceeded before it, ModelUnavailableError while the circuit is open."""
        if self.budget is not None:
            self.budget.check_before_call(self.model.name)
        completion = self.breaker.call(lambda: self.model.complete(messages, tools, require))
        if self.budget is None:
            return completion
        cost = self.budget.record(completion.model or self.model.name, completion.usage)
        return dataclasses.replace(completion, cost_usd=cost)

    def close(self) -> None:
        """Close the guarded model if it can be closed."""
        close = getattr(self.model, "close", None)
        if callable(close):
            close()
