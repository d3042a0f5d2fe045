"""Prometheus text exposition of the store's totals, for GET /metrics."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agentd.intake.api.schemas import TASK_STATES

PROMETHEUS = "text/plain; version=0.0.4; charset=utf-8"
JOB_STATES = ("queued", "running", "done", "failed", "cancelled")
DECISIONS = ("allowed", "refused", "invalid", "failed")


def _family(
    name: str, kind: str, help_text: str, label: str, known: tuple[str, ...], values: Mapping[str, int]
) -> list[str]:
    """One metric family with a sample per label value; the known values are always present."""
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    for key in sorted({*known, *values}):
        escaped = key.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        lines.append(f'{name}{{{label}="{escaped}"}} {int(values.get(key, 0))}')
    return lines


def render_metrics(stats: Mapping[str, Any]) -> str:
    """Prometheus text exposition of the store's totals (agentd.store.records.Stats as a mapping)."""
    lines = [
        *_family("agentd_jobs", "gauge", "Jobs by status.", "status", JOB_STATES, stats["jobs"]),
        *_family("agentd_tasks", "gauge", "Tasks by status.", "status", TASK_STATES, stats["tasks"]),
        *_family(
            "agentd_tool_calls_total",
            "counter",
            "Tool calls by policy decision.",
            "decision",
            DECISIONS,
            stats["tool_calls"],
        ),
        *_family(
            "agentd_tokens_total",
            "counter",
            "Model tokens by direction.",
            "direction",
            ("input", "output"),
            {"input": stats["input_tokens"], "output": stats["output_tokens"]},
        ),
        "# HELP agentd_model_calls_total Model calls made.",
        "# TYPE agentd_model_calls_total counter",
        f"agentd_model_calls_total {int(stats['model_calls'])}",
        "# HELP agentd_cost_usd_total Dollars spent on model calls, at the configured prices.",
        "# TYPE agentd_cost_usd_total counter",
        f"agentd_cost_usd_total {float(stats.get('cost_usd', 0.0))!r}",
        "# HELP agentd_task_duration_seconds Time from event to finished task.",
        "# TYPE agentd_task_duration_seconds summary",
        f"agentd_task_duration_seconds_sum {float(stats.get('task_seconds', 0.0))!r}",
        f"agentd_task_duration_seconds_count {int(stats.get('tasks_finished', 0))}",
        "# HELP agentd_sandbox_commands_total Commands run in sandboxes (allowed execute_command calls).",
        "# TYPE agentd_sandbox_commands_total counter",
        f"agentd_sandbox_commands_total {int(stats.get('sandbox_commands', 0))}",
        *_family(
            "agentd_model_errors_unclassified_total",
            "counter",
            "Model SDK errors the retry table does not name (classified by status and base class).",
            "error",
            (),
            stats.get("unclassified_model_errors", {}),
        ),
    ]
    return "\n".join(lines) + "\n"
