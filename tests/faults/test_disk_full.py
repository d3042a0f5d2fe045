"""The state directory's disk fills up mid-job (a small tmpfs, filled by the test) and is freed again."""

from __future__ import annotations

import contextlib
import errno
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentd.store import open_store
from tests.conftest import git
from tests.engine.test_debate_protocols import DEMO, setup
from tests.faults.test_store_restart import free_port, healthz
from tests.support.daemons import agentd, queue_task, wait_until

pytestmark = pytest.mark.docker


@contextlib.contextmanager
def small_disk(path: Path, size_mb: int) -> Iterator[Path]:
    """A tmpfs of `size_mb` mounted at `path` (root only; skipped where mounting is not allowed)."""
    path.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(path)], capture_output=True, check=False
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "--lazy", str(path)], check=False)


def fill(disk: Path) -> Path:
    """Write a file until the disk is full; the file, to delete to free the disk."""
    filler = disk / "filler"
    chunk = b"\0" * (1 << 20)
    with filler.open("wb", buffering=0) as handle:
        while True:
            try:
                handle.write(chunk)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                break
    with contextlib.suppress(OSError), filler.open("ab", buffering=0) as handle:
        while handle.write(b"\0" * 512):  # the last blocks too
            pass
    return filler


def test_a_full_state_disk_mid_job_turns_healthz_503_and_the_job_ends_fixed_once_freed(
    tmp_path: Path, sample_repo: Path, sandbox_image: str
) -> None:
    """With the state directory's disk full the daemon lives, says so on /healthz, and finishes the job once freed."""
    port = free_port()
    with small_disk(tmp_path / "disk", 96) as disk:
        slow = {**DEMO, "critic": [{"delay_s": 1.0, **step} for step in DEMO["critic"]]}
        extra = f'[debate]\nprotocol = "vote"\nproposers = 1\n[api]\nlisten = "127.0.0.1:{port}"\n'
        config = setup(tmp_path, sample_repo, slow, extra)
        config.write_text(
            config.read_text()
            .replace(f'state_dir = "{tmp_path / "state"}"', f'state_dir = "{disk / "state"}"')
            .replace("lease_s = 6\n", "lease_s = 6\nunhealthy_after_s = 4\nretry_backoff_s = 1\nmin_free_mb = 16\n")
        )
        task_id = queue_task(config, "fix TestTotal")
        store = open_store(f"sqlite:///{disk / 'state' / 'agentd.db'}")
        daemon = agentd(["run"], config, {"AGENTD_API_TOKEN": "t"}, output=tmp_path / "agentd.out")
        try:
            wait_until(lambda: bool(store.task_record(task_id).versions), 120, "the baseline test run")
            filler = fill(disk)
            wait_until(lambda: healthz(port)[0] == 503, 60, "/healthz to turn 503")
            problems = healthz(port)[1]["problems"]
            filler.unlink()
            wait_until(lambda: healthz(port)[0] == 200, 90, "/healthz back to 200")
            wait_until(lambda: store.get_task(task_id).done, 300, "the task to end")  # type: ignore[union-attr]
            alive = daemon.poll() is None
            task = store.get_task(task_id)
            record = store.task_record(task_id)
            report = (disk / "state" / "reports" / f"task-{task_id}.md").read_text()
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=60)
            store.close()
    assert alive
    assert any("full" in problem for problem in problems), problems
    assert task is not None and task.status == "fixed", task.summary if task else None
    assert record.job is not None and record.job.attempts >= 2
    assert "### Attempts" in report
    assert len(git(sample_repo, "rev-list", f"main..agentd/task-{task_id}").split()) == 1
