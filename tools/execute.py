"""The `execute_command` tool: one allowlisted command, never through a shell, in the job's sandbox."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agentd.kernel.policy import (
    Decision,
    Policy,
    argument_paths,
    check_command,
    check_denied_paths,
    resolve_path,
    split_command,
)
from agentd.kernel.seams import CommandResult, Sandbox


class ExecuteCommandArgs(BaseModel):
    """Arguments of the `execute_command` tool."""

    model_config = ConfigDict(extra="forbid")

    command: list[str] | str = Field(description="argv list (preferred), or one command string without shell operators")
    working_dir: str = Field(".", description="Directory relative to the workspace root")
    timeout_s: float | None = Field(None, gt=0, description="Deadline in seconds (capped by the sandbox limit)")


class ExecuteCommandTool:
    """Checks a command against the policy, then runs it in the sandbox."""

    def __init__(self, sandbox: Sandbox, policy: Policy, max_timeout_s: float) -> None:
        self.sandbox = sandbox
        self.policy = policy
        self.max_timeout_s = max_timeout_s

    def decide(self, args: ExecuteCommandArgs, role: str) -> tuple[Decision, list[str]]:
        """Split and check the command and its directory; (decision, argv)."""
        try:
            argv = split_command(args.command)
        except ValueError as exc:
            return Decision(False, "shell-syntax", str(exc)), []
        try:
            _, relative = resolve_path(self.sandbox.workspace, args.working_dir)
        except ValueError as exc:
            return Decision(False, "path-outside-workspace", str(exc)), argv
        if ".git" in relative.split("/"):
            return Decision(False, "git-metadata", "commands may not run inside .git"), argv
        decision = check_command(self.policy, argv, role)
        if not decision.allowed:
            return decision, argv
        return self._check_argument_paths(argv, relative) or decision, argv

    def _check_argument_paths(self, argv: list[str], cwd: str) -> Decision | None:
        """Apply the path deny globs to what the arguments name: as written, and with links in the workspace
        resolved (`cat link` where link -> .env). A guard-rail: code run by a command can still open any file."""
        named = argument_paths(argv[1:], cwd)
        resolved = []
        for path in named:
            try:
                resolved.append(resolve_path(self.sandbox.workspace, path)[1])
            except ValueError:
                continue  # it leads out of the workspace, where the sandbox has nothing of the host
        return check_denied_paths(self.policy, named + resolved)

    def run(self, args: ExecuteCommandArgs, argv: list[str]) -> CommandResult:
        """Run an allowed argv in the sandbox."""
        timeout = min(args.timeout_s or self.max_timeout_s, self.max_timeout_s)
        _, relative = resolve_path(self.sandbox.workspace, args.working_dir)
        return self.sandbox.run(argv, cwd=relative, timeout_s=timeout)


def command_output(result: CommandResult) -> dict[str, Any]:
    """The model-facing view of a command result."""
    return {
        "exit_code": result.exit_code,
        "stdout": result.stdout,
        "stderr": result.stderr,
        "truncated": result.truncated,
        "timed_out": result.timed_out,
        "duration_ms": round(result.duration_ms, 1),
    }
