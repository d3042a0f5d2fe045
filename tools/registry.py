"""The toolbox: the three agent tools behind one call, with validation, policy and an audit trail.

A call never raises to the model: bad JSON, unknown tools, refused paths or commands and tool
failures all come back as a structured error result the model can act on, and each is audited.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ValidationError

from agentd.kernel import trace
from agentd.kernel.policy import Policy
from agentd.kernel.redact import Redactor
from agentd.kernel.seams import ToolResult, ToolSpec
from tools.code import CodeArgs, CodeError, CodeTool
from tools.execute import ExecuteCommandArgs, ExecuteCommandTool, command_output
from tools.profile import PROFILE_DESCRIPTION, ProfileArgs, run_profile
from tools.query import QueryDatabaseArgs, QueryDatabaseTool

Audit = Callable[[dict[str, Any]], object]

DESCRIPTIONS = {
    "code": "Read, create, update, delete, list, search or replace text in files of the workspace. "
    "Paths are relative to the workspace root. `replace` needs old_text to occur exactly once.",
    "execute_command": "Run one allowlisted command (argv list) in the sandbox: no shell, no network. "
    "Returns exit_code, stdout, stderr, duration_ms.",
    "query_database": "Run one read-only SQL statement (SELECT, WITH … SELECT, EXPLAIN, SHOW) against the "
    "project's PostgreSQL in a rolled-back READ ONLY transaction; explain = none | plan | analyze.",
}
ARGUMENTS: dict[str, type[BaseModel]] = {
    "code": CodeArgs,
    "execute_command": ExecuteCommandArgs,
    "query_database": QueryDatabaseArgs,
    "profile": ProfileArgs,
}
DESCRIPTIONS["profile"] = PROFILE_DESCRIPTION


def schema_of(model: type[BaseModel]) -> dict[str, Any]:
    """A JSON schema a model provider accepts (inlined, no titles)."""
    schema = model.model_json_schema()
    schema.pop("title", None)
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)
    return schema


def tool_spec(name: str) -> ToolSpec:
    """The spec of one of the three tools."""
    return ToolSpec(name, DESCRIPTIONS[name], schema_of(ARGUMENTS[name]))


class Toolbox:
    """The tools one job's agents share; role decides what each may do."""

    def __init__(
        self,
        code: CodeTool,
        execute: ExecuteCommandTool | None,
        query: QueryDatabaseTool | None,
        policy: Policy,
        redactor: Redactor,
        audit: Audit | None = None,
        read_only_execute: ExecuteCommandTool | None = None,
    ) -> None:
        self.code = code
        self.execute = execute
        self.read_only_execute = read_only_execute
        self.query = query
        self.policy = policy
        self.redactor = redactor
        self.audit = audit or (lambda _record: None)

    def _executor(self, role: str) -> ExecuteCommandTool | None:
        """Where a role's commands run: a role that may not write gets the read-only sandbox when there is one."""
        if not self.policy.role(role).write and self.read_only_execute is not None:
            return self.read_only_execute
        return self.execute

    def specs(self, role: str) -> list[ToolSpec]:
        """The tools a role is offered."""
        limits = self.policy.role(role)
        names = ["code"]
        if self.execute is not None and limits.commands:
            names += ["execute_command", "profile"]
        if self.query is not None and limits.sql:
            names.append("query_database")
        return [tool_spec(name) for name in names]

    def call(self, role: str, name: str, raw_arguments: str, agent: str = "", turn_seq: int = 0) -> ToolResult:
        """Validate, check, run and audit one tool call; never raises."""
        tool = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name}
        with trace.span(f"execute_tool {name}", **tool) as current:
            result, arguments, duration = self._call(role, name, raw_arguments)
            current.set_attributes({"agentd.decision": result.decision, "agentd.rule": result.rule})
        self.audit(
            {
                "agent": agent,
                "turn_seq": turn_seq,
                "tool": name,
                "arguments": json.dumps(self.redactor.value(arguments)),
                "decision": result.decision,
                "rule": result.rule,
                "ok": result.ok,
                "exit_code": result.output.get("exit_code"),
                "duration_ms": duration,
                "output": json.dumps(result.output)[:20_000],
            }
        )
        return result

    def _call(self, role: str, name: str, raw_arguments: str) -> tuple[ToolResult, Any, float]:
        """Validate, check and run one call; (redacted result, arguments as parsed, duration in ms)."""
        started = time.perf_counter()
        arguments: Any = raw_arguments
        try:
            arguments = json.loads(raw_arguments or "{}")
            result = self._dispatch(role, name, arguments)
        except json.JSONDecodeError as exc:
            result = ToolResult(False, {"error": f"arguments are not valid JSON: {exc}"}, "invalid", "json")
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}" for e in exc.errors())
            result = ToolResult(False, {"error": f"invalid arguments for {name}: {problems}"}, "invalid", "schema")
        except Exception as exc:  # noqa: BLE001 - a tool failure goes back to the model, never up the stack
            result = ToolResult(False, {"error": f"{name} failed: {exc}"}, "failed", "exception")
        duration = (time.perf_counter() - started) * 1000
        result = ToolResult(result.ok, self.redactor.value(result.output), result.decision, result.rule, duration)
        return result, arguments, duration

    def _dispatch(self, role: str, name: str, arguments: Any) -> ToolResult:
        if name == "code":
            return self._code(role, CodeArgs.model_validate(arguments))
        if name in {"execute_command", "profile"}:
            executor = self._executor(role)
            if executor is None or not self.policy.role(role).commands:
                return ToolResult(False, {"error": f"the {role} role may not run commands"}, "refused", f"role:{role}")
            if name == "profile":
                return run_profile(executor.sandbox, ProfileArgs.model_validate(arguments))
            return self._execute(role, executor, ExecuteCommandArgs.model_validate(arguments))
        if name == "query_database":
            if self.query is None:
                return ToolResult(False, {"error": "no target database is configured"}, "refused", "no-database")
            return self.query.run(QueryDatabaseArgs.model_validate(arguments), self.policy.role(role).sql)
        known = ", ".join(ARGUMENTS)
        return ToolResult(False, {"error": f"unknown tool {name!r}; the tools are {known}"}, "invalid", "unknown-tool")

    def _code(self, role: str, args: CodeArgs) -> ToolResult:
        decision, target = self.code.decide(args, role)
        if not decision.allowed or target is None:
            return ToolResult(False, {"error": f"refused: {decision.reason}"}, "refused", decision.rule)
        try:
            return ToolResult(True, self.code.run(args, target), "allowed", decision.rule)
        except (CodeError, OSError, UnicodeDecodeError) as exc:
            return ToolResult(False, {"error": str(exc)}, "failed", decision.rule)

    def _execute(self, role: str, executor: ExecuteCommandTool, args: ExecuteCommandArgs) -> ToolResult:
        decision, argv = executor.decide(args, role)
        if not decision.allowed:
            return ToolResult(False, {"error": f"refused: {decision.reason}", "argv": argv}, "refused", decision.rule)
        result = executor.run(args, argv)
        return ToolResult(result.ok, command_output(result), "allowed", decision.rule)
