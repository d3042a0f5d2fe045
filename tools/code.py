"""The `code` tool: read, write and search files inside the job's workspace, under path policy."""

from __future__ import annotations

import contextlib
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agentd.kernel.policy import Decision, Policy, check_path, resolve_path

MAX_READ_BYTES = 256_000
MAX_MATCHES = 200
MAX_LISTED = 500
WRITE_ACTIONS = frozenset({"create", "update", "delete", "replace"})
# Every open walks down from the workspace without following a symlink: a path checked by decide()
# may since have had a directory swapped for a symlink by a process in the sandbox (agentd runs as
# root), and O_NONBLOCK keeps a FIFO planted there from hanging the daemon.
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class CodeArgs(BaseModel):
    """Arguments of the `code` tool."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["read", "create", "update", "delete", "list", "search", "replace"] = Field(
        description="read/create/update/delete a file, list a directory, search files, or replace text once"
    )
    file_path: str = Field(".", description="Path relative to the workspace root")
    content: str | None = Field(None, description="New file content, for create and update")
    old_text: str | None = Field(None, description="replace: the exact text to find; it must occur exactly once")
    new_text: str | None = Field(None, description="replace: the text to put in its place")
    pattern: str | None = Field(None, description="search: a regular expression (Python syntax)")


class CodeError(Exception):
    """A code action that cannot be done; the message goes back to the model."""


class CodeTool:
    """File access confined to one workspace; every path is resolved and checked before use."""

    def __init__(self, workspace: Path, policy: Policy) -> None:
        self.workspace = workspace.resolve()
        self.policy = policy

    def decide(self, args: CodeArgs, role: str) -> tuple[Decision, Path | None]:
        """Resolve the path and decide on it; (decision, absolute path or None)."""
        try:
            target, relative = resolve_path(self.workspace, args.file_path)
        except ValueError as exc:
            return Decision(False, "path-outside-workspace", str(exc)), None
        if args.action in {"list", "search"} and relative == ".":
            return Decision(True, "workspace-root"), target
        return check_path(self.policy, relative, write=args.action in WRITE_ACTIONS, role=role), target

    def run(self, args: CodeArgs, target: Path) -> dict[str, Any]:
        """Do an allowed action; raises CodeError with a message for the model."""
        action = getattr(self, f"_{args.action}")
        result: dict[str, Any] = action(args, target)
        return result

    def _rel(self, path: Path) -> str:
        return path.relative_to(self.workspace).as_posix()

    @contextlib.contextmanager
    def _parent(self, target: Path, *, make: bool = False) -> Iterator[int]:
        """A descriptor of target's directory, reached from the workspace root through no symlink."""
        fd = os.open(self.workspace, _DIR_FLAGS)
        try:
            for part in target.relative_to(self.workspace).parts[:-1]:
                if make:
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(part, 0o775, dir_fd=fd)
                        self._give_to_workspace_owner(part, fd)
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = child
            yield fd
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def _directory(self, target: Path) -> Iterator[int]:
        """A descriptor of the directory `target`, reached through no symlink."""
        if target == self.workspace:
            fd = os.open(self.workspace, _DIR_FLAGS)
        else:
            with self._parent(target) as parent:
                fd = os.open(target.name, _DIR_FLAGS, dir_fd=parent)
        try:
            yield fd
        finally:
            os.close(fd)

    def _read_bytes(self, target: Path, name: str) -> bytes:
        """The bytes of a regular file (not a link, FIFO or device), at most MAX_READ_BYTES + 1 of them."""
        try:
            with self._parent(target) as parent:
                return _read_regular(target.name, parent)
        except OSError:
            raise CodeError(f"{name}: no such file") from None

    def _read(self, args: CodeArgs, target: Path) -> dict[str, Any]:
        data = self._read_bytes(target, args.file_path)
        text = data[:MAX_READ_BYTES].decode("utf-8", errors="replace")
        return {"file_path": self._rel(target), "content": text, "truncated": len(data) > MAX_READ_BYTES}

    def _write(self, target: Path, content: str, *, new: bool) -> None:
        flags = os.O_WRONLY | _FILE_FLAGS | (os.O_CREAT | os.O_EXCL if new else 0)
        with self._parent(target, make=new) as parent:
            fd = os.open(target.name, flags, 0o664, dir_fd=parent)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    raise CodeError(f"{self._rel(target)}: not a regular file")
                os.ftruncate(fd, 0)
                handle.write(content)
                if new and os.geteuid() == 0:
                    owner = self.workspace.stat()
                    os.fchown(fd, owner.st_uid, owner.st_gid)

    def _give_to_workspace_owner(self, name: str, dir_fd: int) -> None:
        # When agentd runs as root the workspace belongs to the sandbox user; keep new directories theirs.
        if os.geteuid() != 0:
            return
        owner = self.workspace.stat()
        os.chown(name, owner.st_uid, owner.st_gid, dir_fd=dir_fd, follow_symlinks=False)

    def _create(self, args: CodeArgs, target: Path) -> dict[str, Any]:
        if args.content is None:
            raise CodeError("create needs content")
        try:
            self._write(target, args.content, new=True)
        except FileExistsError:
            raise CodeError(f"{args.file_path} exists; use update or replace") from None
        return {"file_path": self._rel(target), "bytes": len(args.content.encode())}

    def _update(self, args: CodeArgs, target: Path) -> dict[str, Any]:
        if args.content is None:
            raise CodeError("update needs content")
        try:
            self._write(target, args.content, new=False)
        except (FileNotFoundError, NotADirectoryError):
            raise CodeError(f"{args.file_path}: no such file; use create") from None
        return {"file_path": self._rel(target), "bytes": len(args.content.encode())}

    def _delete(self, args: CodeArgs, target: Path) -> dict[str, Any]:
        mode = 0
        with contextlib.suppress(FileNotFoundError, NotADirectoryError), self._parent(target) as parent:
            mode = os.stat(target.name, dir_fd=parent, follow_symlinks=False).st_mode
            if stat.S_ISREG(mode):
                os.unlink(target.name, dir_fd=parent)
        if not stat.S_ISREG(mode):
            raise CodeError(f"{args.file_path}: no such file")
        return {"file_path": self._rel(target), "deleted": True}

    def _replace(self, args: CodeArgs, target: Path) -> dict[str, Any]:
        if args.old_text is None or args.new_text is None:
            raise CodeError("replace needs old_text and new_text")
        text = self._read_bytes(target, args.file_path).decode("utf-8")
        count = text.count(args.old_text) if args.old_text else 0
        if count != 1:
            raise CodeError(f"old_text occurs {count} times in {args.file_path}; it must occur exactly once")
        self._write(target, text.replace(args.old_text, args.new_text, 1), new=False)
        return {"file_path": self._rel(target), "replaced": 1}

    def _files(self, root: Path) -> Iterator[tuple[str, str, int]]:
        """(workspace-relative path, name, directory fd) of every file under root, .git left out.

        os.fwalk holds each directory open and never descends through a symlink, even one swapped
        in while it walks; the fds are valid only until the next item.
        """
        with self._directory(root) as top:
            for directory, dirs, files, fd in os.fwalk(".", dir_fd=top):
                dirs[:] = sorted(d for d in dirs if d != ".git")
                base = (root / directory).relative_to(self.workspace)
                for name in sorted(files):
                    if name != ".git":
                        yield (base / name).as_posix(), name, fd

    def _list(self, args: CodeArgs, target: Path) -> dict[str, Any]:
        try:
            files = sorted(path for path, _name, _fd in self._files(target))
        except (FileNotFoundError, NotADirectoryError):
            raise CodeError(f"{args.file_path}: not a directory") from None
        return {"files": files[:MAX_LISTED], "truncated": len(files) > MAX_LISTED}

    def _search(self, args: CodeArgs, target: Path) -> dict[str, Any]:
        if not args.pattern:
            raise CodeError("search needs pattern")
        try:
            regex = re.compile(args.pattern)
        except re.error as exc:
            raise CodeError(f"pattern is not a valid regular expression: {exc}") from None
        matches: list[dict[str, Any]] = []
        for path, text in self._texts(target):
            for number, line in enumerate(text.splitlines(), 1):
                if regex.search(line):
                    matches.append({"file": path, "line": number, "text": line[:300]})
                    if len(matches) >= MAX_MATCHES:
                        return {"matches": matches, "truncated": True}
        return {"matches": matches, "truncated": False}

    def _texts(self, target: Path) -> Iterator[tuple[str, str]]:
        """(path, text) of each regular file to search: target itself, or every file under it."""
        try:
            with self._parent(target) as parent:
                is_dir = target == self.workspace or stat.S_ISDIR(
                    os.stat(target.name, dir_fd=parent, follow_symlinks=False).st_mode
                )
        except (FileNotFoundError, NotADirectoryError):
            raise CodeError(f"{self._rel(target)}: no such file or directory") from None
        if not is_dir:
            with contextlib.suppress(CodeError):
                data = self._read_bytes(target, self._rel(target))
                if len(data) <= MAX_READ_BYTES:
                    yield self._rel(target), data.decode("utf-8", errors="replace")
            return
        for path, name, fd in self._files(target):
            with contextlib.suppress(OSError):
                data = _read_regular(name, fd)
                if len(data) <= MAX_READ_BYTES:
                    yield path, data.decode("utf-8", errors="replace")


def _read_regular(name: str, dir_fd: int) -> bytes:
    """Up to MAX_READ_BYTES + 1 bytes of the regular file `name` in dir_fd; OSError for anything else."""
    fd = os.open(name, os.O_RDONLY | _FILE_FLAGS, dir_fd=dir_fd)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{name}: not a regular file")  # a directory, FIFO or device: nothing to read
        return handle.read(MAX_READ_BYTES + 1)
