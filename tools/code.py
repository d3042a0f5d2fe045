"""The `code` tool: read, write and search files inside the job's workspace, under path policy."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agentd.policy import Decision, Policy, check_path, resolve_path

MAX_READ_BYTES = 256_000
MAX_MATCHES = 200
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

    def _read(self, args: CodeArgs, target: Path) -> dict[str, Any]:
        if not target.is_file():
            raise CodeError(f"{args.file_path}: no such file")
        data = target.read_bytes()
        text = data[:MAX_READ_BYTES].decode("utf-8", errors="replace")
        return {"file_path": self._rel(target), "content": text, "truncated": len(data) > MAX_READ_BYTES}

    def _write(self, target: Path, content: str) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
        fd = os.open(target, flags, 0o664)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(content)
        self._give_to_workspace_owner(target)

    def _give_to_workspace_owner(self, target: Path) -> None:
        # When agentd runs as root the workspace belongs to the sandbox user; keep new files theirs.
        if os.geteuid() != 0:
            return
        owner = self.workspace.stat()
        path = target
        while path != self.workspace:
            os.chown(path, owner.st_uid, owner.st_gid, follow_symlinks=False)
            path = path.parent

    def _create(self, args: CodeArgs, target: Path) -> dict[str, Any]:
        if args.content is None:
            raise CodeError("create needs content")
        if target.exists():
            raise CodeError(f"{args.file_path} exists; use update or replace")
        self._write(target, args.content)
        return {"file_path": self._rel(target), "bytes": len(args.content.encode())}

    def _update(self, args: CodeArgs, target: Path) -> dict[str, Any]:
        if args.content is None:
            raise CodeError("update needs content")
        if not target.is_file():
            raise CodeError(f"{args.file_path}: no such file; use create")
        self._write(target, args.content)
        return {"file_path": self._rel(target), "bytes": len(args.content.encode())}

    def _delete(self, args: CodeArgs, target: Path) -> dict[str, Any]:
        if not target.is_file():
            raise CodeError(f"{args.file_path}: no such file")
        target.unlink()
        return {"file_path": self._rel(target), "deleted": True}

    def _replace(self, args: CodeArgs, target: Path) -> dict[str, Any]:
        if args.old_text is None or args.new_text is None:
            raise CodeError("replace needs old_text and new_text")
        if not target.is_file():
            raise CodeError(f"{args.file_path}: no such file")
        text = target.read_text(encoding="utf-8")
        count = text.count(args.old_text) if args.old_text else 0
        if count != 1:
            raise CodeError(f"old_text occurs {count} times in {args.file_path}; it must occur exactly once")
        self._write(target, text.replace(args.old_text, args.new_text, 1))
        return {"file_path": self._rel(target), "replaced": 1}

    def _files(self, root: Path) -> list[Path]:
        found: list[Path] = []
        for directory, dirs, files in os.walk(root):
            dirs[:] = sorted(d for d in dirs if d != ".git")
            found.extend(Path(directory) / name for name in sorted(files) if name != ".git")
        return found

    def _list(self, args: CodeArgs, target: Path) -> dict[str, Any]:
        if not target.is_dir():
            raise CodeError(f"{args.file_path}: not a directory")
        files = sorted(self._rel(p) for p in self._files(target))
        return {"files": files[:MAX_LISTED], "truncated": len(files) > MAX_LISTED}

    def _search(self, args: CodeArgs, target: Path) -> dict[str, Any]:
        if not args.pattern:
            raise CodeError("search needs pattern")
        try:
            regex = re.compile(args.pattern)
        except re.error as exc:
            raise CodeError(f"pattern is not a valid regular expression: {exc}") from None
        matches: list[dict[str, Any]] = []
        for path in self._files(target) if target.is_dir() else [target]:
            if path.is_symlink() or path.stat().st_size > MAX_READ_BYTES:
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
                if regex.search(line):
                    matches.append({"file": self._rel(path), "line": number, "text": line[:300]})
                    if len(matches) >= MAX_MATCHES:
                        return {"matches": matches, "truncated": True}
        return {"matches": matches, "truncated": False}
