"""Tool policy: which commands, paths and SQL an agent may use. Pure functions over plain data.

A policy file (YAML, see policies/default.yaml) is validated into `Policy`. Every check returns a
`Decision` naming the rule that decided, so `agentd policy check` and the audit trail can say why.
"""

from __future__ import annotations

import fnmatch
import shlex
from dataclasses import dataclass
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agentd.kernel.errors import ConfigError

SqlKind = Literal["select", "explain", "show"]
SQL_KINDS: tuple[SqlKind, ...] = ("select", "explain", "show")
SHELL_OPERATORS = (";", "&&", "||", "|", "`", "$(", ">", "<", "&", "\n", "${")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PolicyConfig(_Model):
    """Which policy file governs the tools."""

    file: Path | None = Field(None, description="A policy YAML; default: the packaged policies/default.yaml.")


class CommandRule(_Model):
    """An argv pattern: '*' matches one argument (glob inside it), '**' any number; 'a|b' either."""

    name: str
    argv: list[str] = Field(min_length=1)


class CommandRules(_Model):
    """Command allowlist: deny rules first, then allow rules; the first match wins."""

    deny: list[CommandRule] = Field(default_factory=list)
    allow: list[CommandRule] = Field(default_factory=list)
    wrappers: list[str] = Field(default_factory=list, description="Looked through, e.g. `timeout 5 X` is X.")


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


# Wrapper options whose value is the next argument: unknown, `env -u ls sh` would be judged as `ls`.
WRAPPER_VALUE_OPTIONS: dict[str, frozenset[str]] = {
    "env": frozenset({"-u", "--unset", "-C", "--chdir"}),
    "timeout": frozenset({"-s", "--signal", "-k", "--kill-after"}),
    "nice": frozenset({"-n", "--adjustment"}),
    "stdbuf": frozenset({"-i", "-o", "-e", "--input", "--output", "--error"}),
    "ionice": frozenset({"-c", "--class", "-n", "--classdata", "-p", "--pid", "-P", "--pgid", "-u", "--uid"}),
    "time": frozenset({"-f", "--format", "-o", "--output"}),
}
# Wrapper options that make the command out of a string (`env -S 'sh -c id'`): nothing after them can be judged.
WRAPPER_SPLIT_OPTIONS: dict[str, frozenset[str]] = {"env": frozenset({"-S", "--split-string"})}


def _wrapper_option(wrapper: str, option: str) -> tuple[bool, bool]:
    """(takes the next argument as its value, builds the command from a string) for one wrapper option."""
    values = WRAPPER_VALUE_OPTIONS.get(wrapper, frozenset())
    splits = WRAPPER_SPLIT_OPTIONS.get(wrapper, frozenset())
    if option.startswith("--"):
        name = option.split("=", 1)[0]
        return name in values and "=" not in option, name in splits
    for position, letter in enumerate(option[1:], 1):  # a cluster (-iu): the first option taking a value ends it
        if f"-{letter}" in splits:
            return False, True
        if f"-{letter}" in values:
            return position == len(option) - 1, False
    return False, False


def unwrap(argv: list[str], wrappers: list[str]) -> list[str]:
    """Strip wrapper commands (`env A=1`, `timeout 5`, `nice -n 5`) to find the real command.

    An option that builds the command from a string (`env -S`) ends the look-through there, so the
    option itself is judged as the command, and refused.
    """
    while argv and argv[0] in wrappers:
        wrapper, argv = argv[0], argv[1:]
        # wrapper options, their values, and env assignments come before the real command
        while argv and (argv[0].startswith("-") or "=" in argv[0] or argv[0].replace(".", "").isdigit()):
            if argv[0].startswith("-"):
                takes_value, splits = _wrapper_option(wrapper, argv[0])
                if splits:
                    return argv
                if takes_value:
                    argv = argv[1:]
            argv = argv[1:]
    return argv


def check_command(policy: Policy, argv: list[str], role: str = "") -> Decision:
    """Decide on one argv: role limits, then deny rules, then allow rules; default deny."""
    if not argv or not argv[0]:
        return Decision(False, "empty-command", "no command given")
    if not policy.role(role).commands:
        return Decision(False, f"role:{role}", f"the {role} role may not run commands")
    real = unwrap(argv, policy.commands.wrappers)
    if not real:
        return Decision(False, "wrapper-only", "a wrapper with no command")
    if "/" in real[0]:
        return Decision(False, "command-path", "name the command (e.g. 'go'), not a path to a program")
    for rule in policy.commands.deny:
        if argv_matches(rule.argv, real):
            return Decision(False, rule.name, f"denied by pattern {rule.argv}")
    for rule in policy.commands.allow:
        if argv_matches(rule.argv, real):
            return Decision(True, rule.name)
    return Decision(False, "not-allowlisted", f"{real[0]!r} with these arguments is on no allow rule")


# ---------------------------------------------------------------- paths


def _glob(pattern: str, path: str) -> bool:
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


def check_path(policy: Policy, relative: str, *, write: bool, role: str = "") -> Decision:
    """Decide on a resolved workspace-relative path; `.git` anywhere is always refused."""
    if ".git" in PurePosixPath(relative).parts:
        return Decision(False, "git-metadata", ".git is agentd's; it is never read or written by tools")
    if write and not policy.role(role).write:
        return Decision(False, f"role:{role}", f"the {role} role may read but not write")
    for pattern in policy.paths.deny:
        if _glob(pattern, relative):
            return Decision(False, f"paths.deny:{pattern}", f"{relative} matches a denied glob")
    for pattern in policy.paths.allow:
        if _glob(pattern, relative):
            return Decision(True, f"paths.allow:{pattern}")
    return Decision(False, "paths:not-allowed", f"{relative} matches no allowed glob")
