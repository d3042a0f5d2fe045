"""Build agentd's service image: from deploy/Dockerfile when a registry answers, else offline.

Offline, a debootstrapped bookworm is imported as a local base image, and a `docker build` without
network installs agentd on it from its wheel and the wheels of requirements/runtime.lock, which
pip downloaded on the host beforehand (hashes checked). Run it as `python -m deploy.build`.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import platform
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import cast

import docker
import docker.errors

from agentd.kernel.errors import AgentdError, SandboxError
from sandbox.build import (
    VERSION_LABEL,
    WORK_DIR,
    BuildMode,
    Dockerfile,
    build_dockerfile,
    ensure_image,
    recipe_hash,
)
from sandbox.docker import connect_docker
from sandbox.rootfs import SUITE, DebianTree, Log, import_debian_tree, require_debootstrap, run_process

TAG = "agentd:latest"
BASE_TAG = "agentd-base:latest"
PACKAGES = ("python3", "python3-venv", "git", "ca-certificates")
PYTHON_VERSION = "3.11"  # bookworm's python3
GLIBC_MINOR = 36  # bookworm's glibc is 2.36: the newest manylinux wheels its Python can load
AGENTD_UID = 10002  # the user both Dockerfiles run agentd as
STAGE_LABEL = "agentd.build.stage"

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = REPO / "deploy" / "Dockerfile"
OFFLINE_DOCKERFILE = REPO / "deploy" / "offline.Dockerfile"
INSTALL_SCRIPT = REPO / "deploy" / "install-agentd.sh"
RUNTIME_LOCK = REPO / "requirements" / "runtime.lock"
BUILD_LOCK = REPO / "requirements" / "build.lock"
UV = REPO / ".tools" / "uv" / "bin" / "uv"
OFFLINE_FIX = "or build offline: `python -m deploy.build --mode offline`"

_RECIPE_REVISION = "1"  # bump when this module changes what ends up in either image
WHEEL_TIMEOUT_S = 300.0
DOWNLOAD_TIMEOUT_S = 1200.0


def _quiet(_line: str) -> None:
    """The default log: say nothing."""


def wheel_contents(wheel: Path) -> list[bytes]:
    """Each member of the wheel as name + bytes, in name order: what it holds, not when it was zipped."""
    with zipfile.ZipFile(wheel) as archive:
        return [
            info.filename.encode() + b"\0" + archive.read(info)
            for info in sorted(archive.infolist(), key=lambda info: info.filename)
        ]


def service_version(wheel: Path) -> str:
    """A hash of everything the service image is made from: both recipes, the packages, the lock, the wheel."""
    recipe = [DOCKERFILE, OFFLINE_DOCKERFILE, INSTALL_SCRIPT, RUNTIME_LOCK]
    parts = [_RECIPE_REVISION.encode(), " ".join(PACKAGES).encode(), *(path.read_bytes() for path in recipe)]
    return recipe_hash([*parts, *wheel_contents(wheel)])


def base_version() -> str:
    """A hash of what the offline base is made from: the suite and the packages."""
    return recipe_hash([_RECIPE_REVISION.encode(), SUITE.encode(), " ".join(PACKAGES).encode()])


def pip_download_argv(python: str, lock: Path, dest: Path, machine: str) -> list[str]:
    """pip's command line that fetches the lock's wheels for bookworm's Python on `machine`, hashes checked."""
    # --no-deps: the lock is complete, and pip's resolver would take a dependency's extras (githubkit's
    # hishel[async,httpx]) for an unpinned requirement and refuse the download in --require-hashes mode
    argv = [python, "-m", "pip", "download", "--disable-pip-version-check", "--no-input", "--require-hashes"]
    argv += ["--no-deps", "--only-binary=:all:", "--implementation", "cp", "--python-version", PYTHON_VERSION]
    for minor in range(GLIBC_MINOR, 16, -1):
        argv += ["--platform", f"manylinux_2_{minor}_{machine}"]
    argv += ["--platform", f"manylinux2014_{machine}"]  # pip widens this one to manylinux2010 and manylinux1
    return [*argv, "--dest", str(dest), "-r", str(lock)]


def build_service_image(
    client: docker.DockerClient,
    tag: str = TAG,
    *,
    mode: BuildMode = "auto",
    force: bool = False,
    log: Log = _quiet,
    work_dir: Path | None = None,
    mirror: str | None = None,
) -> str:
    """Make sure the service image `tag` is built from the current checkout and return its id.

    Builds agentd's wheel first (about a second): its contents are part of the version, so a
    second build with nothing changed does nothing more.
    """
    root = work_dir or WORK_DIR
    with tempfile.TemporaryDirectory(prefix="agentd-wheel-") as scratch:
        wheel = build_wheel(Path(scratch), log)
        version = service_version(wheel)
        image_id = ensure_image(
            client,
            tag,
            version,
            mode=mode,
            force=force,
            log=log,
            dockerfile=Dockerfile(REPO, DOCKERFILE, OFFLINE_FIX),
            offline=lambda: build_offline(
                client, tag, version, wheel, force=force, log=log, work_dir=root, mirror=mirror
            ),
        )
    _drop_stage_images(client)
    return image_id


def build_wheel(out_dir: Path, log: Log) -> Path:
    """agentd's wheel from this checkout, built with the pinned uv and setuptools from requirements/build.lock."""
    uv = str(UV) if UV.is_file() else shutil.which("uv")
    if uv is None:
        raise SandboxError(f"uv not found (neither {UV} nor on PATH): run `make setup`, which installs it")
    log("building agentd's wheel")
    run_process(
        [uv, "build", "--wheel", "--build-constraints", str(BUILD_LOCK), "--out-dir", str(out_dir), str(REPO)],
        timeout_s=WHEEL_TIMEOUT_S,
        cwd=REPO,
        env={**os.environ, "UV_PYTHON_DOWNLOADS": "never", "UV_NO_PROGRESS": "1"},
    )
    wheels = sorted(out_dir.glob("agentd-*.whl"))
    if len(wheels) != 1:
        raise SandboxError(f"uv build left {len(wheels)} agentd wheels in {out_dir}, expected one")
    return wheels[0]


def build_offline(
    client: docker.DockerClient,
    tag: str,
    version: str,
    wheel: Path,
    *,
    force: bool,
    log: Log,
    work_dir: Path,
    mirror: str | None = None,
) -> str:
    """Install `wheel` and the locked wheels on the debootstrapped base by a `docker build` without network."""
    ensure_base(client, force=force, log=log, work_dir=work_dir, mirror=mirror)
    work_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="service-", dir=work_dir) as scratch:
        context = Path(scratch)
        wheels = context / "wheels"
        wheels.mkdir()
        download_wheels(wheels, log)
        shutil.copy(wheel, wheels)
        shutil.copy(OFFLINE_DOCKERFILE, context / "Dockerfile")
        shutil.copy(RUNTIME_LOCK, context / "runtime.lock")
        shutil.copy(INSTALL_SCRIPT, context / "install-agentd.sh")
        log(f"installing agentd on {BASE_TAG} (docker build, no network)")
        return build_dockerfile(
            client,
            tag,
            context=context,
            dockerfile="Dockerfile",
            buildargs={"BASE": BASE_TAG, "AGENTD_IMAGE_VERSION": version},
            log=log,
            fix=f"to rebuild its base {BASE_TAG} too: `python -m deploy.build --mode offline --force`",
            network_mode="none",
        )


def ensure_base(client: docker.DockerClient, *, force: bool, log: Log, work_dir: Path, mirror: str | None) -> str:
    """The offline base image (debootstrapped bookworm with PACKAGES), built only when missing or older."""
    version = base_version()
    tree = DebianTree(packages=PACKAGES, changes=(f"LABEL {VERSION_LABEL}={version}", "ENV LANG=C.UTF-8"))

    def debootstrap() -> str:
        require_debootstrap("make image")
        return import_debian_tree(client, BASE_TAG, tree, log=log, work_dir=work_dir, mirror=mirror)

    return ensure_image(client, BASE_TAG, version, mode="offline", force=force, log=log, offline=debootstrap)


def download_wheels(dest: Path, log: Log) -> None:
    """Download the wheels requirements/runtime.lock pins, for the image's Python and platform, hashes checked."""
    python = sys.executable if importlib.util.find_spec("pip") else shutil.which("python3")
    if python is None:
        raise SandboxError("no Python with pip to download wheels: apt-get install python3-pip")
    log(f"downloading the wheels of {RUNTIME_LOCK.relative_to(REPO)} (hashes checked)")
    argv = pip_download_argv(python, RUNTIME_LOCK, dest, platform.machine())
    try:
        run_process(argv, timeout_s=DOWNLOAD_TIMEOUT_S)
    except SandboxError as exc:
        raise SandboxError(f"{exc}\n(pip download needs the package index, as `make setup` does)") from exc


def _drop_stage_images(client: docker.DockerClient) -> None:
    """Remove the untagged images a build's venv stage left (the image keeps only its copy of the venv)."""
    with contextlib.suppress(docker.errors.DockerException):
        client.images.prune(filters={"dangling": True, "label": f"{STAGE_LABEL}=venv"})


def main(argv: list[str] | None = None) -> int:
    """`python -m deploy.build`: build the service image, print its tag and id; exit 1 with the fix on failure."""
    parser = argparse.ArgumentParser(prog="python -m deploy.build", description=__doc__)
    parser.add_argument("--tag", default=TAG, help=f"image tag (default {TAG})")
    parser.add_argument("--mode", choices=("auto", "dockerfile", "offline"), default="auto")
    parser.add_argument("--force", action="store_true", help="rebuild even when the image is up to date")
    parser.add_argument("--mirror", help="Debian mirror URL for the offline base (default: from /etc/apt)")
    args = parser.parse_args(argv)
    try:
        image_id = build_service_image(
            connect_docker(), args.tag, mode=cast(BuildMode, args.mode), force=args.force, log=print, mirror=args.mirror
        )
    except AgentdError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"service image ready: {args.tag} ({image_id})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
