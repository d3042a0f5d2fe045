"""Housekeeping on a real store, state directory and git clone: what is old goes, what a running job holds stays."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from agentd.kernel.events import CommitPushed, TaskRequested
from agentd.repo.mirror import Mirror
from agentd.service.config import RetentionConfig
from agentd.service.retention import DAY_S, collect
from agentd.store.sqlite import SQLiteStore
from tests.conftest import git

OLD = time.time() - 400 * DAY_S


def aged(path: Path, when: float = OLD) -> Path:
    """`path` with its modification time set back to `when`."""
    os.utime(path, (when, when))
    return path


def test_old_rows_reports_and_crashed_jobs_leftovers_go_and_a_running_job_keeps_its_own(
    tmp_path: Path, sample_repo: Path
) -> None:
    """Old tool calls of finished tasks, old deliveries and reports, and unheld leftovers go; the rest stays."""
    state = tmp_path / "state"
    store = SQLiteStore(str(state / "agentd.db"))
    mirror = Mirror(sample_repo, state / "repo.git")
    mirror.ensure()
    mirror.fetch()
    head = git(sample_repo, "rev-parse", "HEAD")
    done, _ = store.enqueue(CommitPushed(repo="/r", branch="main", sha=head), "done", head)
    running, _ = store.enqueue(TaskRequested(repo="/r", description="d", base_ref="main", request_id="x"), "d", None)
    for task_id in (done, running):
        session = store.start_session(task_id, "vote", "broadcast")
        call = {"turn_seq": 0, "agent": "a", "tool": "code", "arguments": "{}", "decision": "allowed", "ok": True}
        store.add_tool_call(session, {**call, "output": "{}"})
    lease = store.claim_job("w", 600)  # the oldest queued job is the commit's; then the task's, held on
    assert lease is not None and lease.task_id == done
    held = store.claim_job("w", 600)
    assert held is not None and held.task_id == running
    store.update_task(done, status="reviewed")
    store.finish_job(lease, "done")
    store.accept_delivery("old-delivery", None, "", None)
    store.accept_delivery("new-delivery", None, "", None)
    with sqlite3.connect(state / "agentd.db") as db:
        db.execute("UPDATE tool_calls SET created_at = ?", (OLD,))
        db.execute("UPDATE webhook_deliveries SET received_at = ? WHERE delivery_id = 'old-delivery'", (OLD,))
    reports = state / "reports"
    reports.mkdir()
    (reports / "task-1.md").write_text("old")
    aged(reports / "task-1.md")
    (reports / "task-2.md").write_text("new")
    for task_id in (done, running):
        (state / "cache" / f"task-{task_id}").mkdir(parents=True)
        aged(state / "cache" / f"task-{task_id}")
        aged(mirror.add_worktree(state / "worktrees" / f"task-{task_id}-main", head))

    pruned = collect(store, state, RetentionConfig(), mirror.remove_worktree)

    assert pruned == {
        "tool_calls": 1,
        "webhook_deliveries": 1,
        "reports": 1,
        "caches": 1,
        "worktrees": 1,
    }
    assert [c for s in store.task_record(running).sessions for c in s.tool_calls]  # a running task keeps its audit
    assert [p.name for p in reports.iterdir()] == ["task-2.md"]
    assert [p.name for p in (state / "cache").iterdir()] == [f"task-{running}"]
    assert [p.name for p in (state / "worktrees").iterdir()] == [f"task-{running}-main"]
    assert git(state / "repo.git", "worktree", "list").count("\n") == 1  # the bare clone and the held worktree
    assert store.accept_delivery("new-delivery", None, "", None).duplicate  # young: still remembered
    store.close()


def test_reports_beyond_the_size_cap_go_oldest_first(tmp_path: Path) -> None:
    """With reports_max_mb reached, the oldest reports go even when they are young."""
    from agentd.service.retention import prune_reports  # noqa: PLC0415

    reports = tmp_path / "reports"
    reports.mkdir()
    now = time.time()
    for n in range(4):
        (reports / f"task-{n}.md").write_bytes(b"x" * 400_000)
        aged(reports / f"task-{n}.md", now - (4 - n) * 60)  # task-0 the oldest
    assert prune_reports(reports, RetentionConfig(reports_max_mb=1.0), now) == 2
    assert sorted(p.name for p in reports.iterdir()) == ["task-2.md", "task-3.md"]


def test_agentd_gc_prunes_on_demand(tmp_path: Path, sample_repo: Path) -> None:
    """`agentd gc` prunes with the config's [retention] and says how much of each kind went."""
    config = tmp_path / "agentd.toml"
    config.write_text(
        f'[daemon]\nstate_dir = "{tmp_path / "state"}"\n[repository]\npath = "{sample_repo}"\n'
        '[models.default]\nprovider = "scripted"\nmodel = "m"\nscript = "demo"\n[retention]\nreports_days = 1\n'
    )
    reports = tmp_path / "state" / "reports"
    reports.mkdir(parents=True)
    (reports / "task-9.md").write_text("old")
    aged(reports / "task-9.md")
    done = subprocess.run(
        [sys.executable, "-m", "agentd", "gc", "--config", str(config)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "reports 1" in done.stdout
    assert list(reports.iterdir()) == []
