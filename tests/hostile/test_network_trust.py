"""`sandbox.network` that would give the host away (issue 12, finding 8), against a real Docker engine.

Each case names a network a sandbox must never join; agentd refuses it at start, in `agentd
doctor` and when opening a sandbox, and by state no sandbox container exists afterwards.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
from pydantic import ValidationError

from agentd.config import parse_config
from agentd.doctor import run_checks
from agentd.kernel.errors import SandboxError
from sandbox.config import SandboxConfig
from sandbox.docker import MANAGED_LABEL, RUN_DIR_LABEL, DockerSandboxFactory

pytestmark = pytest.mark.docker

ENGINE_SOCKET = "/var/run/docker.sock"


@pytest.fixture
def network(docker_client: docker.DockerClient) -> Iterator[str]:
    """A fresh internal network, removed with whatever containers joined it."""
    name = f"agentd-trust-{secrets.token_hex(3)}"
    created = docker_client.networks.create(name, internal=True)
    try:
        yield name
    finally:
        created.reload()
        for container_id in created.attrs.get("Containers") or {}:
            docker_client.api.remove_container(container_id, force=True)
        created.remove()


def neighbour(client: docker.DockerClient, image: str, network: str, **options: Any) -> str:
    """Start a sleeping container on `network`; options as for `api.create_container`; its id."""
    host_config = client.api.create_host_config(network_mode=network, binds=options.pop("binds", None))
    created = client.api.create_container(
        image, ["sleep", "600"], host_config=host_config, labels={"agentd.test": "trust"}, **options
    )
    client.api.start(created["Id"])
    return str(created["Id"])


def sandboxes_of(client: docker.DockerClient, run_dir: Path) -> list[str]:
    """The sandbox containers a factory with this run directory started (running or not)."""
    containers = client.containers.list(all=True, filters={"label": f"{MANAGED_LABEL}=1"})
    return [c.name for c in containers if Path(c.labels.get(RUN_DIR_LABEL, "/")).parent == run_dir]


def assert_refused(client: docker.DockerClient, tmp_path: Path, name: str, words: str) -> None:
    """Opening a sandbox on network `name` raises the reason with the fix, and no sandbox container exists."""
    workspace, run_dir = tmp_path / "ws", tmp_path / "run"
    workspace.mkdir(exist_ok=True)
    config = SandboxConfig().model_copy(update={"network": name})  # as the policy's network arrives (unvalidated)
    factory = DockerSandboxFactory(config, run_dir, client)
    with pytest.raises(SandboxError, match=words) as refused:
        factory.open(workspace, "net").close()
    assert "internal network" in str(refused.value)  # the fix
    assert sandboxes_of(client, run_dir) == []
    with pytest.raises(SandboxError, match=words):
        factory.check_network()  # what agentd runs at start


@pytest.mark.parametrize("name", ["host", "container:{id}"])
def test_host_and_container_modes_are_refused(
    docker_client: docker.DockerClient, sandbox_image: str, network: str, tmp_path: Path, name: str
) -> None:
    """'host' and 'container:<id>' are refused by the config and by the factory; no sandbox starts."""
    name = name.format(id=neighbour(docker_client, sandbox_image, network))
    with pytest.raises(ValidationError, match="refused"):
        SandboxConfig(network=name)
    assert_refused(docker_client, tmp_path, name, "refused")


def test_the_host_network_by_id_is_refused(docker_client: docker.DockerClient, tmp_path: Path) -> None:
    """The host network named by its id (which the name check cannot see) is refused by its driver."""
    host_id = docker_client.networks.get("host").id
    assert_refused(docker_client, tmp_path, host_id, "driver 'host'")


@pytest.mark.parametrize(
    "options",
    [
        {"binds": [f"{ENGINE_SOCKET}:/var/run/docker.sock:ro"]},
        {"binds": ["/var/run:/host-run:ro"]},
        {"ports": [2375]},
    ],
    ids=["socket-mounted", "socket-dir-mounted", "engine-port"],
)
def test_a_network_where_the_engine_answers_is_refused(
    docker_client: docker.DockerClient,
    sandbox_image: str,
    network: str,
    tmp_path: Path,
    options: dict[str, Any],
) -> None:
    """A network holding a container with the engine's socket, or one listening on 2375, is refused."""
    if options.get("binds"):
        assert Path(ENGINE_SOCKET).is_socket()
    neighbour(docker_client, sandbox_image, network, **options)
    assert_refused(docker_client, tmp_path, network, "engine")


def test_a_network_with_a_socket_proxy_image_is_refused(
    docker_client: docker.DockerClient, sandbox_image: str, network: str, tmp_path: Path
) -> None:
    """A container running a known Docker socket proxy image on the network gets it refused."""
    proxy = "tecnativa/docker-socket-proxy:agentd-trust-test"
    docker_client.images.get(sandbox_image).tag(proxy)
    try:
        neighbour(docker_client, proxy, network)
        assert_refused(docker_client, tmp_path, network, "socket proxy")
    finally:
        docker_client.images.remove(proxy, noprune=True)


def test_a_clean_internal_network_is_joined(
    docker_client: docker.DockerClient, sandbox_image: str, network: str, tmp_path: Path
) -> None:
    """An internal network holding only an ordinary container (say, the database) is accepted."""
    neighbour(docker_client, sandbox_image, network)
    (tmp_path / "ws").mkdir()
    factory = DockerSandboxFactory(SandboxConfig(network=network), tmp_path / "run", docker_client)
    with factory.open(tmp_path / "ws", "net") as sandbox:
        assert sandbox.run(["true"]).ok
        attrs = docker_client.containers.get(sandbox.container_id).attrs
        assert set(attrs["NetworkSettings"]["Networks"]) == {network}


def test_doctor_names_the_unsafe_network(
    docker_client: docker.DockerClient, sandbox_image: str, network: str, tmp_path: Path
) -> None:
    """`agentd doctor` fails its sandbox-network check with the reason when the network holds the engine's socket."""
    neighbour(docker_client, sandbox_image, network, binds=[f"{ENGINE_SOCKET}:/var/run/docker.sock:ro"])
    text = f'[repository]\npath = "{tmp_path}"\n[models.default]\nprovider = "scripted"\nmodel = "m"\n'
    config = parse_config(f'{text}[sandbox]\nimage = "{sandbox_image}"\nnetwork = "{network}"\n', env={})
    checks = {check.name: check for check in run_checks(config, {})}
    assert not checks["sandbox network"].ok
    assert "docker.sock" in checks["sandbox network"].detail
