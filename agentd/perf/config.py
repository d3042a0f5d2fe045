"""`[optimizer]`: when agentd keeps an optimization."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class OptimizerConfig(BaseModel):
    """When agentd keeps an optimization: its own interleaved before/after benchmark must show the gain."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_gain: float = Field(0.05, ge=0, description="Smallest change of the median ns/op that counts (0.05 = 5%).")
    bench_count: int = Field(10, ge=2, description="Interleaved rounds of base and candidate benchmark runs.")
    alpha: float = Field(0.05, gt=0, lt=1, description="Significance level of the Mann-Whitney U test.")
