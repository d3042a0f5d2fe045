"""`sandbox.network`: the one Docker network a sandbox may join, refused when joining it would give the host away.

A sandbox that shares the host's network, another container's network, or a network on which a
Docker engine answers (its socket mounted into a container, a socket proxy, the TCP ports 2375 and
2376) can start a privileged container and own the host, so such a network is refused at start,
by `agentd doctor` and whenever a sandbox is opened (containers join networks later, too).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from agentd.kernel.errors import SandboxError

if TYPE_CHECKING:  # docker loads only where a sandbox is opened, not with the config
    import docker

ENGINE_SOCKETS = frozenset({"docker.sock", "containerd.sock", "podman.sock", "dockershim.sock", "cri-dockerd.sock"})
SOCKET_DIRS = frozenset({"/", "/run", "/var", "/var/run", "/run/docker", "/var/run/docker", "/run/containerd"})
ENGINE_PORTS = frozenset({"2375/tcp", "2376/tcp"})
PROXY_IMAGE_WORDS = ("socket-proxy", "socketproxy", "docker-proxy", "dockerproxy")
FIX = "name an internal network that holds only what the sandbox needs (the target database), or none"


def mode_refusal(name: str) -> str | None:
    """Why a network name can never be a sandbox's network (without asking Docker), or None."""
    if name == "host":
        return "'host' shares the host's network stack (every host port, the engine's TCP socket)"
    if name.startswith("container:"):
        return "'container:…' joins another container's network namespace"
    return None


def _mount_refusal(mount: Mapping[str, Any]) -> str | None:
    for key in ("Source", "Destination"):
        path = PurePosixPath(str(mount.get(key) or "/nonexistent"))
        if path.name in ENGINE_SOCKETS or str(path) in SOCKET_DIRS:
            return f"mounts {path} (a container engine's socket)"
    return None


def container_refusal(attrs: Mapping[str, Any]) -> str | None:
    """Why a container (its `docker inspect`) exposes a container engine to its network, or None."""
    for mount in attrs.get("Mounts") or []:
        if why := _mount_refusal(mount):
            return why
    config = attrs.get("Config") or {}
    image = str(config.get("Image") or "").lower()
    if any(word in image for word in PROXY_IMAGE_WORDS):
        return f"runs {image}, a Docker socket proxy"
    ports = set(config.get("ExposedPorts") or {}) | set((attrs.get("NetworkSettings") or {}).get("Ports") or {})
    if engine := sorted(ports & ENGINE_PORTS):
        return f"listens on {', '.join(engine)} (the Docker engine's API ports)"
    return None


def network_refusals(network: Mapping[str, Any], containers: Iterable[Mapping[str, Any]]) -> list[str]:
    """Every reason a network (its `docker network inspect`) and the containers on it make it unsafe."""
    reasons = []
    if network.get("Driver") == "host":
        reasons.append("it is the host's network (driver 'host')")
    for attrs in containers:
        if why := container_refusal(attrs):
            name = str(attrs.get("Name") or attrs.get("Id", "?")[:12]).lstrip("/")
            reasons.append(f"container {name} {why}")
    return reasons


def check_network(client: docker.DockerClient, name: str | None) -> None:
    """Raise SandboxError naming the fix when sandbox.network is not a network a sandbox may join."""
    import docker.errors  # noqa: PLC0415 - see TYPE_CHECKING above

    if name is None or name == "none":
        return
    setting = f"sandbox.network = {name!r}"
    if why := mode_refusal(name):
        raise SandboxError(f"{setting}: refused: {why}; {FIX}")
    try:
        network = client.networks.get(name).attrs
        containers = [client.api.inspect_container(cid) for cid in network.get("Containers") or {}]
    except docker.errors.NotFound as exc:
        raise SandboxError(
            f"{setting}: no such Docker network (or a container on it vanished); create it with "
            f"`docker network create --internal {name}` or fix the setting"
        ) from exc
    except docker.errors.DockerException as exc:
        raise SandboxError(f"{setting}: cannot inspect the network: {exc}") from exc
    if reasons := network_refusals(network, containers):
        raise SandboxError(f"{setting}: refused: {'; '.join(reasons)}; {FIX}")
