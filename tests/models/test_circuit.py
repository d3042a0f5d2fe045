"""The circuit breaker's states on a fake clock, and GuardedModel's budget, breaker and cost."""

from __future__ import annotations

import contextlib

import pytest

from agentd.kernel.errors import BudgetExceeded, ModelError, ModelHTTPError
from agentd.kernel.seams import Completion, Message, ToolSpec, Usage
from agentd.models import FallbackModel
from agentd.models.budget import BudgetConfig, BudgetGuard, Price
from agentd.models.circuit import CircuitBreaker, GuardedModel
from agentd.models.retry import ModelUnavailableError


class FakeClock:
    """A clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class ListModel:
    """A `Model` that answers from a list: a string is an answer, an exception is raised."""

    def __init__(self, name: str, answers: list[str | Exception]) -> None:
        self._name = name
        self.answers = list(answers)
        self.usage = Usage(1000, 1000)
        self.calls = 0

    @property
    def name(self) -> str:
        return self._name

    def complete(self, messages: list[Message], tools: list[ToolSpec], require: str | None = None) -> Completion:
        self.calls += 1
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return Completion(text=answer, usage=self.usage, model=f"{self._name}-2025-04-14")


def fail() -> str:
    """A call that fails the way a provider does."""
    raise ModelUnavailableError("endpoint down", 503)


def succeed() -> str:
    """A call that works."""
    return "ok"


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock for one test."""
    return FakeClock()


def test_the_circuit_opens_after_consecutive_failures(clock: FakeClock) -> None:
    """Three ModelErrors in a row open the circuit; the next call is refused without running."""
    breaker = CircuitBreaker(failure_threshold=3, reset_after_s=30.0, clock=clock, name="models.default")
    for _ in range(3):
        assert breaker.state == "closed"
        with pytest.raises(ModelUnavailableError, match="endpoint down"):
            breaker.call(fail)
    assert breaker.state == "open"
    ran: list[bool] = []
    with pytest.raises(ModelUnavailableError, match=r"models\.default: circuit open after 3 .*next trial in 30\.0s"):
        breaker.call(lambda: ran.append(True))
    assert ran == []


def test_a_success_resets_the_failure_count(clock: FakeClock) -> None:
    """Failures must be consecutive: one success in between keeps the circuit closed."""
    breaker = CircuitBreaker(failure_threshold=2, clock=clock)
    for call in (fail, succeed, fail, succeed, fail):
        with contextlib.suppress(ModelError):
            breaker.call(call)
    assert breaker.state == "closed"


def test_half_open_trial_success_closes_the_circuit(clock: FakeClock) -> None:
    """After reset_after_s one trial goes through; its success closes the circuit."""
    breaker = CircuitBreaker(failure_threshold=1, reset_after_s=30.0, clock=clock)
    with pytest.raises(ModelError):
        breaker.call(fail)
    clock.now += 29.9
    assert breaker.state == "open"
    clock.now += 0.1
    assert breaker.state == "half_open"
    assert breaker.call(succeed) == "ok"
    assert breaker.state == "closed"


def test_half_open_trial_failure_reopens_the_circuit(clock: FakeClock) -> None:
    """A failed trial opens the circuit for another full pause."""
    breaker = CircuitBreaker(failure_threshold=1, reset_after_s=30.0, clock=clock)
    with pytest.raises(ModelError):
        breaker.call(fail)
    clock.now += 30
    with pytest.raises(ModelUnavailableError, match="endpoint down"):
        breaker.call(fail)
    assert breaker.state == "open"
    clock.now += 29
    assert breaker.state == "open"


def test_half_open_lets_only_one_trial_through(clock: FakeClock) -> None:
    """While the trial call is running, other calls are refused."""
    breaker = CircuitBreaker(failure_threshold=1, reset_after_s=5.0, clock=clock)
    with pytest.raises(ModelError):
        breaker.call(fail)
    clock.now += 5
    refused: list[str] = []

    def trial() -> str:
        try:
            breaker.call(succeed)
        except ModelUnavailableError as exc:
            refused.append(str(exc))
        return "trial"

    assert breaker.call(trial) == "trial"
    assert len(refused) == 1
    assert breaker.state == "closed"


def test_errors_that_are_not_the_endpoints_fault_do_not_count(clock: FakeClock) -> None:
    """A bug or a cancellation (not a ModelError) neither opens the circuit nor uses up the trial."""
    breaker = CircuitBreaker(failure_threshold=1, reset_after_s=5.0, clock=clock)

    def bug() -> str:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        breaker.call(bug)
    assert breaker.state == "closed"
    with pytest.raises(ModelError):
        breaker.call(fail)
    clock.now += 5
    with pytest.raises(KeyError):
        breaker.call(bug)
    assert breaker.state == "half_open"
    assert breaker.call(succeed) == "ok"


def test_guarded_model_records_the_cost_of_each_call(clock: FakeClock) -> None:
    """A guarded call is priced by the model that answered and added to the task's spend."""
    budget = BudgetGuard(BudgetConfig(), prices={"gpt-4.1": Price(input_usd_per_mtok=2.0, output_usd_per_mtok=8.0)})
    model = GuardedModel(ListModel("default:gpt-4.1", ["hi"]), CircuitBreaker(clock=clock), budget)
    assert model.name == "default:gpt-4.1"
    assert model.complete([Message("user", "hello")], []).text == "hi"
    assert budget.task_usd == pytest.approx(0.01)


def test_guarded_model_checks_the_budget_before_calling(clock: FakeClock) -> None:
    """With the task budget spent, the model is never called."""
    budget = BudgetGuard(BudgetConfig(max_usd_per_task=0.01), prices={"m": Price(input_usd_per_mtok=10.0)})
    inner = ListModel("m", ["one", "two"])
    model = GuardedModel(inner, CircuitBreaker(clock=clock), budget)
    model.complete([], [])
    with pytest.raises(BudgetExceeded):
        model.complete([], [])
    assert inner.calls == 1


def test_an_open_circuit_moves_a_fallback_chain_on(clock: FakeClock) -> None:
    """Once the first endpoint's circuit opens, the chain answers from the second without calling the first."""
    down = ListModel("a", [ModelHTTPError("500", 500)])
    up = ListModel("b", ["from b", "from b again"])
    chain = FallbackModel(
        [
            GuardedModel(down, CircuitBreaker(failure_threshold=1, clock=clock), None),
            GuardedModel(up, CircuitBreaker(clock=clock), None),
        ]
    )
    with pytest.raises(ModelHTTPError):
        chain.complete([], [])  # a fatal error stops the chain, but counts against `a`
    assert chain.complete([], []).text == "from b"
    assert down.calls == 1


def test_a_breaker_needs_a_positive_threshold() -> None:
    """A threshold below one is a configuration mistake, refused at once."""
    with pytest.raises(ValueError, match="failure_threshold"):
        CircuitBreaker(failure_threshold=0)
