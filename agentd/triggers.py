"""Commit trigger: new commits on the watched branches of a local repository become jobs.

A watchdog observer on the repository's refs wakes the scanner within a second of a commit; a
periodic rescan is the safety net. Each commit is enqueued once (its idempotency key is
`commit:<sha>`), also across restarts, because the last seen head of each branch is stored.
"""

from __future__ import annotations

import threading
from pathlib import Path

import structlog
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from agentd.config import Config
from agentd.events import CommitPushed
from agentd.gitops import Mirror, run_git
from agentd.store import Store

log = structlog.get_logger("agentd.triggers")
OWN_TRAILER = "Agentd-Task:"


class _Wake(FileSystemEventHandler):
    def __init__(self, wake: threading.Event) -> None:
        self.wake = wake

    def on_any_event(self, event: FileSystemEvent) -> None:
        path = str(event.src_path) + " " + str(getattr(event, "dest_path", ""))
        if "refs" in path or "packed-refs" in path or "HEAD" in path:
            self.wake.set()


class CommitWatcher:
    """Turns new commits on watched branches into CommitPushed jobs."""

    def __init__(self, config: Config, store: Store, mirror: Mirror) -> None:
        assert config.repository.path is not None
        self.config = config
        self.store = store
        self.mirror = mirror
        self.repo = str(config.repository.path)
        self.wake = threading.Event()

    def scan(self) -> list[int]:
        """Fetch, compare each watched branch with its last seen head, enqueue new commits; returns task ids."""
        self.mirror.fetch()
        created: list[int] = []
        for branch in self.config.repository.watch_branches:
            head = self.mirror.head(branch)
            if head is None:
                continue
            seen = self.store.branch_head(self.repo, branch)
            if seen is None:
                log.info("watching branch", branch=branch, head=head[:12])
            elif seen != head:
                created += self._enqueue_range(branch, seen, head)
            self.store.set_branch_head(self.repo, branch, head)
        return created

    def _enqueue_range(self, branch: str, seen: str, head: str) -> list[int]:
        limit = self.config.daemon.max_commits_per_scan
        created = []
        for sha in self.mirror.first_parent_commits(seen, head, limit):
            message = self.mirror.commit_message(sha)
            if OWN_TRAILER in message:
                continue  # agentd never reacts to its own commits
            subject = message.splitlines()[0] if message else ""
            event = CommitPushed(repo=self.repo, branch=branch, sha=sha, parent_sha=self.mirror.parent(sha))
            task_id, new = self.store.enqueue(event, f"Commit {sha[:7]} on {branch}: {subject}", sha)
            if new:
                log.info("commit enqueued", branch=branch, commit=sha[:12], task=task_id)
                created.append(task_id)
        return created

    def _git_dir(self) -> Path:
        root = Path(self.repo)
        return (root / run_git(root, "rev-parse", "--git-dir")).resolve()

    def run(self, stop: threading.Event) -> None:
        """Scan on every ref change and every rescan interval until `stop` is set."""
        git_dir = self._git_dir()
        observer = Observer()
        handler = _Wake(self.wake)
        observer.schedule(handler, str(git_dir), recursive=False)
        if (git_dir / "refs" / "heads").is_dir():
            observer.schedule(handler, str(git_dir / "refs" / "heads"), recursive=True)
        observer.start()
        try:
            while not stop.is_set():
                self.wake.clear()
                try:
                    self.scan()
                except Exception:
                    log.exception("scan failed")
                self.wake.wait(self.config.daemon.rescan_interval_s)
        finally:
            observer.stop()
            observer.join(timeout=5)

    def stop(self) -> None:
        """Wake the loop so it sees the stop flag."""
        self.wake.set()
