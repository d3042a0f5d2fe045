"""The `code` tool: read, write and search files inside the job's workspace, under path policy."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agentd.kernel.policy import Decision, Policy, check_path, resolve_path
from agentd.kernel.worktree_files import WorktreeFiles
from tools.search import MAX_PATTERN_CHARS, SearchLimits, search_files

MAX_READ_BYTES = 256_000
MAX_REPLACE_BYTES = 8 * 1024 * 1024  # replace reads and rewrites the whole file: a sane cap, then a clear refusal
MAX_LISTED = 500
WRITE_ACTIONS = frozenset({"create", "update", "delete", "replace"})


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
    pattern: str | None = Field(
        None,
        max_length=MAX_PATTERN_CHARS,
        description="search: a regular expression in RE2 syntax (Python's, without backreferences or "
        "lookaround), matched against each line",
    )


class CodeError(Exception):
    """A code action that cannot be done; the message goes back to the model."""


class CodeTool:
    """File access confined to one workspace; every path is resolved and checked before use.

    Every file operation goes through agentd.kernel.worktree_files: a path checked by decide() may
    since have had a directory swapped for a symlink by a process in the sandbox, and a FIFO or a
    device planted there must not hang or flood the daemon.
    """

    def __init__(self, workspace: Path, policy: Policy, search_limits: SearchLimits | None = None) -> None:
        self.workspace = workspace.resolve()
        self.policy = policy
        self.search_limits = search_limits or SearchLimits()

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
        result: dict[str, Any] = action(args, self._rel(target))
        return result

    def _rel(self, path: Path) -> str:
        return path.relative_to(self.workspace).as_posix() if path != self.workspace else "."

    def _files(self) -> WorktreeFiles:
        # When agentd runs as root the workspace belongs to the sandbox user; keep what it creates theirs.
        if os.geteuid() != 0:
            return WorktreeFiles(self.workspace)
        owner = self.workspace.stat()
        return WorktreeFiles(self.workspace, owner=(owner.st_uid, owner.st_gid))

    def _read_bytes(self, relative: str, limit: int) -> bytes:
        """At most limit + 1 bytes of a regular file (not a link, FIFO or device)."""
        try:
            return self._files().read(relative, limit)
        except OSError:
            raise CodeError(f"{relative}: no such file") from None

    def _read(self, _args: CodeArgs, relative: str) -> dict[str, Any]:
        if relative == ".":  # file_path left out (it defaults to the root): say what to give
            raise CodeError('read needs file_path, a file relative to the workspace root; "list" shows the files')
        data = self._read_bytes(relative, MAX_READ_BYTES)
        text = data[:MAX_READ_BYTES].decode("utf-8", errors="replace")
        return {"file_path": relative, "content": text, "truncated": len(data) > MAX_READ_BYTES}

    def _create(self, args: CodeArgs, relative: str) -> dict[str, Any]:
        if args.content is None:
            raise CodeError("create needs content")
        data = args.content.encode()
        try:
            self._files().write(relative, data, new=True)
        except FileExistsError:
            raise CodeError(f"{args.file_path} exists; use update or replace") from None
        return {"file_path": relative, "bytes": len(data)}

    def _update(self, args: CodeArgs, relative: str) -> dict[str, Any]:
        if args.content is None:
            raise CodeError("update needs content")
        data = args.content.encode()
        self._overwrite(relative, data, args.file_path)
        return {"file_path": relative, "bytes": len(data)}

    def _overwrite(self, relative: str, data: bytes, shown: str) -> None:
        try:
            self._files().write(relative, data, new=False)
        except (FileNotFoundError, NotADirectoryError):
            raise CodeError(f"{shown}: no such file; use create") from None
        except OSError:
            raise CodeError(f"{shown}: not a regular file") from None

    def _delete(self, args: CodeArgs, relative: str) -> dict[str, Any]:
        if not self._files().delete(relative):
            raise CodeError(f"{args.file_path}: no such file")
        return {"file_path": relative, "deleted": True}

    def _replace(self, args: CodeArgs, relative: str) -> dict[str, Any]:
        if args.old_text is None or args.new_text is None:
            raise CodeError("replace needs old_text and new_text")
        data = self._read_bytes(relative, MAX_REPLACE_BYTES)
        if len(data) > MAX_REPLACE_BYTES:
            raise CodeError(
                f"{args.file_path} is larger than {MAX_REPLACE_BYTES // (1024 * 1024)} MiB, the most replace "
                "rewrites; nothing was changed. Edit a smaller file, or split this one."
            )
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise CodeError(f"{args.file_path} is not UTF-8 text; replace edits text files only") from None
        count = text.count(args.old_text) if args.old_text else 0
        if count != 1:
            raise CodeError(f"old_text occurs {count} times in {args.file_path}; it must occur exactly once")
        self._overwrite(relative, text.replace(args.old_text, args.new_text, 1).encode(), args.file_path)
        return {"file_path": relative, "replaced": 1}

    def _list(self, args: CodeArgs, relative: str) -> dict[str, Any]:
        files: list[str] = []
        try:
            for entry in self._files().walk(relative):
                files.append(entry.path)
                if len(files) > MAX_LISTED:
                    break
        except (FileNotFoundError, NotADirectoryError):
            raise CodeError(f"{args.file_path}: not a directory") from None
        return {"files": sorted(files)[:MAX_LISTED], "truncated": len(files) > MAX_LISTED}

    def _search(self, args: CodeArgs, relative: str) -> dict[str, Any]:
        if not args.pattern:
            raise CodeError("search needs pattern, a regular expression to find in each line; file_path narrows it")
        try:
            return search_files(self._files(), relative, args.pattern, self.search_limits, MAX_READ_BYTES)
        except ValueError as exc:
            raise CodeError(str(exc)) from None
