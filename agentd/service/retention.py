"""Housekeeping: old audit rows, webhook delivery ids, reports, and what crashed jobs left in the state directory.

The daemon runs `collect` every `[retention] every_s`; `agentd gc` runs it on demand. Nothing a
worker holds a live lease on is touched: a running job's worktrees stay.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import structlog

from agentd.service.config import RetentionConfig
from agentd.store.base import Store

log = structlog.get_logger("agentd.service.retention")
DAY_S = 86_400.0
_TASK_DIR = re.compile(r"task-(\d+)(?:-|$)")


def collect(
    store: Store,
    state_dir: Path,
    config: RetentionConfig,
    remove_worktree: Callable[[Path], None],
    now: float | None = None,
) -> dict[str, int]:
    """Prune by age and size; how many of each kind went."""
    now = time.time() if now is None else now
    pruned = store.prune(now - config.tool_calls_days * DAY_S, now - config.webhook_deliveries_days * DAY_S)
    pruned["reports"] = prune_reports(state_dir / "reports", config, now)
    held = store.held_tasks()
    stale = now - config.leftovers_after_s
    # Each sandbox's Go build cache lives in its memory; cache/task-N is what older versions left on disk.
    pruned["caches"] = _remove(_leftovers(state_dir / "cache", held, stale), _rmtree)
    pruned["worktrees"] = _remove(_leftovers(state_dir / "worktrees", held, stale), remove_worktree)
    if any(pruned.values()):
        log.info("pruned", **pruned)
    return pruned


def prune_reports(reports: Path, config: RetentionConfig, now: float) -> int:
    """Delete reports older than reports_days, then the oldest until the rest fit in reports_max_mb."""
    if not reports.is_dir():
        return 0
    found = sorted(((p.stat().st_mtime, p.stat().st_size, p) for p in reports.glob("*.md")), reverse=True)
    budget, removed = config.reports_max_mb * 2**20, 0
    for mtime, size, path in found:  # newest first: keep while young and within the size budget
        budget -= size
        if mtime < now - config.reports_days * DAY_S or budget < 0:
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def _leftovers(root: Path, held: set[int], stale: float) -> list[Path]:
    """Entries named after a task no worker holds, last changed before `stale`."""
    if not root.is_dir():
        return []
    found = []
    for path in root.iterdir():
        match = _TASK_DIR.match(path.name)
        if match and int(match.group(1)) not in held and path.lstat().st_mtime < stale:
            found.append(path)
    return found


def _remove(paths: list[Path], remove: Callable[[Path], None]) -> int:
    for path in paths:
        remove(path)
    return len(paths)


def _rmtree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
