"""The one network a policy may name: sandboxes join it, and nothing else, only when it is named."""

from __future__ import annotations

import secrets
from pathlib import Path

import docker
import pytest

from agentd.app import sandbox_config
from agentd.config import parse_config
from agentd.kernel.policy import Policy
from sandbox.config import SandboxConfig
from sandbox.docker import DockerSandboxFactory

pytestmark = pytest.mark.docker


def test_policy_adds_network_and_environment_names() -> None:
    """The policy's sandbox_network and sandbox_env reach the sandbox settings; defaults stay closed."""
    config = parse_config('[repository]\npath = "/r"\n[models.default]\nprovider = "scripted"\nmodel = "m"\n', env={})
    closed = sandbox_config(config, Policy())
    assert closed.network is None
    assert closed.env_allowlist == []
    opened = sandbox_config(config, Policy(sandbox_network="db-net", sandbox_env=["PGHOST"]))
    assert opened.network == "db-net"
    assert opened.env_allowlist == ["PGHOST"]


def test_named_network_is_the_only_one_joined(
    tmp_path: Path, docker_client: docker.DockerClient, sandbox_image: str
) -> None:
    """With a network named, the container is on that internal network alone; without, on none."""
    name = f"agentd-test-{secrets.token_hex(3)}"
    network = docker_client.networks.create(name, internal=True)
    workspace = tmp_path / "ws"
    workspace.mkdir()
    try:
        factory = DockerSandboxFactory(SandboxConfig(network=name), tmp_path / "run", docker_client)
        with factory.open(workspace, "net") as sandbox:
            attrs = docker_client.containers.get(sandbox.container_id).attrs
            assert attrs["HostConfig"]["NetworkMode"] == name
            assert set(attrs["NetworkSettings"]["Networks"]) == {name}
        plain = DockerSandboxFactory(SandboxConfig(), tmp_path / "run2", docker_client)
        with plain.open(workspace, "none") as sandbox:
            attrs = docker_client.containers.get(sandbox.container_id).attrs
            assert attrs["HostConfig"]["NetworkMode"] == "none"
    finally:
        network.remove()
