"""The `profile` tool: benchmark one Go package with CPU and memory profiles, return the hot spots.

The lead registers it in the toolbox (tools.registry) beside the three mission tools; here it is
only its argument model, its description and one function over the Sandbox protocol. Like every
tool it never raises to the model: a bad package or a failing benchmark is a structured error.
"""

from __future__ import annotations

import re
import time

from pydantic import BaseModel, ConfigDict, Field, field_validator

from agentd.kernel.errors import AgentdError
from agentd.kernel.seams import Sandbox, ToolResult
from agentd.perf.runner import profile

PROFILE_DESCRIPTION = (
    "Profile one Go package's benchmarks in the sandbox (go test -bench with -cpuprofile and -memprofile, then "
    "go tool pprof). Returns the benchmark results, the top CPU functions (flat and cumulative), the top "
    "allocation sites, and the hottest source lines of the project's own functions as file:line."
)
_PACKAGE = re.compile(r"^(?:\.|\./[A-Za-z0-9_.\-/]*|[A-Za-z0-9_][A-Za-z0-9_.\-/]*)$")


class ProfileArgs(BaseModel):
    """Arguments of the `profile` tool, as a model sends them."""

    model_config = ConfigDict(extra="forbid")

    package: str = Field(".", description="One package directory relative to the workspace, e.g. ./store or '.'.")
    bench: str = Field(".", min_length=1, description="Regular expression selecting benchmarks, as go test -bench.")
    count: int = Field(3, ge=1, le=20, description="How many times to run each benchmark (go test -count).")

    @field_validator("package")
    @classmethod
    def _one_package_inside(cls, value: str) -> str:
        if not _PACKAGE.match(value) or ".." in value.split("/") or value.endswith("..."):
            raise ValueError("name one package directory inside the workspace, like ./store or '.'; no '..' or '...'")
        return value


def run_profile(
    sandbox: Sandbox, args: ProfileArgs, timeout_s: float = 600.0, env: dict[str, str] | None = None
) -> ToolResult:
    """Run the profile and shape it for the model; every failure is a failed ToolResult.

    `env` is added to the benchmark's environment (e.g. GOMAXPROCS matching the sandbox's CPUs).
    """
    started = time.monotonic()
    try:
        report = profile(sandbox, args.package, args.bench, args.count, env=env, timeout_s=timeout_s)
    except AgentdError as exc:
        elapsed = (time.monotonic() - started) * 1000
        return ToolResult(False, {"error": str(exc)}, "failed", "profile", elapsed)
    elapsed = (time.monotonic() - started) * 1000
    return ToolResult(True, report.to_dict(), "allowed", "profile", elapsed)
