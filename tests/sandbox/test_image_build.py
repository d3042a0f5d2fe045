"""The image build: idempotent against a real engine; its pure parts tested with plain data."""

from __future__ import annotations

import re
import time
from pathlib import Path

import docker
import pytest

from sandbox.build import DOCKERFILE, PACKAGES, VERSION_LABEL, base_image, build_image, image_version
from sandbox.config import SandboxConfig
from sandbox.rootfs import (
    AptSource,
    mounts_below,
    parse_deb822_sources,
    parse_one_line_sources,
    pick_debian_mirror,
)

DEBIAN_SOURCES = """\
Types: deb
# http://snapshot.example/archive/debian/20250520T000000Z
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""
THIRD_PARTY_SOURCES = """\
Types: deb
URIs: https://vendor.example/node_20.x
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/vendor.gpg
"""


@pytest.mark.docker
def test_build_is_idempotent(docker_client: docker.DockerClient, sandbox_image: str) -> None:
    """A second build with nothing changed says the image is up to date and returns at once."""
    lines: list[str] = []
    started = time.monotonic()
    again = build_image(docker_client, SandboxConfig().image, log=lines.append)
    assert time.monotonic() - started < 5
    assert again == sandbox_image
    assert any("up to date" in line for line in lines)


@pytest.mark.docker
def test_image_carries_version_user_and_runner(docker_client: docker.DockerClient, sandbox_image: str) -> None:
    """The built image is labelled with the recipe's version, runs as 10001 and starts the runner."""
    config = docker_client.images.get(sandbox_image).attrs["Config"]
    assert config["Labels"][VERSION_LABEL] == image_version()
    assert config["User"] == "10001:10001"
    assert config["WorkingDir"] == "/workspace"
    assert config["Cmd"][0] == "/opt/agentd/runner"


def test_dockerfile_installs_exactly_the_hashed_packages() -> None:
    """The Dockerfile's apt-get install line names the same packages build.py hashes."""
    text = DOCKERFILE.read_text()
    install = re.search(r"--no-install-recommends\s*\\?\s*\n?\s*([a-z0-9 .+-]+)", text)
    assert install is not None
    assert tuple(install.group(1).split()) == PACKAGES
    assert base_image(text) == "debian:bookworm-slim"


def test_image_version_is_a_stable_hash() -> None:
    """The version is deterministic: the same recipe gives the same label."""
    assert image_version() == image_version()
    assert re.fullmatch(r"[0-9a-f]{16}", image_version())


def test_debian_mirror_is_read_from_deb822_sources() -> None:
    """The bookworm/main entry signed by Debian's keyring wins over a third-party repository."""
    sources = parse_deb822_sources(THIRD_PARTY_SOURCES) + parse_deb822_sources(DEBIAN_SOURCES)
    assert pick_debian_mirror(sources) == "http://mirror.example/debian"


def test_debian_mirror_from_one_line_sources() -> None:
    """One-line entries work too, and a suite like cloud-sdk-bookworm does not count as bookworm."""
    text = (
        "deb https://vendor.example/apt cloud-sdk-bookworm main\n"
        "# deb http://commented.example/debian bookworm main\n"
        "deb [arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
        "http://mirror.example/debian bookworm main contrib\n"
    )
    assert pick_debian_mirror(parse_one_line_sources(text)) == "http://mirror.example/debian"


def test_no_debian_mirror_gives_none() -> None:
    """Without a bookworm/main entry there is no mirror to use."""
    disabled = AptSource(
        types=("deb",),
        uris=("http://mirror.example/debian",),
        suites=("bookworm",),
        components=("main",),
        enabled=False,
    )
    assert pick_debian_mirror([disabled]) is None


def test_mounts_below_finds_leftover_mounts_deepest_first() -> None:
    """Mounts debootstrap left under a build dir are found, deepest first, escapes decoded."""
    mountinfo = (
        "22 1 8:1 / / rw - ext4 /dev/vda rw\n"
        "90 22 0:5 / /work/b\\040x/rootfs/proc rw - proc proc rw\n"
        "91 22 0:6 / /work/b\\040x/rootfs/dev/pts rw - devpts devpts rw\n"
        "92 22 0:7 / /work/b\\040xy/other rw - tmpfs tmpfs rw\n"
    )
    assert mounts_below(mountinfo, Path("/work/b x")) == [
        "/work/b x/rootfs/dev/pts",
        "/work/b x/rootfs/proc",
    ]
