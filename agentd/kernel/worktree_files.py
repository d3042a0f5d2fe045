"""Host-side access to the files of a worktree that untrusted code may have shaped.

Every path is walked down from the worktree's root one directory at a time without following a
symlink (so a directory swapped for a link mid-walk leads nowhere), only regular files are read
(never a FIFO, a socket or a device, and never through a link), every read is capped, and a path
that comes from a diff or a model is confined to the worktree before it is used.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer that never comes.
FILE_FLAGS = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
SKIPPED_DIRS = frozenset({".git"})
MAX_TEXT_BYTES = 1024 * 1024  # a source file bigger than this is generated or hostile: skipped, not read
MAX_TEXT_FILES = 20_000


class NotRegularFileError(OSError):
    """The path names a link, a directory, a FIFO, a socket or a device: nothing agentd reads."""


def confine(path: str) -> str | None:
    """`path` as a normalised worktree-relative path, or None when it is absolute, empty or climbs out."""
    if not path or "\x00" in path or path.startswith("/"):
        return None
    normal = posixpath.normpath(path)
    if normal == ".." or normal.startswith("../"):
        return None
    return normal


def read_regular(name: str, dir_fd: int, limit: int) -> bytes:
    """At most limit + 1 bytes of the regular file `name` in dir_fd; OSError for anything else."""
    fd = os.open(name, os.O_RDONLY | FILE_FLAGS, dir_fd=dir_fd)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotRegularFileError(f"{name}: not a regular file")
        return handle.read(limit + 1)


@dataclass(frozen=True)
class Entry:
    """A non-directory entry met on a walk; `dir_fd` is valid only until the walk moves on."""

    path: str  # worktree-relative, posix
    name: str
    dir_fd: int
    regular: bool  # a regular file (not a link, FIFO, socket or device)


class WorktreeFiles:
    """The files under one root (a worktree agentd made), reached the way this module's docstring says.

    `owner` (uid, gid), when given, is applied to every directory and file this object creates: agentd
    running as root keeps what it writes the sandbox user's.
    """

    def __init__(self, root: Path, owner: tuple[int, int] | None = None) -> None:
        self.root = root.resolve()
        self.owner = owner

    def _parts(self, relative: str) -> tuple[str, ...]:
        confined = confine(relative)
        if confined is None:
            raise FileNotFoundError(f"{relative!r} is not a path inside the worktree")
        return () if confined == "." else tuple(confined.split("/"))

    @contextlib.contextmanager
    def directory(self, relative: str = ".", *, make: bool = False) -> Iterator[int]:
        """A descriptor of the directory `relative`, reached through no symlink (made, when `make`)."""
        fd = os.open(self.root, DIR_FLAGS)
        try:
            for part in self._parts(relative):
                if make:
                    self._make_directory(part, fd)
                child = os.open(part, DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = child
            yield fd
        finally:
            os.close(fd)

    def _make_directory(self, name: str, dir_fd: int) -> None:
        try:
            os.mkdir(name, 0o775, dir_fd=dir_fd)
        except FileExistsError:
            return
        if self.owner is not None:
            os.chown(name, *self.owner, dir_fd=dir_fd, follow_symlinks=False)

    @contextlib.contextmanager
    def parent(self, relative: str, *, make: bool = False) -> Iterator[tuple[int, str]]:
        """(descriptor of the directory holding `relative`, its last name), reached through no symlink."""
        parts = self._parts(relative)
        if not parts:
            raise IsADirectoryError(f"{relative!r} is the worktree's root")
        with self.directory("/".join(parts[:-1]) or ".", make=make) as fd:
            yield fd, parts[-1]

    def read(self, relative: str, limit: int) -> bytes:
        """At most limit + 1 bytes of a regular file (a caller seeing more than `limit` knows it is bigger)."""
        with self.parent(relative) as (fd, name):
            return read_regular(name, fd, limit)

    def kind(self, relative: str) -> str | None:
        """'directory', 'file' (regular), 'other' (a link, FIFO, device...) or None when nothing is there
        (or the way there goes through a link)."""
        try:
            if not self._parts(relative):
                return "directory"
            with self.parent(relative) as (fd, name):
                mode = os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode
        except OSError:
            return None
        return "directory" if stat.S_ISDIR(mode) else "file" if stat.S_ISREG(mode) else "other"

    def write(self, relative: str, data: bytes, *, new: bool) -> None:
        """Write a regular file: create it (failing when it exists, making directories) or replace its content."""
        flags = os.O_WRONLY | FILE_FLAGS | (os.O_CREAT | os.O_EXCL if new else 0)
        with self.parent(relative, make=new) as (parent, name):
            fd = os.open(name, flags, 0o664, dir_fd=parent)
            with os.fdopen(fd, "wb") as handle:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    raise NotRegularFileError(f"{relative}: not a regular file")
                os.ftruncate(fd, 0)
                handle.write(data)
                if new and self.owner is not None:
                    os.fchown(fd, *self.owner)

    def delete(self, relative: str) -> bool:
        """Remove a regular file; False when there is none (a link, a directory, a FIFO is left alone)."""
        with contextlib.suppress(FileNotFoundError, NotADirectoryError), self.parent(relative) as (parent, name):
            if stat.S_ISREG(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode):
                os.unlink(name, dir_fd=parent)
                return True
        return False

    def walk(self, relative: str = ".", *, skip: frozenset[str] = SKIPPED_DIRS, max_depth: int = 64) -> Iterator[Entry]:
        """Every non-directory entry under `relative`, sorted, never descending through a link or into `skip`."""
        with self.directory(relative) as top:
            base = confine(relative) or "."
            yield from _walk(top, "" if base == "." else base + "/", skip, max_depth)

    def texts(
        self,
        relative: str = ".",
        *,
        suffix: str,
        skip: frozenset[str] = SKIPPED_DIRS,
        max_depth: int = 64,
        max_files: int = MAX_TEXT_FILES,
        max_bytes: int = MAX_TEXT_BYTES,
    ) -> Iterator[tuple[str, str]]:
        """(path, text) of at most max_files regular files named *suffix under `relative`, each at most max_bytes.

        Bigger files and anything but a regular file are skipped; text is decoded as UTF-8 (bad bytes replaced).
        """
        seen = 0
        for entry in self.walk(relative, skip=skip, max_depth=max_depth):
            if not entry.regular or not entry.name.endswith(suffix):
                continue
            seen += 1
            if seen > max_files:
                return
            try:
                data = read_regular(entry.name, entry.dir_fd, max_bytes)
            except OSError:
                continue  # swapped for a link, a FIFO or a device since it was listed, or gone
            if len(data) <= max_bytes:
                yield entry.path, data.decode("utf-8", errors="replace")

    def listdir(self, relative: str) -> list[Entry]:
        """The non-directory entries directly in `relative` (no link followed)."""
        with self.directory(relative) as fd:
            base = confine(relative) or "."
            return list(_walk(fd, "" if base == "." else base + "/", SKIPPED_DIRS, 0))


def _walk(fd: int, prefix: str, skip: frozenset[str], depth: int) -> Iterator[Entry]:
    with os.scandir(fd) as scan:
        entries = sorted(scan, key=lambda entry: entry.name)
    for entry in entries:
        if entry.name in skip:
            continue
        try:
            is_dir = entry.is_dir(follow_symlinks=False)
            regular = entry.is_file(follow_symlinks=False)
        except OSError:
            continue
        if not is_dir:
            yield Entry(prefix + entry.name, entry.name, fd, regular)
        elif depth > 0:
            try:
                child = os.open(entry.name, DIR_FLAGS, dir_fd=fd)
            except OSError:
                continue  # swapped for a link, or gone, since it was listed
            try:
                yield from _walk(child, f"{prefix}{entry.name}/", skip, depth - 1)
            finally:
                os.close(child)
