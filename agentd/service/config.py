"""`[daemon]`: how the daemon runs."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class DaemonConfig(BaseModel):
    """How the daemon runs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    state_dir: Path = Field(Path("/var/lib/agentd"), description="Worktrees, clones, logs and the SQLite database.")
    rescan_interval_s: float = Field(30.0, gt=0, description="Safety-net rescan of the refs, besides the file watcher.")
    poll_interval_s: float = Field(0.2, gt=0, description="How often an idle worker looks for a queued job.")
    lease_s: float = Field(120.0, gt=5, description="A job's lease; a worker renews it while it works.")
    max_commits_per_scan: int = Field(
        10, ge=1, description="New commits on one branch enqueued per scan; older ones are recorded as skipped."
    )
    log_format: Literal["console", "json"] = Field("console", description="structlog renderer.")
    max_attempts: int = Field(3, ge=1, description="Runs of a failing job before it is dead-lettered.")
    retry_backoff_s: float = Field(30.0, ge=0, description="Wait before the first retry; doubles each time.")
    max_concurrent_jobs: int = Field(
        1, ge=1, description="Jobs this daemon runs at once (its workers); each further daemon adds as many."
    )
    max_concurrent_jobs_total: int | None = Field(
        None,
        ge=1,
        description="Optional cap on the jobs running at once across every daemon sharing the store (unset: none).",
    )
    unhealthy_after_s: float = Field(
        120.0,
        gt=0,
        description="The daemon is unhealthy (/healthz 503, no systemd watchdog ping) when its worker, the store "
        "or the Docker engine has not worked for this long.",
    )
    min_free_mb: float = Field(
        256.0,
        ge=0,
        description="Free space the state directory's disk must keep; below it the daemon claims no job (jobs wait "
        "in the queue instead of failing) and turns unhealthy after unhealthy_after_s.",
    )
    exit_after_unhealthy_s: float | None = Field(
        None,
        gt=0,
        description="Exit (code 3) after being unhealthy this long, so a supervisor without a watchdog (a container "
        "restart policy) restarts agentd; unset: stay up (systemd's watchdog restarts it instead).",
    )


class RetentionConfig(BaseModel):
    """`[retention]`: what agentd prunes, and when (the daemon every `every_s`; `agentd gc` on demand)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tool_calls_days: float = Field(
        90.0, gt=0, description="Audit rows (tool calls) of finished tasks older than this are deleted."
    )
    webhook_deliveries_days: float = Field(
        30.0, gt=0, description="Delivery ids kept to answer a forge's redelivery as a duplicate."
    )
    reports_days: float = Field(365.0, gt=0, description="Markdown reports older than this are deleted.")
    reports_max_mb: float = Field(500.0, gt=0, description="Beyond this total the oldest reports are deleted.")
    leftovers_after_s: float = Field(
        600.0,
        ge=0,
        description="A job's cache or worktree whose task no worker holds is removed once this old "
        "(a crashed job's; a finished job removes its own).",
    )
    every_s: float = Field(3600.0, gt=0, description="How often the daemon prunes.")
