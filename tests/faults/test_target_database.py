"""The project's database (query_database's target) gone during a job: the tool answers an error, the job goes on."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest

from agentd.store import open_store
from tests.engine.test_debate_protocols import DEMO, setup
from tests.support.daemons import agentd, queue_task, wait_until
from tests.support.postgres import restartable_cluster

pytestmark = [pytest.mark.docker, pytest.mark.postgres]


def test_a_stopped_target_database_is_an_error_answer_and_the_job_still_ends_fixed(
    tmp_path: Path, sample_repo: Path, sandbox_image: str
) -> None:
    """query_database on a stopped PostgreSQL answers the model an error (no password in it); the job ends fixed."""
    ask: dict[str, Any] = {"tool_calls": [{"name": "query_database", "arguments": {"sql": "SELECT count(*) FROM t"}}]}
    script = {**DEMO, "proposer": [ask, *DEMO["proposer"]]}
    extra = '[debate]\nprotocol = "vote"\nproposers = 1\n[target_database]\ndsn_env = "APP_DATABASE_URL"\n'
    config = setup(tmp_path, sample_repo, script, extra)
    with restartable_cluster() as (dsn, cluster):
        cluster.stop()  # the project's database went away
        env = {"APP_DATABASE_URL": dsn}
        task_id = queue_task(config, "fix TestTotal", env)
        store = open_store(f"sqlite:///{tmp_path / 'state' / 'agentd.db'}")
        daemon = agentd(["run"], config, env)
        try:
            wait_until(lambda: store.get_task(task_id).done, 180, "the task to end")  # type: ignore[union-attr]
            alive = daemon.poll() is None
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=60)
        password = dsn.rsplit("password=", 1)[1]
    task = store.get_task(task_id)
    assert alive
    assert task is not None and task.status == "fixed", task.summary if task else None
    calls = [c for s in store.task_record(task_id).sessions for c in s.tool_calls if c.tool == "query_database"]
    assert len(calls) == 1 and not calls[0].ok
    error = str(calls[0].output)
    assert "connect" in error.lower()
    assert password not in error
