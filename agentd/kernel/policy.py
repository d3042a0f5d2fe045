"""Tool policy: which commands, paths and SQL an agent may use. Pure functions over plain data.

A policy file (YAML, see policies/default.yaml) is validated into `Policy`. Every check returns a
`Decision` naming the rule that decided, so `agentd policy check` and the audit trail can say why.
"""

from __future__ import annotations

import fnmatch
import posixpath
import shlex
from dataclasses import dataclass
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agentd.kernel.errors import ConfigError
from agentd.kernel.wrappers import GRAMMARS, WrapperError, unwrap

SqlKind = Literal["select", "explain", "show"]
SQL_KINDS: tuple[SqlKind, ...] = ("select", "explain", "show")
SHELL_OPERATORS = (";", "&&", "||", "|", "`", "$(", ">", "<", "&", "\n", "${")
CONTAINER_WORKSPACE = "/workspace"  # where the sandbox mounts the workspace (sandbox.docker.WORKSPACE)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PolicyConfig(_Model):
    """Which policy file governs the tools."""

    file: Path | None = Field(None, description="A policy YAML; default: the packaged policies/default.yaml.")


class CommandRule(_Model):
    """An argv pattern: '*' matches one argument (glob inside it), '**' any number; 'a|b' either."""

    name: str
    argv: list[str] = Field(min_length=1)


class ReadOnlyCommandRules(_Model):
    """What roles that may not write run: these allow rules instead of the others, these deny rules as well."""

    deny: list[CommandRule] = Field(default_factory=list)
    allow: list[CommandRule] = Field(default_factory=list)


class CommandRules(_Model):
    """Command allowlist: deny rules first, then allow rules; the first match wins."""

    deny: list[CommandRule] = Field(default_factory=list)
    allow: list[CommandRule] = Field(default_factory=list)
    read_only: ReadOnlyCommandRules = Field(
        default_factory=ReadOnlyCommandRules, description="For roles with write: false (none run anything if empty)."
    )
    wrappers: list[str] = Field(default_factory=list, description="Looked through, e.g. `timeout 5 X` is X.")

    @field_validator("wrappers")
    @classmethod
    def _known_wrappers(cls, wrappers: list[str]) -> list[str]:
        unknown = sorted(set(wrappers) - set(GRAMMARS))
        if unknown:
            raise ValueError(f"agentd cannot parse the options of {unknown}; it knows {sorted(GRAMMARS)}")
        return wrappers


class PathRules(_Model):
    """Workspace-relative path globs; `.git` is refused whatever these say."""

    deny: list[str] = Field(default_factory=list)
    allow: list[str] = Field(default_factory=lambda: ["**"])


class SqlRules(_Model):
    """What query_database accepts: statement kinds, and the functions a statement may call."""

    statements: list[SqlKind] = Field(default_factory=lambda: list(SQL_KINDS))
    builtin_functions: bool = Field(
        True, description="Allow PostgreSQL's built-ins that only compute (policies/sql_functions.txt)."
    )
    allowed_functions: list[str] = Field(
        default_factory=list,
        description="More functions a statement may call: globs over `name` or `schema.name`, e.g. `app.*`.",
    )
    denied_functions: list[str] = Field(
        default_factory=list, description="Globs over names refused even when allowed above, e.g. `dblink*`."
    )


class RoleRules(_Model):
    """Limits a role adds on top of the policy: no writes, no commands, no SQL."""

    write: bool = True
    commands: bool = True
    sql: bool = True


class Policy(_Model):
    """A whole policy file."""

    version: Literal[1] = 1
    commands: CommandRules = Field(default_factory=CommandRules)
    paths: PathRules = Field(default_factory=PathRules)
    sql: SqlRules = Field(default_factory=SqlRules)
    roles: dict[str, RoleRules] = Field(default_factory=dict)
    sandbox_env: list[str] = Field(default_factory=list, description="agentd variables a sandbox may see.")
    sandbox_network: str | None = Field(
        None, description="One Docker network sandboxes may join (the target database's); no network otherwise."
    )

    def role(self, role: str) -> RoleRules:
        """The limits for one role (none when unlisted)."""
        return self.roles.get(role, RoleRules())


@dataclass(frozen=True)
class Decision:
    """The outcome of one policy check and the rule that made it."""

    allowed: bool
    rule: str
    reason: str = ""

    def __str__(self) -> str:
        verdict = "allow" if self.allowed else "deny"
        return f"{verdict} (rule: {self.rule})" + (f": {self.reason}" if self.reason else "")


def load_policy(path: Path | None = None) -> Policy:
    """Load a policy file, or the packaged default; errors name the file and the key."""
    if path is None:
        text = resources.files("policies").joinpath("default.yaml").read_text(encoding="utf-8")
        source = "policies/default.yaml"
    else:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"policy file {path}: cannot read: {exc}") from None
        source = str(path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from None
    try:
        return Policy.model_validate(data or {})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{source}: {problems}") from None


# ---------------------------------------------------------------- commands


def split_command(command: str | list[str]) -> list[str]:
    """An argv list from a list or a string; a string holding shell operators is refused."""
    if isinstance(command, list):
        return [str(part) for part in command]
    for operator in SHELL_OPERATORS:
        if operator in command:
            raise ValueError(f"shell operator {operator!r} is not allowed; pass one command as an argv list")
    try:
        return shlex.split(command)
    except ValueError as exc:
        raise ValueError(f"cannot split command: {exc}") from None


def _token_matches(pattern: str, token: str) -> bool:
    return any(fnmatch.fnmatchcase(token, alternative) for alternative in pattern.split("|"))


def argv_matches(pattern: list[str], argv: list[str]) -> bool:
    """Whether argv matches an argv pattern ('*' one argument, '**' zero or more)."""
    if not pattern:
        return not argv
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(argv_matches(rest, argv[i:]) for i in range(len(argv) + 1))
    if not argv:
        return False
    return _token_matches(head, argv[0]) and argv_matches(rest, argv[1:])


def check_command(policy: Policy, argv: list[str], role: str = "") -> Decision:
    """Decide on one argv: role limits, then deny rules, then allow rules; default deny.

    A role that may not write is judged by commands.read_only (its deny rules after the common
    ones, its allow rules instead of the common ones) and may not set environment variables.
    """
    if not argv or not argv[0]:
        return Decision(False, "empty-command", "no command given")
    limits = policy.role(role)
    if not limits.commands:
        return Decision(False, f"role:{role}", f"the {role} role may not run commands")
    try:
        unwrapped = unwrap(argv, policy.commands.wrappers)
    except WrapperError as exc:
        return Decision(False, "wrapper-option", f"{argv[0]}: {exc}")
    real = unwrapped.command
    if not real:
        return Decision(False, "wrapper-only", "a wrapper with no command")
    if "/" in real[0]:
        return Decision(False, "command-path", "name the command (e.g. 'go'), not a path to a program")
    if not limits.write and unwrapped.assignments:
        return Decision(False, f"role:{role}", f"the {role} role may not set environment variables for a command")
    deny, allow = policy.commands.deny, policy.commands.allow
    if not limits.write:
        deny, allow = deny + policy.commands.read_only.deny, policy.commands.read_only.allow
    for rule in deny:
        if argv_matches(rule.argv, real):
            return Decision(False, rule.name, f"denied by pattern {rule.argv}")
    for rule in allow:
        if argv_matches(rule.argv, real):
            return Decision(True, rule.name)
    which = f"read-only rule (the {role} role may not write)" if not limits.write else "allow rule"
    return Decision(False, "not-allowlisted", f"{real[0]!r} with these arguments is on no {which}")


# ---------------------------------------------------------------- paths


def glob_matches(pattern: str, path: str) -> bool:
    """Whether a workspace-relative path matches a glob (`*` crosses `/`; a leading `**/` also matches at the root)."""
    if pattern.startswith("**/") and fnmatch.fnmatchcase(path, pattern[3:]):
        return True
    return fnmatch.fnmatchcase(path, pattern)


def resolve_path(workspace: Path, file_path: str) -> tuple[Path, str]:
    """Resolve a workspace-relative path, following symlinks; raise ValueError if it escapes."""
    if not file_path or "\x00" in file_path:
        raise ValueError("file_path is empty or holds a NUL byte")
    if PurePosixPath(file_path).is_absolute():
        raise ValueError(f"{file_path!r} is absolute; give a path relative to the workspace root")
    root = workspace.resolve()
    target = (root / file_path).resolve()
    if target != root and root not in target.parents:
        raise ValueError(f"{file_path!r} resolves outside the workspace")
    return target, target.relative_to(root).as_posix() if target != root else "."


def argument_paths(argv: list[str], cwd: str) -> list[str]:
    """The workspace-relative paths the arguments may name, read lexically from `cwd`: each argument, the
    value after '=' (`--file=x`, `NAME=x`) and a value glued to a short option (`-fx`); /workspace/… maps to
    the workspace, and a path outside it (where the sandbox holds nothing of the host) is left out."""
    found: list[str] = []
    for arg in argv:
        candidates = [arg, arg.partition("=")[2]]
        if arg.startswith("-") and not arg.startswith("--"):
            candidates.append(arg[2:])
        for candidate in candidates:
            relative = _workspace_relative(candidate, cwd)
            if relative is not None:
                found.append(relative)
    return found


def _workspace_relative(path: str, cwd: str) -> str | None:
    if not path or "\x00" in path:
        return None
    if path.startswith("/"):
        if path != CONTAINER_WORKSPACE and not path.startswith(CONTAINER_WORKSPACE + "/"):
            return None
        path, cwd = path[len(CONTAINER_WORKSPACE) :].lstrip("/") or ".", "."
    normal = posixpath.normpath(posixpath.join(cwd, path))
    return None if normal == ".." or normal.startswith("../") else normal


def check_denied_paths(policy: Policy, paths: list[str]) -> Decision | None:
    """Refuse when any of the workspace-relative `paths` matches a deny glob; None when none does."""
    for relative in paths:
        for pattern in policy.paths.deny:
            if glob_matches(pattern, relative):
                return Decision(
                    False, f"paths.deny:{pattern}", f"{relative} matches a denied glob; commands may not name it either"
                )
    return None


def check_path(policy: Policy, relative: str, *, write: bool, role: str = "") -> Decision:
    """Decide on a resolved workspace-relative path; `.git` anywhere is always refused."""
    if ".git" in PurePosixPath(relative).parts:
        return Decision(False, "git-metadata", ".git is agentd's; it is never read or written by tools")
    if write and not policy.role(role).write:
        return Decision(False, f"role:{role}", f"the {role} role may read but not write")
    for pattern in policy.paths.deny:
        if glob_matches(pattern, relative):
            return Decision(False, f"paths.deny:{pattern}", f"{relative} matches a denied glob")
    for pattern in policy.paths.allow:
        if glob_matches(pattern, relative):
            return Decision(True, f"paths.allow:{pattern}")
    return Decision(False, "paths:not-allowed", f"{relative} matches no allowed glob")
