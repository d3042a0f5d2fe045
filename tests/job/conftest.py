"""Shared fixtures of the job tests: a job's lanes over real git and real Docker sandboxes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from agentd.job.lanes import JobLanes
from tests.support.lanes import job_lanes


@pytest.fixture
def lanes(
    sample_repo: Path, tmp_path: Path, docker_client: docker.DockerClient, sandbox_image: str
) -> Iterator[JobLanes]:
    """The lanes of one job over agentd's clone of the sample repository, with real sandboxes."""
    with job_lanes(sample_repo, tmp_path / "state", docker_client) as made:
        yield made
