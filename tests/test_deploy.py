"""The container deployment: the service image is built (offline here) and agentd runs in it on the host's engine."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import time
import zipfile
from pathlib import Path

import docker
import pytest
import yaml
from docker.types import Mount

from deploy.build import (
    AGENTD_UID,
    DOCKERFILE,
    OFFLINE_DOCKERFILE,
    REPO,
    RUNTIME_LOCK,
    TAG,
    build_service_image,
    pip_download_argv,
    wheel_contents,
)
from sandbox.build import VERSION_LABEL
from sandbox.config import SandboxConfig
from sandbox.docker import DockerSandboxFactory
from tests.conftest import git, need
from tests.test_e2e import leftovers

COMPOSE = REPO / "deploy" / "compose.yaml"
COMPOSE_ENV = {"AGENTD_DB_PASSWORD": "test-password", "AGENTD_API_TOKEN": "test-token"}
SHARED_TAIL = "# ---- the image itself"
DEMO_TIMEOUT_S = 420
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", re.MULTILINE)


@pytest.fixture(scope="module")
def service_image(docker_client: docker.DockerClient, sandbox_image: str) -> str:
    """agentd's service image, built from this checkout (offline when no registry answers) unless current."""
    return build_service_image(docker_client, TAG)


def engine_socket() -> Path:
    """The host path of the Docker engine's unix socket, the one agentd's container gets."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    need(host.startswith("unix://"), f"DOCKER_HOST={host} is not a unix socket that could be mounted")
    return Path(host.removeprefix("unix://"))


def run_in_image(client: docker.DockerClient, image: str, entrypoint: str, *args: str) -> str:
    """Run one command in the image (as its own user) and return its output."""
    output = client.containers.run(image, list(args), entrypoint=[entrypoint], remove=True, network_mode="none")
    return bytes(output).decode()


def normalized(name: str) -> str:
    """A distribution name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def tail(dockerfile: Path) -> str:
    """The lines of a Dockerfile from the shared-tail marker on: what the final image is made of."""
    text = dockerfile.read_text()
    assert SHARED_TAIL in text
    return text[text.index(SHARED_TAIL) :].split("\n", 1)[1]


@pytest.mark.docker
def test_demo_runs_in_the_service_image_against_the_host_engine(
    docker_client: docker.DockerClient, service_image: str, tmp_path: Path
) -> None:
    """`agentd demo` in the image as uid 10002, with the host's socket and its dir at the same path, fixes the test."""
    need(os.geteuid() == 0, "handing the demo directory to uid 10002 needs root")
    socket = engine_socket()
    demo = tmp_path / "demo"
    demo.mkdir()
    os.chown(demo, AGENTD_UID, AGENTD_UID)
    container = docker_client.containers.run(
        service_image,
        ["demo", "--json", "--dir", str(demo)],
        name=f"agentd-deploy-test-{secrets.token_hex(4)}",
        init=True,
        group_add=[str(socket.stat().st_gid)],
        mounts=[
            Mount("/var/run/docker.sock", str(socket), type="bind"),
            Mount(str(demo), str(demo), type="bind"),
        ],
        detach=True,
    )
    try:
        status = container.wait(timeout=DEMO_TIMEOUT_S)
        output = bytes(container.logs(stdout=True, stderr=False)).decode()
        errors = bytes(container.logs(stdout=False, stderr=True)).decode()
        left = leftovers(docker_client, demo / "state")
    finally:
        container.remove(force=True)
        DockerSandboxFactory(SandboxConfig(), demo / "state" / "run", docker_client).reap()
    assert status["StatusCode"] == 0, f"{output}\n{errors}"
    result = json.loads(output.strip().splitlines()[-1])
    assert result["tests_passed"] is True
    assert result["branch"].startswith("agentd/commit-")
    # The fix is in the repository on the host, made by uid 10002, and agentd removed its sandboxes.
    assert git(demo / "shop", "-c", "safe.directory=*", "rev-parse", result["branch"]) == result["commit"]
    assert (demo / "state" / "agentd.db").stat().st_uid == AGENTD_UID
    assert left == []
    assert list((demo / "state" / "run").iterdir()) == []


@pytest.mark.docker
def test_service_image_runs_agentd_from_the_locked_venv_as_uid_10002(
    docker_client: docker.DockerClient, service_image: str
) -> None:
    """The image runs `agentd` as 10002 from /opt/agentd/venv, and every package in it is pinned so by the lock."""
    config = docker_client.images.get(service_image).attrs["Config"]
    assert config["User"] == f"{AGENTD_UID}:{AGENTD_UID}"
    assert config["Entrypoint"] == ["agentd"]
    assert config["Cmd"] == ["run"]
    assert re.fullmatch(r"[0-9a-f]{16}", config["Labels"][VERSION_LABEL])
    assert run_in_image(docker_client, service_image, "id", "-u").strip() == str(AGENTD_UID)
    assert "version 0.1.0" in run_in_image(docker_client, service_image, "agentd", "--version")
    assert run_in_image(docker_client, service_image, "git", "--version").startswith("git version")
    listed = json.loads(run_in_image(docker_client, service_image, "/opt/agentd/venv/bin/pip", "list", "--format=json"))
    installed = {normalized(entry["name"]): entry["version"] for entry in listed}
    locked = {normalized(name): version for name, version in PIN.findall(RUNTIME_LOCK.read_text())}
    assert installed.pop("agentd") == "0.1.0"
    for name in ("pip", "setuptools"):  # the venv's own tools, from the base's Python
        installed.pop(name, None)
    assert len(installed) > 20
    assert installed.items() <= locked.items()


@pytest.mark.docker
def test_service_image_build_is_idempotent(docker_client: docker.DockerClient, service_image: str) -> None:
    """A second build with nothing changed builds only the wheel, says the image is up to date and keeps it."""
    lines: list[str] = []
    started = time.monotonic()
    again = build_service_image(docker_client, TAG, log=lines.append)
    assert time.monotonic() - started < 30
    assert again == service_image
    assert any("up to date" in line for line in lines)


def test_both_dockerfiles_end_in_the_same_image() -> None:
    """The online and the offline recipe share their final stage and both install through install-agentd.sh."""
    assert tail(DOCKERFILE) == tail(OFFLINE_DOCKERFILE)
    final = tail(DOCKERFILE)
    assert f"USER {AGENTD_UID}:{AGENTD_UID}" in final
    assert 'ENTRYPOINT ["agentd"]' in final
    for recipe in (DOCKERFILE, OFFLINE_DOCKERFILE):
        assert "install-agentd.sh" in recipe.read_text()


def test_online_dockerfile_installs_only_hashed_or_own_packages() -> None:
    """Each pip install or download in deploy/Dockerfile and install-agentd.sh checks hashes or installs agentd."""
    texts = [DOCKERFILE.read_text(), (REPO / "deploy" / "install-agentd.sh").read_text()]
    commands = [re.sub(r"\\\n\s*", " ", text) for text in texts]
    pip_calls = [
        part for text in commands for part in re.split(r"&&|\n", text) if re.search(r"pip\S* (install|download)", part)
    ]
    assert len(pip_calls) == 4
    for call in pip_calls:
        assert "--require-hashes" in call or ("--no-deps" in call and "agentd-*.whl" in call), call


def test_wheel_contents_ignore_when_the_wheel_was_zipped(tmp_path: Path) -> None:
    """Two wheels with the same files zipped at different times hash alike: the version follows content only."""
    paths = []
    for year in (1990, 2020):
        path = tmp_path / f"agentd-{year}.whl"
        with zipfile.ZipFile(path, "w") as archive:
            for name in ("b.py", "a.py"):
                archive.writestr(zipfile.ZipInfo(name, (year, 1, 1, 0, 0, 0)), f"# {name}\n")
        paths.append(path)
    assert wheel_contents(paths[0]) == wheel_contents(paths[1])
    assert wheel_contents(paths[0])[0].startswith(b"a.py\0")


def test_pip_download_asks_for_bookworm_wheels(tmp_path: Path) -> None:
    """The host's pip fetches CPython 3.11 binary wheels for glibc 2.36 and older, hashes required."""
    argv = pip_download_argv("python3", RUNTIME_LOCK, tmp_path, "x86_64")
    assert argv[:4] == ["python3", "-m", "pip", "download"]
    assert {"--require-hashes", "--only-binary=:all:", "--no-deps"} <= set(argv)
    platforms = [argv[i + 1] for i, word in enumerate(argv) if word == "--platform"]
    assert platforms[0] == "manylinux_2_36_x86_64"
    assert "manylinux_2_17_x86_64" in platforms
    assert argv[argv.index("--python-version") + 1] == "3.11"


def compose(scratch: Path, *args: str, env: dict[str, str], path: Path = COMPOSE) -> subprocess.CompletedProcess[str]:
    """docker-compose (Debian's package, installed by scripts/setup.sh) on a compose file, with only `env` set."""
    need(shutil.which("docker-compose") is not None, "docker-compose is not installed (make setup installs it)")
    no_env_file = scratch / "empty.env"  # never a .env lying in deploy/
    no_env_file.write_text("")
    return subprocess.run(
        [
            "docker-compose",
            "--project-directory",
            str(path.parent),
            "--env-file",
            str(no_env_file),
            "-f",
            str(path),
            *args,
        ],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_compose_file_validates_and_builds_the_service_image(tmp_path: Path) -> None:
    """deploy/compose.yaml passes `docker-compose config`, and its agentd service is this Dockerfile's image."""
    done = compose(tmp_path, "config", env=COMPOSE_ENV)
    assert done.returncode == 0, done.stderr
    agentd = yaml.safe_load(done.stdout)["services"]["agentd"]
    assert agentd["image"] == TAG
    assert Path(agentd["build"]["context"]) == REPO
    assert REPO / agentd["build"]["dockerfile"] == DOCKERFILE
    assert agentd["init"] is True
    assert "/var/lib/agentd:/var/lib/agentd:rw" in agentd["volumes"]


def test_compose_restarts_agentd_and_checks_its_health(tmp_path: Path) -> None:
    """Every service restarts unless stopped; agentd's healthcheck is `agentd health` and it exits when unhealthy."""
    done = compose(tmp_path, "config", env=COMPOSE_ENV)
    assert done.returncode == 0, done.stderr
    services = yaml.safe_load(done.stdout)["services"]
    assert {name: service.get("restart") for name, service in services.items()} == dict.fromkeys(
        services, "unless-stopped"
    )
    agentd = services["agentd"]
    assert agentd["healthcheck"]["test"] == ["CMD", "agentd", "health"]
    assert float(agentd["environment"]["AGENTD_DAEMON__EXIT_AFTER_UNHEALTHY_S"]) > 0


def test_compose_refuses_a_missing_secret_and_a_broken_file(tmp_path: Path) -> None:
    """The validator really checks: a missing secret and a schema error both fail with the reason."""
    missing = compose(tmp_path, "config", "--quiet", env={"AGENTD_API_TOKEN": "test-token"})
    assert missing.returncode != 0
    assert "set AGENTD_DB_PASSWORD in .env" in missing.stderr
    broken = tmp_path / "compose.yaml"
    broken.write_text(COMPOSE.read_text().replace("condition: service_healthy", "condition: when_it_feels_like_it"))
    done = compose(tmp_path, "config", "--quiet", env=COMPOSE_ENV, path=broken)
    assert done.returncode != 0
    assert "when_it_feels_like_it" in done.stderr
