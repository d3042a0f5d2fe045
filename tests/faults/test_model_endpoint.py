"""A model endpoint that hangs, truncates its answer or sends a body that is not JSON, during a real job."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest

from agentd.store import open_store
from tests.conftest import git
from tests.engine.test_debate_protocols import DEMO, ballot, setup
from tests.support.daemons import agentd, queue_task, wait_until

pytestmark = pytest.mark.docker


def test_a_hanging_truncating_and_garbling_endpoint_is_retried_or_dropped_and_reported(
    tmp_path: Path, sample_repo: Path, sandbox_image: str
) -> None:
    """Transient faults are retried; a critic whose endpoint never answers is dropped and named in the report."""
    script: dict[str, Any] = {
        **DEMO,
        "proposer": [{"fault": "truncated"}, *DEMO["proposer"]],  # cut off once, then the first step
        "critic@vote": [{"fault": "hang"}, {"fault": "hang"}, *ballot("proposer-1")],  # silent for both attempts
        "judge@vote": [{"fault": "malformed_json"}, *ballot("proposer-1")],  # garbage once, then the ballot
    }
    config = setup(tmp_path, sample_repo, script, '[debate]\nprotocol = "vote"\nproposers = 1\n')
    config.write_text(config.read_text().replace('model = "m"\n', 'model = "m"\ntimeout_s = 2\nmax_retries = 1\n'))
    task_id = queue_task(config, "fix TestTotal")
    store = open_store(f"sqlite:///{tmp_path / 'state' / 'agentd.db'}")
    daemon = agentd(["run"], config)
    try:
        wait_until(lambda: bool((task := store.get_task(task_id)) and task.done), 240, "the task to end")
        alive = daemon.poll() is None
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=60)
    task = store.get_task(task_id)
    assert alive
    assert task is not None and task.status == "fixed", task.summary if task else None
    turns = {t.agent: t.status for t in store.task_record(task_id).sessions[0].turns}
    assert turns == {"proposer-1": "done", "critic": "failed", "judge": "done"}
    report = (tmp_path / "state" / "reports" / f"task-{task_id}.md").read_text()
    assert "### Problems" in report
    assert "critic" in report and "did not answer within timeout_s" in report
    assert len(git(sample_repo, "rev-list", f"main..agentd/task-{task_id}").split()) == 1
