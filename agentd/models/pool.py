"""The models of a daemon: one endpoint per [models.NAME], each behind its own circuit breaker.

Per job, a role's model is its fallback chain (ordered by recorded value, agentd.models.adaptive), each
link guarded by the endpoint's breaker and the job's budget, which is checked before every call.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence

import structlog

from agentd.kernel.seams import Model
from agentd.models import FallbackModel, build_model
from agentd.models.adaptive import Outcomes, order_chain
from agentd.models.budget import BudgetGuard
from agentd.models.circuit import CircuitBreaker, GuardedModel
from agentd.models.config import ModelConfig

log = structlog.get_logger("agentd.models.pool")
TEAM_ROLES = ("proposer", "critic", "reviewer", "judge", "optimizer", "tester")
Roles = Mapping[str, str | Sequence[str]]


def chain_for(roles: Roles, role: str) -> list[str]:
    """The model names a role uses, first preferred (a fallback chain); `default` when [roles] is silent."""
    names = roles.get(role, "default")
    return [names] if isinstance(names, str) else list(names) or ["default"]


class ModelPool:
    """Endpoints built once at start-up (a missing key fails here, not mid-job)."""

    def __init__(self, models: Mapping[str, ModelConfig], roles: Roles) -> None:
        self.roles = roles
        names = {"default"} | {n for role in {*TEAM_ROLES, *roles} for n in chain_for(roles, role)}
        self.endpoints = {name: build_model(name, models[name]) for name in sorted(names)}
        self.breakers = {
            name: CircuitBreaker(models[name].breaker_failures, models[name].breaker_reset_s, name=name)
            for name in self.endpoints
        }

    def for_job(self, kind: str, guard: BudgetGuard, stats: Sequence[Outcomes]) -> Callable[[str], Model]:
        """role -> the Model a job uses for it; `stats` are the recorded outcomes per model (adaptive order)."""

        def model(role: str) -> Model:
            chain = [n for n in order_chain(chain_for(self.roles, role), kind, stats) if n in self.endpoints]
            guarded: list[Model] = [GuardedModel(self.endpoints[n], self.breakers[n], guard) for n in chain]
            return guarded[0] if len(guarded) == 1 else FallbackModel(guarded)

        return model

    def warm(self) -> None:
        """Build every endpoint's client in the background (a job was claimed: its first call need not
        wait for an SDK's import); the idle daemon imports none. A failure is left for the first call to meet."""

        def build() -> None:
            for name, endpoint in self.endpoints.items():
                warm = getattr(endpoint, "warm", None)
                try:
                    if callable(warm):
                        warm()
                except Exception:  # the job's own first call meets it again, with its context
                    log.warning("warming a model's client failed", model=name, exc_info=True)

        threading.Thread(target=build, name="agentd-models-warm", daemon=True).start()

    def close(self) -> None:
        """Close every endpoint's client."""
        for endpoint in self.endpoints.values():
            close = getattr(endpoint, "close", None)
            if callable(close):
                close()
