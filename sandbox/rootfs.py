"""An image without a registry: debootstrap a minimal Debian tree from the machine's own mirror, import it.

The mirror is read from the machine's apt sources; every process runs in its own group with a
deadline. The sandbox image and agentd's service image are both made this way when offline.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import docker
import docker.errors
import requests
from docker.utils import parse_repository_tag

from agentd.kernel import process
from agentd.kernel.errors import SandboxError

Log = Callable[[str], None]

SUITE = "bookworm"
DEBOOTSTRAP_TIMEOUT_S = 1800.0
TAR_TIMEOUT_S = 600.0
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


def run_process(
    argv: list[str], *, timeout_s: float, cwd: Path | None = None, env: Mapping[str, str] | None = None
) -> str:
    """Run argv through agentd's process runner (own group, deadline); its output, or a SandboxError."""
    done = process.run(argv, timeout_s=timeout_s, cwd=cwd, env=env)
    if done.exit_code == 127 and not done.stdout:
        raise SandboxError(f"{argv[0]}: not installed or not on PATH")
    if not done.ok:
        raise SandboxError(f"{' '.join(argv[:2])} failed: {done.reason()}")
    return done.stdout + done.stderr


# ---------------------------------------------------------------- the offline build


@dataclass(frozen=True)
class DebianTree:
    """What an imported image is made of: Debian packages, a step that finishes the tree, its config."""

    packages: tuple[str, ...]
    changes: tuple[str, ...]
    """Dockerfile instructions (USER, ENV, LABEL, CMD, ...) that `docker import` applies."""
    finish: Callable[[Path], None] = lambda _root: None
    """Runs on the debootstrapped tree before it is pruned and imported (users, files)."""


def require_debootstrap(command: str) -> None:
    """Fail with the fix when this machine cannot debootstrap; `command` is what to run with sudo."""
    if os.geteuid() != 0:
        raise SandboxError(f"the offline image build runs debootstrap and needs root: run `sudo {command}`")
    for tool in ("debootstrap", "tar"):
        if shutil.which(tool) is None:
            raise SandboxError(f"{tool} not installed: apt-get install {tool}")


def import_debian_tree(
    client: docker.DockerClient, tag: str, tree: DebianTree, *, log: Log, work_dir: Path, mirror: str | None = None
) -> str:
    """Debootstrap `tree` under `work_dir`, finish and prune it, import it as `tag`; return the image id."""
    mirror = mirror or find_debian_mirror()
    work_dir = work_dir.resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix="build-", dir=work_dir))
    try:
        root = build / "rootfs"
        log(f"debootstrap {SUITE} with {', '.join(tree.packages)} from {mirror} (about a minute)")
        run_process(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(tree.packages)}",
                f"--cache-dir={_cache_dir(work_dir)}",
                SUITE,
                str(root),
                mirror,
            ],
            timeout_s=DEBOOTSTRAP_TIMEOUT_S,
            env={**os.environ, "LC_ALL": "C"},
        )
        tree.finish(root)
        prune_rootfs(root)
        return import_rootfs(client, root, build / "rootfs.tar", tag=tag, changes=tree.changes, log=log)
    finally:
        remove_build_dir(build, log)


def _cache_dir(work_dir: Path) -> Path:
    cache = work_dir / "debs"  # kept between builds (and shared by every image): a rebuild downloads nothing
    cache.mkdir(exist_ok=True)
    return cache


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


def import_rootfs(
    client: docker.DockerClient, root: Path, tarball: Path, *, tag: str, changes: Iterable[str], log: Log
) -> str:
    """Tar the tree and `docker import` it with `changes` (USER, ENV, LABEL, CMD, ...); return the image id."""
    log("importing the tree into Docker")
    run_process(["tar", "--numeric-owner", "-C", str(root), "-cf", str(tarball), "."], timeout_s=TAR_TIMEOUT_S)
    repository, image_tag = parse_repository_tag(tag)
    try:
        client.api.import_image(
            src=str(tarball), repository=repository, tag=image_tag or "latest", changes=list(changes)
        )
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
