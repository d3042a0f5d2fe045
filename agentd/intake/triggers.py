"""Ref trigger: new commits on watched branches, and new pull-request heads, become jobs.

For a local clone a watchdog observer on its refs wakes the scanner within a second of a commit,
and a periodic rescan is the safety net; a remote is polled every `poll_interval_s`. Each commit
is enqueued once (key `commit:<sha>`) and each PR head once (key `pr:<n>:<sha>`), also across
restarts, because the last seen head of each branch and PR is stored.
"""

from __future__ import annotations

import threading
from pathlib import Path

import structlog
from watchdog.events import (
    EVENT_TYPE_CLOSED_NO_WRITE,
    EVENT_TYPE_OPENED,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver

from agentd.kernel.events import CommitPushed, PullRequestUpdated
from agentd.repo.config import RepositoryConfig
from agentd.repo.mirror import Mirror, run_git
from agentd.service.config import DaemonConfig
from agentd.store.base import Store

log = structlog.get_logger("agentd.intake.triggers")


# A scan's own fetch opens the refs it reads; waking on that would make the scanner wake itself forever.
_READ_ONLY_EVENTS = frozenset({EVENT_TYPE_OPENED, EVENT_TYPE_CLOSED_NO_WRITE})


class _Wake(FileSystemEventHandler):
    def __init__(self, wake: threading.Event) -> None:
        self.wake = wake

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in _READ_ONLY_EVENTS:
            return
        path = str(event.src_path) + " " + str(getattr(event, "dest_path", ""))
        if "refs" in path or "packed-refs" in path or "HEAD" in path:
            self.wake.set()


class RefWatcher:
    """Turns new commits on watched branches into CommitPushed jobs and new PR heads into PullRequestUpdated."""

    def __init__(self, repository: RepositoryConfig, daemon: DaemonConfig, store: Store, mirror: Mirror) -> None:
        self.repository = repository
        self.daemon = daemon
        self.store = store
        self.mirror = mirror
        self.repo = repository.source
        self.wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def scan(self) -> list[int]:
        """Fetch, compare branch and PR heads with the last seen ones, enqueue what is new; returns task ids."""
        self.mirror.fetch()
        first_run = all(self.store.branch_head(self.repo, b) is None for b in self.repository.watch_branches)
        created = self._scan_branches()
        if self.repository.pull_requests:
            created += self._scan_pull_requests(first_run)
        return created

    def _scan_pull_requests(self, first_run: bool) -> list[int]:
        created = []
        for number, head in sorted(self.mirror.pull_heads().items()):
            key = f"pull/{number}"
            if self.store.branch_head(self.repo, key) == head:
                continue
            if not first_run and not self.store.made_by_agentd(head):
                base = self.repository.default_branch
                event = PullRequestUpdated(repo=self.repo, number=number, head_sha=head, base_branch=base)
                # the forge's current head: it gets a job even if an out-of-order delivery superseded it
                task_id, new = self.store.enqueue(event, f"PR #{number} head {head[:7]} -> {base}", head, revive=True)
                if new:
                    log.info("pull request enqueued", pr=number, head=head[:12], task=task_id)
                    created.append(task_id)
            self.store.set_branch_head(self.repo, key, head)
        return created

    def _scan_branches(self) -> list[int]:
        created: list[int] = []
        for branch in self.repository.watch_branches:
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
        limit = self.daemon.max_commits_per_scan
        created = []
        for sha in self.mirror.first_parent_commits(seen, head, limit):
            if self.store.made_by_agentd(sha):
                continue  # agentd never reacts to its own commits (by what it recorded, not what a message says)
            message = self.mirror.commit_message(sha)
            subject = message.splitlines()[0] if message else ""
            event = CommitPushed(repo=self.repo, branch=branch, sha=sha, parent_sha=self.mirror.parent(sha))
            task_id, new = self.store.enqueue(event, f"Commit {sha[:7]} on {branch}: {subject}", sha)
            if new:
                log.info("commit enqueued", branch=branch, commit=sha[:12], task=task_id)
                created.append(task_id)
        return created

    def _git_dir(self) -> Path | None:
        if not self.mirror.is_local and not self.repo.endswith(".git"):
            return None  # a remote URL: polled, not watched
        root = Path(self.repo)
        if not root.is_dir():
            return None
        return (root / run_git(root, "rev-parse", "--git-dir")).resolve()

    def _observe(self) -> BaseObserver | None:
        git_dir = self._git_dir()
        if git_dir is None:
            return None
        observer = Observer()
        handler = _Wake(self.wake)
        observer.schedule(handler, str(git_dir), recursive=False)
        for refs in ("refs/heads", "refs/pull", "refs/merge-requests"):
            if (git_dir / refs).is_dir():
                observer.schedule(handler, str(git_dir / refs), recursive=True)
        observer.start()
        return observer

    def run(self, stop: threading.Event) -> None:
        """Scan on every ref change (a repository on this machine) and every rescan/poll interval, until `stop`."""
        observer = self._observe()
        interval = self.repository.poll_interval_s
        if observer is not None and self.mirror.is_local:
            interval = self.daemon.rescan_interval_s
        try:
            while not stop.is_set():
                self.wake.clear()
                try:
                    self.scan()
                except Exception:
                    log.exception("scan failed")
                self.wake.wait(interval)
        finally:
            if observer is not None:
                observer.stop()
                observer.join(timeout=5)

    def start(self) -> None:
        """Watch on a thread of its own until `stop`."""
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, args=(self._stop,), name="trigger", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the loop started by `start` (or wake one run elsewhere so it sees its stop flag)."""
        self._stop.set()
        self.wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
