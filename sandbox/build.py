"""Build the sandbox image: from the Dockerfile when a registry answers, else offline.

The offline build needs no registry: it compiles the runner on the host, debootstraps a
minimal Debian bookworm with the packages from the machine's own Debian mirror (read from its
apt sources), adds the sandbox user and imports the tree as an image. Both ways label the image
with a version (a hash of its recipe), so a second build with nothing changed does nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

import docker
import docker.errors
import requests
from docker.models.images import Image
from docker.utils import parse_repository_tag

from agentd.kernel.errors import SandboxError

BuildMode = Literal["auto", "dockerfile", "offline"]
Log = Callable[[str], None]

PACKAGES = ("golang-go", "git", "postgresql-client", "ca-certificates")
SUITE = "bookworm"
SANDBOX_UID = 10001
SANDBOX_GID = 10001
VERSION_LABEL = "agentd.image.version"
RUNNER_PATH = "/opt/agentd/runner"
RUNNER_SOCKET = "/run/agentd/runner.sock"
IMAGE_PATH = "/usr/local/bin:/usr/bin:/bin"

HERE = Path(__file__).resolve().parent
DOCKERFILE = HERE / "image" / "Dockerfile"
RUNNER_DIR = HERE / "runner"

_RECIPE_REVISION = "1"  # bump when the offline recipe below changes what ends up in the image
PULL_PROBE_TIMEOUT_S = 20.0
GO_BUILD_TIMEOUT_S = 300.0
DEBOOTSTRAP_TIMEOUT_S = 1800.0
TAR_TIMEOUT_S = 600.0
DOCKER_BUILD_TIMEOUT_S = 3600
PRUNED = (
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
    "var/lib/apt/lists",
    "var/cache/apt",
    "var/cache/debconf",
    "var/log",
)


def _quiet(_line: str) -> None:
    """The default log: say nothing."""


def image_version() -> str:
    """A hash of everything the image is made from: Dockerfile, runner source, packages."""
    parts = [_RECIPE_REVISION.encode(), DOCKERFILE.read_bytes(), " ".join(PACKAGES).encode()]
    parts += [path.read_bytes() for path in sorted(RUNNER_DIR.glob("*.go"))]
    parts.append((RUNNER_DIR / "go.mod").read_bytes())
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()[:16]


def base_image(dockerfile_text: str) -> str:
    """The image named by the Dockerfile's first FROM."""
    for line in dockerfile_text.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0].upper() == "FROM":
            return words[1]
    raise SandboxError("sandbox/image/Dockerfile has no FROM line")


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
    """Make sure image `tag` is built from the current recipe and return its id.

    Does nothing when the image's version label already matches, unless `force`. `auto` builds
    from the Dockerfile when a registry answers, else offline (debootstrap) under `work_dir`.
    """
    if mode not in {"auto", "dockerfile", "offline"}:
        raise SandboxError(f"build mode {mode!r}: expected auto, dockerfile or offline")
    version = image_version()
    existing = _find_image(client, tag)
    if existing is not None and existing.labels.get(VERSION_LABEL) == version and not force:
        log(f"{tag} is up to date (version {version})")
        return str(existing.id)
    chosen = mode
    if mode == "auto":
        chosen = "dockerfile" if _registry_answers(client, base_image(DOCKERFILE.read_text()), log) else "offline"
    started = time.monotonic()
    if chosen == "dockerfile":
        image_id = _build_from_dockerfile(client, tag, version, log)
    else:
        root = work_dir or Path(tempfile.gettempdir()) / "agentd-image-build"
        image_id = build_offline(client, tag, version, log=log, work_dir=root, mirror=mirror)
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


def _build_from_dockerfile(client: docker.DockerClient, tag: str, version: str, log: Log) -> str:
    try:
        chunks = client.api.build(
            path=str(HERE),
            dockerfile="image/Dockerfile",
            tag=tag,
            rm=True,
            forcerm=True,
            buildargs={"AGENTD_IMAGE_VERSION": version},
            decode=True,
            timeout=DOCKER_BUILD_TIMEOUT_S,
        )
        for chunk in chunks:
            if "error" in chunk:
                raise SandboxError(
                    f"docker build failed: {chunk['error'].strip()}; or build offline: `agentd sandbox build --offline`"
                )
            text = str(chunk.get("stream", "")).strip()
            if text:
                log(text)
        return str(client.images.get(tag).id)
    except (docker.errors.DockerException, requests.RequestException) as exc:
        raise SandboxError(f"docker build of {tag} failed: {exc}") from exc


# ---------------------------------------------------------------- the machine's Debian mirror


@dataclass(frozen=True)
class AptSource:
    """One apt source entry, from either the one-line or the deb822 format."""

    types: tuple[str, ...]
    uris: tuple[str, ...]
    suites: tuple[str, ...]
    components: tuple[str, ...]
    signed_by: str = ""
    enabled: bool = True


def parse_one_line_sources(text: str) -> list[AptSource]:
    """Parse sources.list lines: `deb [opt=val ...] URI SUITE COMPONENT...`."""
    entries = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        options = {}
        if "[" in line and "]" in line:
            before, rest = line.split("[", 1)
            inside, after = rest.split("]", 1)
            options = dict(opt.split("=", 1) for opt in inside.split() if "=" in opt)
            line = f"{before} {after}"
        words = line.split()
        if len(words) >= 3:
            entries.append(
                AptSource(
                    types=(words[0],),
                    uris=(words[1],),
                    suites=(words[2],),
                    components=tuple(words[3:]),
                    signed_by=options.get("signed-by", ""),
                )
            )
    return entries


def _deb822_stanzas(text: str) -> Iterable[dict[str, str]]:
    fields: dict[str, str] = {}
    last = ""
    for line in [*text.splitlines(), ""]:
        if line.startswith("#"):
            continue
        if not line.strip():
            if fields:
                yield fields
            fields, last = {}, ""
        elif line[0].isspace() and last:
            fields[last] += "\n" + line.strip()
        elif ":" in line:
            key, value = line.split(":", 1)
            last = key.strip().lower()
            fields[last] = value.strip()


def parse_deb822_sources(text: str) -> list[AptSource]:
    """Parse a deb822 `.sources` file into entries."""
    return [
        AptSource(
            types=tuple(s.get("types", "").split()),
            uris=tuple(s.get("uris", "").split()),
            suites=tuple(s.get("suites", "").split()),
            components=tuple(s.get("components", "").split()),
            signed_by=s.get("signed-by", ""),
            enabled=s.get("enabled", "yes").lower() != "no",
        )
        for s in _deb822_stanzas(text)
    ]


def pick_debian_mirror(sources: Iterable[AptSource], suite: str = SUITE) -> str | None:
    """The URI of the Debian archive for `suite`/main; Debian's own keyring wins over third parties."""
    candidates = [
        (("debian-archive-keyring" not in entry.signed_by), index, uri)
        for index, entry in enumerate(sources)
        if entry.enabled and "deb" in entry.types and suite in entry.suites and "main" in entry.components
        for uri in entry.uris
        if urlparse(uri).scheme in {"http", "https", "file"}
    ]
    return min(candidates)[2] if candidates else None


def find_debian_mirror(apt_dir: Path = Path("/etc/apt"), suite: str = SUITE) -> str:
    """Read the machine's apt sources and return its Debian mirror for `suite`."""
    sources: list[AptSource] = []
    one_line = [apt_dir / "sources.list", *sorted((apt_dir / "sources.list.d").glob("*.list"))]
    for path in one_line:
        if path.is_file():
            sources += parse_one_line_sources(path.read_text(errors="replace"))
    for path in sorted((apt_dir / "sources.list.d").glob("*.sources")):
        sources += parse_deb822_sources(path.read_text(errors="replace"))
    mirror = pick_debian_mirror(sources, suite)
    if mirror is None:
        raise SandboxError(
            f"no Debian mirror for {suite}/main in {apt_dir}/sources.list(.d): "
            "add one, or pass the mirror URL explicitly"
        )
    return mirror


# ---------------------------------------------------------------- processes with deadlines


def _kill_group(proc: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def run_process(
    argv: list[str], *, timeout_s: float, cwd: Path | None = None, env: Mapping[str, str] | None = None
) -> str:
    """Run argv in its own process group, kill the group at the deadline; return its output."""
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=env,
            text=True,
            errors="replace",
            start_new_session=True,
        )
    except FileNotFoundError:
        raise SandboxError(f"{argv[0]}: not installed or not on PATH") from None
    try:
        output, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise SandboxError(f"{' '.join(argv[:2])}: no result within {timeout_s:.0f}s; killed it") from None
    if proc.returncode != 0:
        tail = "\n".join(output.strip().splitlines()[-15:])
        raise SandboxError(f"{' '.join(argv[:2])} failed with exit code {proc.returncode}:\n{tail}")
    return output


# ---------------------------------------------------------------- the offline build


def require_offline_tools() -> None:
    """Fail with the fix when the offline build cannot run on this machine."""
    if os.geteuid() != 0:
        raise SandboxError("the offline image build runs debootstrap and needs root: run `sudo agentd sandbox build`")
    for tool, package in (("debootstrap", "debootstrap"), ("go", "golang-go"), ("tar", "tar")):
        if shutil.which(tool) is None:
            raise SandboxError(f"{tool} not installed: apt-get install {package}")


def build_offline(
    client: docker.DockerClient, tag: str, version: str, *, log: Log, work_dir: Path, mirror: str | None = None
) -> str:
    """Debootstrap the image's tree under `work_dir` and import it as `tag`; return the image id."""
    require_offline_tools()
    mirror = mirror or find_debian_mirror()
    work_dir = work_dir.resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix="build-", dir=work_dir))
    try:
        runner = build_runner(build / "runner", work_dir, log)
        root = build / "rootfs"
        log(f"debootstrap {SUITE} with {', '.join(PACKAGES)} from {mirror} (about a minute)")
        run_process(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(PACKAGES)}",
                f"--cache-dir={_cache_dir(work_dir)}",
                SUITE,
                str(root),
                mirror,
            ],
            timeout_s=DEBOOTSTRAP_TIMEOUT_S,
            env={**os.environ, "LC_ALL": "C"},
        )
        configure_rootfs(root, runner)
        prune_rootfs(root)
        return import_rootfs(client, root, build / "rootfs.tar", tag=tag, version=version, log=log)
    finally:
        remove_build_dir(build, log)


def _cache_dir(work_dir: Path) -> Path:
    cache = work_dir / "debs"  # kept between builds: a rebuild downloads nothing
    cache.mkdir(exist_ok=True)
    return cache


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
    target.chmod(0o755)


def prune_rootfs(root: Path) -> None:
    """Empty documentation, locales, logs and apt's caches and lists; keep the directories."""
    for relative in PRUNED:
        directory = root / relative
        if directory.is_symlink() or not directory.is_dir():
            continue
        for entry in directory.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()


def import_rootfs(client: docker.DockerClient, root: Path, tarball: Path, *, tag: str, version: str, log: Log) -> str:
    """Tar the tree and `docker import` it with the image's user, env, label and command."""
    log("importing the tree into Docker")
    run_process(["tar", "--numeric-owner", "-C", str(root), "-cf", str(tarball), "."], timeout_s=TAR_TIMEOUT_S)
    changes = [
        f"USER {SANDBOX_UID}:{SANDBOX_GID}",
        f"ENV HOME=/home/sandbox PATH={IMAGE_PATH} LANG=C.UTF-8",
        "WORKDIR /workspace",
        f"LABEL {VERSION_LABEL}={version}",
        f'CMD ["{RUNNER_PATH}","-socket","{RUNNER_SOCKET}"]',
    ]
    repository, image_tag = parse_repository_tag(tag)
    try:
        client.api.import_image(src=str(tarball), repository=repository, tag=image_tag or "latest", changes=changes)
        return str(client.images.get(tag).id)
    except (docker.errors.DockerException, requests.RequestException) as exc:
        raise SandboxError(f"docker import of {tag} failed: {exc}") from exc


def mounts_below(mountinfo: str, root: Path) -> list[str]:
    """Mount points at or under `root` in /proc/self/mountinfo text, deepest first."""
    prefix = str(root).rstrip("/")
    points = []
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) > 4:
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])
            if point == prefix or point.startswith(prefix + "/"):
                points.append(point)
    return sorted(points, key=len, reverse=True)


def remove_build_dir(build: Path, log: Log) -> None:
    """Delete the build tree, unmounting what debootstrap may have left mounted (if killed)."""
    for point in mounts_below(Path("/proc/self/mountinfo").read_text(), build):
        run_process(["umount", "-l", point], timeout_s=30)
    left = mounts_below(Path("/proc/self/mountinfo").read_text(), build)
    if left:
        log(f"kept {build}: still mounted there: {', '.join(left)}")
        return
    shutil.rmtree(build, ignore_errors=True)
