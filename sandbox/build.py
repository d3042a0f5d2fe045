"""Build the sandbox image: from the Dockerfile when a registry answers, else offline.

The offline build needs no registry: it compiles the runner on the host, debootstraps a
minimal Debian bookworm with the packages from the machine's own Debian mirror (read from its
apt sources), adds the sandbox user and imports the tree as an image. Both ways label the image
with a version (a hash of its recipe), so a second build with nothing changed does nothing.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import shutil
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import docker
import docker.errors
import requests
from docker.models.images import Image
from docker.utils import parse_repository_tag

from agentd.kernel.errors import SandboxError
from sandbox.rootfs import DebianTree, Log, import_debian_tree, require_debootstrap, run_process

BuildMode = Literal["auto", "dockerfile", "offline"]

PACKAGES = ("golang-go", "git", "postgresql-client", "ca-certificates")
SANDBOX_UID = 10001
SANDBOX_GID = 10001
VERSION_LABEL = "agentd.image.version"
IMAGE_REPOSITORY = "agentd-sandbox-go"
RUNNER_PATH = "/opt/agentd/runner"
RUNNER_SOCKET = "/run/agentd/runner.sock"
GO_CACHE_SEED = "/opt/agentd/gocache"  # the standard library's Go build cache, read-only (image/gocache.sh)
IMAGE_PATH = "/usr/local/bin:/usr/bin:/bin"

HERE = Path(__file__).resolve().parent
DOCKERFILE = HERE / "image" / "Dockerfile"
GO_CACHE_SCRIPT = HERE / "image" / "gocache.sh"
RUNNER_DIR = HERE / "runner"
WORK_DIR = Path(tempfile.gettempdir()) / "agentd-image-build"
OFFLINE_FIX = "or build offline: `agentd sandbox build --mode offline`"

_RECIPE_REVISION = "3"  # bump when the offline recipe below changes what ends up in the image
PULL_PROBE_TIMEOUT_S = 20.0
GO_BUILD_TIMEOUT_S = 300.0
GO_CACHE_BAKE_TIMEOUT_S = 1800.0  # the whole standard library compiled and vetted, on a busy 2-core machine
DOCKER_BUILD_TIMEOUT_S = 3600


def _quiet(_line: str) -> None:
    """The default log: say nothing."""


def recipe_hash(parts: Iterable[bytes]) -> str:
    """A short, stable hash of an image's ingredients (each part length-prefixed, so none can blur into the next)."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()[:16]


@functools.cache
def image_version() -> str:
    """A hash of everything the image is made from: Dockerfile, runner source, packages, Go cache recipe."""
    parts = [_RECIPE_REVISION.encode(), DOCKERFILE.read_bytes(), " ".join(PACKAGES).encode()]
    parts.append(GO_CACHE_SCRIPT.read_bytes())
    parts += [path.read_bytes() for path in sorted(RUNNER_DIR.glob("*.go"))]
    parts.append((RUNNER_DIR / "go.mod").read_bytes())
    return recipe_hash(parts)


def default_image() -> str:
    """The sandbox image this agentd is made for: `agentd-sandbox-go:<recipe hash>`.

    Tagged by recipe, so two agentd versions on one engine (an upgrade, two checkouts) never
    start each other's runner.
    """
    return f"{IMAGE_REPOSITORY}:{image_version()}"


def base_image(dockerfile_text: str) -> str:
    """The image named by the Dockerfile's first FROM."""
    for line in dockerfile_text.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0].upper() == "FROM":
            return words[1]
    raise SandboxError("the Dockerfile has no FROM line")


def build_image(
    client: docker.DockerClient,
    tag: str,
    *,
    mode: BuildMode = "auto",
    force: bool = False,
    log: Log = _quiet,
    work_dir: Path | None = None,
    mirror: str | None = None,
) -> str:
    """Make sure the sandbox image `tag` is built from the current recipe and return its id.

    Does nothing when the image's version label already matches, unless `force`. `auto` builds
    from the Dockerfile when a registry answers, else offline (debootstrap) under `work_dir`.
    """
    version = image_version()
    return ensure_image(
        client,
        tag,
        version,
        mode=mode,
        force=force,
        log=log,
        dockerfile=Dockerfile(HERE, DOCKERFILE, OFFLINE_FIX),
        offline=lambda: build_offline(client, tag, version, log=log, work_dir=work_dir or WORK_DIR, mirror=mirror),
    )


@dataclass(frozen=True)
class Dockerfile:
    """The way to build an image when a registry answers: a Dockerfile and its build context."""

    context: Path
    path: Path
    fix: str
    """What else to do when the build fails; ends the error message."""


def ensure_image(
    client: docker.DockerClient,
    tag: str,
    version: str,
    *,
    mode: BuildMode,
    force: bool,
    log: Log,
    offline: Callable[[], str],
    dockerfile: Dockerfile | None = None,
) -> str:
    """Return the id of image `tag` at `version`, building it one of two ways when it is missing or older.

    Does nothing when the image's version label already matches, unless `force`. `auto` builds
    from `dockerfile` when a registry answers for the image it starts FROM, else calls `offline`.
    """
    if mode not in {"auto", "dockerfile", "offline"}:
        raise SandboxError(f"build mode {mode!r}: expected auto, dockerfile or offline")
    if mode == "dockerfile" and dockerfile is None:
        raise SandboxError(f"{tag} has no Dockerfile: build it with mode offline")
    existing = _find_image(client, tag)
    if existing is not None and existing.labels.get(VERSION_LABEL) == version and not force:
        log(f"{tag} is up to date (version {version})")
        return str(existing.id)
    chosen = mode
    if mode == "auto":
        online = dockerfile is not None and _registry_answers(client, base_image(dockerfile.path.read_text()), log)
        chosen = "dockerfile" if online else "offline"
    started = time.monotonic()
    if dockerfile is not None and chosen == "dockerfile":
        image_id = build_dockerfile(
            client,
            tag,
            context=dockerfile.context,
            dockerfile=str(dockerfile.path.relative_to(dockerfile.context)),
            buildargs={"AGENTD_IMAGE_VERSION": version},
            log=log,
            fix=dockerfile.fix,
        )
    else:
        image_id = offline()
    log(f"built {tag} ({chosen}, version {version}) in {time.monotonic() - started:.0f}s")
    _drop_replaced_image(client, str(existing.id) if existing is not None else None, image_id)
    return image_id


def _find_image(client: docker.DockerClient, tag: str) -> Image | None:
    try:
        return client.images.get(tag)
    except docker.errors.ImageNotFound:
        return None
    except (docker.errors.DockerException, requests.RequestException) as exc:
        raise SandboxError(f"docker: cannot inspect image {tag}: {exc}") from exc


def _drop_replaced_image(client: docker.DockerClient, previous: str | None, current: str) -> None:
    """Remove the image the tag used to name, unless a container still uses it."""
    if previous and previous != current:
        with contextlib.suppress(docker.errors.DockerException):
            client.images.remove(previous)


def _registry_answers(client: docker.DockerClient, image: str, log: Log) -> bool:
    """Start pulling `image` and wait briefly for the registry's first answer (not the download)."""
    answered = threading.Event()
    verdict: list[bool] = []

    def pull() -> None:
        repository, tag = parse_repository_tag(image)
        try:
            for chunk in client.api.pull(repository, tag=tag or "latest", stream=True, decode=True):
                if not verdict:
                    verdict.append("error" not in chunk)
                    answered.set()
        except (docker.errors.DockerException, requests.RequestException):
            pass
        if not verdict:
            verdict.append(False)
        answered.set()

    log(f"checking whether a registry answers (pulling {image})")
    threading.Thread(target=pull, name="agentd-pull-probe", daemon=True).start()
    ok = answered.wait(PULL_PROBE_TIMEOUT_S) and verdict[0]
    log("registry answered: building from the Dockerfile" if ok else "no registry: building offline")
    return ok


def build_dockerfile(
    client: docker.DockerClient,
    tag: str,
    *,
    context: Path,
    dockerfile: str,
    buildargs: Mapping[str, str],
    log: Log,
    fix: str,
    network_mode: str | None = None,
) -> str:
    """`docker build` `context` with `dockerfile` (relative to it) as `tag`; `fix` ends the error when it fails."""
    output: deque[str] = deque(maxlen=15)  # the last lines say why a step failed, even when `log` is quiet
    try:
        chunks = client.api.build(
            path=str(context),
            dockerfile=dockerfile,
            tag=tag,
            rm=True,
            forcerm=True,
            buildargs=dict(buildargs),
            network_mode=network_mode,
            decode=True,
            timeout=DOCKER_BUILD_TIMEOUT_S,
        )
        for chunk in chunks:
            if "error" in chunk:
                tail = "\n".join(output)
                raise SandboxError(f"docker build of {tag} failed: {chunk['error'].strip()}; {fix}\n{tail}")
            text = str(chunk.get("stream", "")).strip()
            if text:
                log(text)
                output.extend(text.splitlines())
        return str(client.images.get(tag).id)
    except (docker.errors.DockerException, requests.RequestException) as exc:
        raise SandboxError(f"docker build of {tag} failed: {exc}") from exc


# ---------------------------------------------------------------- the offline build


def require_offline_tools() -> None:
    """Fail with the fix when the offline image build cannot run on this machine."""
    require_debootstrap("agentd sandbox build")
    if shutil.which("go") is None:
        raise SandboxError("go not installed: apt-get install golang-go")


def build_offline(
    client: docker.DockerClient, tag: str, version: str, *, log: Log, work_dir: Path, mirror: str | None = None
) -> str:
    """Debootstrap the image's tree under `work_dir` and import it as `tag`; return the image id."""
    require_offline_tools()
    work_dir = work_dir.resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="runner-", dir=work_dir) as scratch:
        runner = build_runner(Path(scratch) / "runner", work_dir, log)
        tree = DebianTree(
            packages=PACKAGES,
            changes=(
                f"USER {SANDBOX_UID}:{SANDBOX_GID}",
                f"ENV HOME=/home/sandbox PATH={IMAGE_PATH} LANG=C.UTF-8",
                "WORKDIR /workspace",
                f"LABEL {VERSION_LABEL}={version}",
                f'CMD ["{RUNNER_PATH}","-connect","{RUNNER_SOCKET}"]',
            ),
            finish=lambda root: configure_rootfs(root, runner),
        )
        return import_debian_tree(client, tag, tree, log=log, work_dir=work_dir, mirror=mirror)


def build_runner(output: Path, work_dir: Path, log: Log) -> Path:
    """Compile the runner statically with the host's Go."""
    log("building the runner with the host's Go")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "CGO_ENABLED": "0",
        "GO111MODULE": "on",
        "GOFLAGS": "-buildvcs=false",
        "GOPROXY": "off",
        "GOTOOLCHAIN": "local",
        "GOCACHE": str(work_dir / "gocache"),
        "GOPATH": str(work_dir / "gopath"),
    }
    run_process(
        ["go", "build", "-trimpath", "-ldflags=-s -w", "-o", str(output), "."],
        timeout_s=GO_BUILD_TIMEOUT_S,
        cwd=RUNNER_DIR,
        env=env,
    )
    return output


def configure_rootfs(root: Path, runner: Path) -> None:
    """Add the sandbox user, its directories and the runner to a debootstrapped tree."""
    with (root / "etc/passwd").open("a") as passwd:
        passwd.write(f"sandbox:x:{SANDBOX_UID}:{SANDBOX_GID}:agentd sandbox:/home/sandbox:/bin/sh\n")
    with (root / "etc/group").open("a") as group:
        group.write(f"sandbox:x:{SANDBOX_GID}:\n")
    for directory in ("workspace", "home/sandbox"):
        (root / directory).mkdir(parents=True, exist_ok=True)
        os.chown(root / directory, SANDBOX_UID, SANDBOX_GID)
    (root / "run/agentd").mkdir(parents=True, exist_ok=True)
    target = root / RUNNER_PATH.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(runner, target)
    # Execute-only for the sandbox user: the kernel makes every process running it non-dumpable,
    # so no process of the sandbox can ptrace the runner or its trampolines, or read their memory.
    os.chown(target, 0, 0)
    target.chmod(0o711)
    bake_go_cache(root)


def bake_go_cache(root: Path) -> None:
    """Run image/gocache.sh in the tree (chroot, as root): the standard library's read-only Go build cache."""
    script = root / "opt/agentd/gocache.sh"
    shutil.copyfile(GO_CACHE_SCRIPT, script)
    try:
        run_process(
            [shutil.which("chroot") or "/usr/sbin/chroot", str(root), "/bin/sh", "/opt/agentd/gocache.sh"],
            timeout_s=GO_CACHE_BAKE_TIMEOUT_S,
            env={"PATH": IMAGE_PATH, "LANG": "C.UTF-8"},
        )
    finally:
        script.unlink(missing_ok=True)
