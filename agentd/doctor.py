"""`agentd doctor`: each prerequisite checked, OK or a fix to apply."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agentd.config import Config
from agentd.kernel.errors import AgentdError

if TYPE_CHECKING:
    import docker


@dataclass(frozen=True)
class Check:
    """One check's outcome; `detail` is the fix when it failed."""

    name: str
    ok: bool
    detail: str


def _docker(config: Config) -> list[Check]:
    try:
        import docker  # noqa: PLC0415

        client = docker.from_env(timeout=5)
        version = client.version().get("Version", "?")
    except Exception as exc:  # noqa: BLE001 - any failure here means the same fix
        fix = "start it: `sudo systemctl start docker`, or `sudo dockerd &` (or run `make setup`)"
        return [Check("docker engine", False, f"not answering ({type(exc).__name__}); {fix}")]
    checks = [Check("docker engine", True, f"version {version}")]
    try:
        client.images.get(config.sandbox.image)
        checks.append(Check("sandbox image", True, config.sandbox.image))
    except Exception:  # noqa: BLE001
        checks.append(Check("sandbox image", False, f"{config.sandbox.image} missing; run `agentd sandbox build`"))
    checks.append(_sandbox_network(config, client))
    return checks


def _sandbox_network(config: Config, client: docker.DockerClient) -> Check:
    from agentd.app import sandbox_config  # noqa: PLC0415
    from agentd.kernel.policy import load_policy  # noqa: PLC0415
    from sandbox.network import check_network  # noqa: PLC0415

    try:
        network = sandbox_config(config, load_policy(config.policy.file)).network
        check_network(client, network)
    except AgentdError as exc:
        return Check("sandbox network", False, str(exc))
    return Check("sandbox network", True, network or "none (no network)")


def _git(config: Config) -> Check:
    from agentd.repo.mirror import check_repository  # noqa: PLC0415

    if shutil.which("git") is None:
        return Check("git", False, "git is not installed; `apt-get install git`")
    assert config.repository.path is not None
    try:
        check_repository(config.repository.path)
    except AgentdError as exc:
        return Check("repository", False, str(exc))
    return Check("repository", True, str(config.repository.path))


def _models(config: Config, env: Mapping[str, str]) -> list[Check]:
    checks = []
    for name, model in config.models.items():
        if model.provider == "scripted":
            checks.append(Check(f"model {name}", True, f"scripted ({model.script or 'default script'})"))
        elif model.api_key_env and not env.get(model.api_key_env):
            checks.append(Check(f"model {name}", False, f"export {model.api_key_env} with the API key"))
        else:
            where = model.base_url or f"{model.provider} API"
            checks.append(Check(f"model {name}", True, f"{model.provider}:{model.model} at {where}"))
    return checks


def _database(config: Config, env: Mapping[str, str]) -> Check:
    name = config.target_database.dsn_env
    if not name:
        return Check("target database", True, "none configured (query_database disabled)")
    dsn = env.get(name)
    if not dsn:
        return Check("target database", False, f"export {name} with the database DSN")
    try:
        import psycopg  # noqa: PLC0415

        with psycopg.connect(dsn, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001
        return Check("target database", False, f"cannot connect ({type(exc).__name__}); check {name}")
    return Check("target database", True, "connected")


def run_checks(config: Config, env: Mapping[str, str]) -> list[Check]:
    """Every check, in the order a user would fix them."""
    steps: list[Callable[[], list[Check]]] = [
        lambda: _docker(config),
        lambda: [_git(config)],
        lambda: _models(config, env),
        lambda: [_database(config, env)],
    ]
    return [check for step in steps for check in step()]
