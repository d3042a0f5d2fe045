"""The commit trigger on a real repository: new commits become jobs, once, and fast."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from agentd.config import Config, parse_config
from agentd.intake.triggers import RefWatcher
from agentd.kernel.events import TaskRequested
from agentd.repo.mirror import Mirror
from agentd.store.sqlite import SQLiteStore
from tests.conftest import git


def config_for(repo: Path, state: Path) -> Config:
    """A config watching `repo` with the scripted model."""
    return parse_config(
        f'[daemon]\nstate_dir = "{state}"\nrescan_interval_s = 60\n[repository]\npath = "{repo}"\n'
        '[models.default]\nprovider = "scripted"\nmodel = "m"\nscript = "demo"\n',
        env={},
    )


def watcher(repo: Path, tmp_path: Path) -> tuple[RefWatcher, SQLiteStore]:
    """A watcher over `repo` with its own store and clone."""
    config = config_for(repo, tmp_path / "state")
    store = SQLiteStore(str(tmp_path / "state" / "agentd.db"))
    mirror = Mirror(repo, tmp_path / "state" / "repo.git")
    mirror.ensure()
    return RefWatcher(config.repository, config.daemon, store, mirror), store


def new_commit(repo: Path, name: str, message: str | None = None) -> str:
    """Commit a new file on the checked-out branch."""
    (repo / name).write_text(name)
    git(repo, "add", name)
    git(repo, "commit", "-q", "-m", message or f"add {name}")
    return git(repo, "rev-parse", "HEAD")


def test_first_scan_records_baseline_then_each_new_commit_is_one_job(sample_repo: Path, tmp_path: Path) -> None:
    """History present at start makes no job; each later commit makes exactly one, in order."""
    watch, store = watcher(sample_repo, tmp_path)
    assert watch.scan() == []
    first, second = new_commit(sample_repo, "a.txt"), new_commit(sample_repo, "b.txt")
    created = watch.scan()
    assert len(created) == 2
    tasks = {store.get_task(t).event.sha: store.get_task(t) for t in created}  # type: ignore[union-attr]
    assert set(tasks) == {first, second}
    assert watch.scan() == []


def test_restart_does_not_enqueue_again(sample_repo: Path, tmp_path: Path) -> None:
    """A new watcher on the same state (a restart) makes no second job for commits already seen."""
    watch, store = watcher(sample_repo, tmp_path)
    watch.scan()
    new_commit(sample_repo, "a.txt")
    assert len(watch.scan()) == 1
    store.close()
    again, _ = watcher(sample_repo, tmp_path)
    assert again.scan() == []


def test_commits_on_unwatched_branches_and_own_commits_are_ignored(sample_repo: Path, tmp_path: Path) -> None:
    """Other branches, agentd/ branches and a commit agentd recorded as its own (merged to main) trigger no job."""
    watch, store = watcher(sample_repo, tmp_path)
    watch.scan()
    git(sample_repo, "checkout", "-q", "-b", "feature")
    new_commit(sample_repo, "f.txt")
    git(sample_repo, "checkout", "-q", "-b", "agentd/task-9", "main")
    own = new_commit(sample_repo, "g.txt", "agentd: fix\n\nAgentd-Task: 9")
    task_id, _ = store.enqueue(TaskRequested(repo="r", description="d", base_ref="main", request_id="x"), "d", None)
    store.update_task(task_id, commit_sha=own, branch="agentd/task-9")  # what agentd records when it publishes
    git(sample_repo, "checkout", "-q", "main")
    git(sample_repo, "merge", "-q", "--ff-only", "agentd/task-9")
    assert watch.scan() == []


def test_a_strangers_commit_with_agentds_trailer_is_reviewed(sample_repo: Path, tmp_path: Path) -> None:
    """A commit whose message carries `Agentd-Task:` but that agentd never recorded makes a job like any other."""
    watch, _ = watcher(sample_repo, tmp_path)
    watch.scan()
    forged = new_commit(sample_repo, "h.txt", "agentd: fix\n\nAgentd-Task: 9")
    (task_id,) = watch.scan()
    assert task_id > 0
    assert forged


def test_watcher_sees_a_commit_within_a_second(sample_repo: Path, tmp_path: Path) -> None:
    """With the file watcher running (rescan every 60 s), a commit becomes a job long before any rescan.

    The latency itself is measured by bench/trigger_latency.py, not asserted here.
    """
    watch, store = watcher(sample_repo, tmp_path)
    stop = threading.Event()
    thread = threading.Thread(target=watch.run, args=(stop,), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while store.branch_head(str(sample_repo), "main") is None and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.2)
        sha = new_commit(sample_repo, "late.txt")
        committed = time.monotonic()
        while not store.list_tasks() and time.monotonic() - committed < 5:
            time.sleep(0.01)
        seen_after = time.monotonic() - committed
        assert [t.event.sha for t in store.list_tasks()] == [sha]  # type: ignore[union-attr]
        assert seen_after < 5.0  # the rescan is 60 s away: only the watcher can have seen it
    finally:
        stop.set()
        watch.stop()
        thread.join(timeout=10)


def test_an_idle_watcher_does_not_wake_itself(sample_repo: Path, tmp_path: Path) -> None:
    """With nothing committed the watcher scans once in three seconds: its own fetch reading the refs never wakes it.

    It woke on its fetch's file opens before, and fetched about seventeen times a second forever.
    """
    watch, _store = watcher(sample_repo, tmp_path)
    scans = []
    scan = watch.scan
    watch.scan = lambda: scans.append(time.monotonic()) or scan()  # type: ignore[method-assign,func-returns-value]
    stop = threading.Event()
    thread = threading.Thread(target=watch.run, args=(stop,), daemon=True)
    thread.start()
    try:
        time.sleep(3)
    finally:
        stop.set()
        watch.stop()
        thread.join(timeout=10)
    assert len(scans) == 1
