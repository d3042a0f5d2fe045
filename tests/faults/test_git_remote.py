"""The git remote unreachable while agentd fetches, and while it pushes (its path taken away, then put back)."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from agentd.demo import BROKEN_CART_GO
from agentd.store import open_store
from tests.conftest import git
from tests.support.daemons import REVIEWED_QUICKLY, agentd, queue_task, wait_until, write_config
from tests.test_pull_requests import forge

pytestmark = pytest.mark.docker


def remote_behind_a_link(sample_repo: Path, tmp_path: Path) -> tuple[Path, Path, Path]:
    """(the forge's bare repository, a link agentd reaches it by, a developer's clone); removing the link cuts it off.

    agentd is given the link as a file:// URL, so it treats it as any remote: fetched and pushed, never checked
    as a local path.
    """
    remote, dev = forge(sample_repo, tmp_path)
    link = tmp_path / "remote-link.git"
    link.symlink_to(remote)
    return remote, link, dev


def commit_and_push(dev: Path, remote: Path, name: str, text: str, message: str) -> str:
    """Commit a file on main in the developer's clone and push it straight to the forge; the sha."""
    (dev / name).parent.mkdir(parents=True, exist_ok=True)
    (dev / name).write_text(text)
    git(dev, "add", name)
    git(dev, "commit", "-qm", message)
    git(dev, "push", "-q", str(remote), "HEAD:main")
    return git(dev, "rev-parse", "HEAD")


def test_a_commit_pushed_while_the_remote_is_unreachable_is_reviewed_once_it_is_back(
    sample_repo: Path, tmp_path: Path, sandbox_image: str
) -> None:
    """Fetches fail while the remote is away; the daemon lives on, and the commit made meanwhile gets its job."""
    remote, link, dev = remote_behind_a_link(sample_repo, tmp_path)
    config = write_config(tmp_path, f'url = "file://{link}"\npoll_interval_s = 0.3\npush = true', REVIEWED_QUICKLY)
    store = open_store(f"sqlite:///{tmp_path / 'state' / 'agentd.db'}")
    daemon = agentd(["run"], config, output=tmp_path / "agentd.out")
    try:
        wait_until(lambda: store.branch_head(f"file://{link}", "main") is not None, 60, "the first fetch")
        link.unlink()
        sha = commit_and_push(dev, remote, "docs/away.md", "written while agentd could not reach us\n", "docs: away")
        wait_until(lambda: "scan failed" in (tmp_path / "agentd.out").read_text(), 30, "a failed fetch")
        assert store.list_tasks() == []
        link.symlink_to(remote)
        wait_until(lambda: any(t.done for t in store.list_tasks()), 180, "the commit's review")
        alive = daemon.poll() is None
        tasks = store.list_tasks()
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=60)
    assert alive
    assert [(t.event.key, t.status) for t in tasks] == [(f"commit:{sha}", "reviewed")]


def test_a_push_to_an_unreachable_remote_is_retried_and_publishes_the_gated_commit(
    sample_repo: Path, tmp_path: Path, sandbox_image: str
) -> None:
    """The push fails while the remote is away; the retry publishes the commit the gate passed, with no new debate."""
    from tests.engine.test_debate_protocols import DEMO  # noqa: PLC0415

    remote, link, dev = remote_behind_a_link(sample_repo, tmp_path)
    extra = '[debate]\nprotocol = "vote"\nproposers = 1\n'
    config = write_config(tmp_path, f'url = "file://{link}"\npoll_interval_s = 0.3\npush = true', DEMO, extra)
    config.write_text(config.read_text().replace("lease_s = 6\n", "lease_s = 6\nretry_backoff_s = 3\n"))
    store = open_store(f"sqlite:///{tmp_path / 'state' / 'agentd.db'}")
    daemon = agentd(["run"], config, output=tmp_path / "agentd.out")
    try:
        wait_until(lambda: store.branch_head(f"file://{link}", "main") is not None, 60, "the first fetch")
        sha = commit_and_push(dev, remote, "cart/cart.go", BROKEN_CART_GO, "cart: apply quantities at checkout")
        wait_until(lambda: bool(store.list_tasks()) and bool(store.task_record(1).versions), 120, "the job's start")
        link.unlink()  # the job has fetched; its next contact with the remote is the push
        wait_until(lambda: (store.task_record(1).job.error or "") != "", 180, "the failed push")  # type: ignore[union-attr]
        failed_push = store.task_record(1).job.error  # type: ignore[union-attr]
        link.symlink_to(remote)
        wait_until(lambda: store.get_task(1).done, 120, "the task to end")  # type: ignore[union-attr]
        alive = daemon.poll() is None
        task, record = store.get_task(1), store.task_record(1)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=60)
    assert alive
    assert task is not None and task.status == "fixed", task.summary if task else None
    assert record.job is not None and record.job.attempts == 2
    assert "git push" in (failed_push or "")
    assert len(record.sessions) == 1  # the retry published the gated commit; no second debate
    branch = f"agentd/commit-{sha[:7]}"
    assert git(remote, "rev-parse", branch) == task.commit_sha
    assert git(remote, "rev-list", "--count", f"{sha}..{branch}") == "1"
    report = (tmp_path / "state" / "reports" / f"task-{task.id}.md").read_text()
    assert "### Attempts" in report and "git push" in report


def test_a_job_started_while_the_remote_is_unreachable_works_from_the_clone(
    sample_repo: Path, tmp_path: Path, sandbox_image: str
) -> None:
    """A job whose fetch fails still runs when agentd's clone holds its base: the fetch failure is logged, not fatal."""
    from tests.engine.test_debate_protocols import DEMO  # noqa: PLC0415

    remote, link, dev = remote_behind_a_link(sample_repo, tmp_path)
    commit_and_push(dev, remote, "cart/cart.go", BROKEN_CART_GO, "cart: apply quantities at checkout")
    extra = '[debate]\nprotocol = "vote"\nproposers = 1\n'
    config = write_config(tmp_path, f'url = "file://{link}"\npoll_interval_s = 0.3', DEMO, extra)
    store = open_store(f"sqlite:///{tmp_path / 'state' / 'agentd.db'}")
    first = agentd(["run"], config)
    try:
        wait_until(lambda: store.branch_head(f"file://{link}", "main") is not None, 60, "the first fetch")
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=60)
    link.unlink()
    task_id = queue_task(config, "fix TestTotal")
    daemon = agentd(["run"], config, output=tmp_path / "agentd.out")
    try:
        wait_until(lambda: store.get_task(task_id).done, 180, "the task to end")  # type: ignore[union-attr]
        task = store.get_task(task_id)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=60)
    assert task is not None and task.status == "fixed", task.summary if task else None
    assert "fetch failed; working from agentd's clone" in (tmp_path / "agentd.out").read_text()
