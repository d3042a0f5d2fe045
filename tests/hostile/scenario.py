"""Steps agentd takes on one sandbox, played the same way by a root agentd (in-process) and a non-root one.

A non-root agentd is a real process of another uid: `python -m tests.hostile.scenario` run as that
uid with the Docker group, printing what it observed as JSON. Each step's observation is plain data.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agentd.kernel.errors import SandboxError
from sandbox.config import SandboxConfig
from sandbox.docker import DockerSandbox, DockerSandboxFactory, connect_docker

Step = dict[str, Any]


def _outcome(action: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    try:
        return action()
    except SandboxError as exc:
        return {"raised": type(exc).__name__, "message": str(exc)}


def _run(sandbox: DockerSandbox, step: Step) -> dict[str, Any]:
    def action() -> dict[str, Any]:
        result = sandbox.run(step["argv"], timeout_s=step.get("timeout_s", 60))
        return {
            "exit_code": result.exit_code,
            "stdout": result.stdout,
            "stderr": result.stderr,
            "timed_out": result.timed_out,
            "killed": getattr(result, "killed", 0),  # older agentd did not count them
        }

    return _outcome(action)


def processes(sandbox: DockerSandbox) -> list[str]:
    """The command lines of every process in the sandbox's container, seen from the host."""
    client = connect_docker()
    try:
        top = client.containers.get(sandbox.container_id).top(ps_args="-eo pid,args")
    finally:
        client.close()
    return [row[-1] for row in top.get("Processes") or []]


def run_dir_entries(run_dir: Path) -> list[str]:
    """What is in the host run directories of a factory (symlinks not followed): name and kind."""
    found = []
    for path in sorted(run_dir.rglob("*")):
        kind = "link" if path.is_symlink() else "socket" if path.is_socket() else "dir" if path.is_dir() else "file"
        found.append(f"{path.relative_to(run_dir)} {kind}")
    return found


def play(sandbox: DockerSandbox, run_dir: Path, steps: list[Step]) -> list[dict[str, Any]]:
    """Play the steps on an open sandbox; one observation per step."""
    observed: list[dict[str, Any]] = []
    background: list[threading.Thread] = []
    later: list[dict[str, Any]] = []
    for step in steps:
        op = step["op"]
        if op == "run":
            observed.append(_run(sandbox, step))
        elif op == "run_in_background":
            thread = threading.Thread(target=lambda s=step: later.append(_run(sandbox, s)))  # type: ignore[misc]
            thread.start()
            background.append(thread)
            observed.append({})
        elif op == "join":
            for thread in background:
                thread.join()
            observed.append({"results": list(later)})
        elif op == "freeze":
            observed.append(_outcome(lambda: {"killed": sandbox.freeze()}))
        elif op == "sleep":
            time.sleep(step["s"])
            observed.append({})
        elif op == "processes":
            observed.append({"processes": processes(sandbox)})
        elif op == "run_dir":
            observed.append({"entries": run_dir_entries(run_dir)})
        else:
            raise ValueError(f"unknown step {op!r}")
    return observed


def open_and_play(workspace: Path, run_dir: Path, config: SandboxConfig, steps: list[Step]) -> list[dict[str, Any]]:
    """Open a sandbox over `workspace`, play the steps, close it; the observations."""
    factory = DockerSandboxFactory(config, run_dir)
    with factory.open(workspace, "trust") as sandbox:
        return play(sandbox, run_dir, steps)


if __name__ == "__main__":
    workspace_arg, run_dir_arg, config_json, steps_json = sys.argv[1:]
    found = open_and_play(
        Path(workspace_arg), Path(run_dir_arg), SandboxConfig(**json.loads(config_json)), json.loads(steps_json)
    )
    print(json.dumps(found))
