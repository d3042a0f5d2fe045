"""What the protocols ask of a job: lanes (a workspace with its tools) and agentd's own evidence.

The job implements `Lanes` and `Lane` (agentd.job.lanes); the engine only asks for them by name
and never starts a container, opens a worktree or reads the configuration itself.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from agentd.engine.turn import Tools
from agentd.kernel.seams import CommandResult
from agentd.kernel.tampering import find_tampering

MAX_EVIDENCE = 6_000
_GO_RESULT = re.compile(r"^(ok|FAIL|---\s+(?:PASS|FAIL)):?\s+(\S+)", re.MULTILINE)


def tail(text: str, limit: int = MAX_EVIDENCE) -> str:
    """`text`, or its last `limit` characters after a note of how much was cut."""
    return text if len(text) <= limit else f"[… {len(text) - limit} bytes cut …]\n{text[-limit:]}"


def show_test_run(result: CommandResult, command: list[str]) -> str:
    """agentd's own test run, as the agents see it."""
    verdict = "PASSED" if result.ok else ("TIMED OUT" if result.timed_out else f"FAILED (exit {result.exit_code})")
    output = tail((result.stdout + ("\n" + result.stderr if result.stderr else "")).strip())
    return f"agentd ran `{' '.join(command)}`: {verdict}\n```\n{output}\n```"


def tampering_warning(diff: str) -> str:
    """What a candidate does to weaken the tests, as a warning for the voters; "" when nothing is found."""
    found = find_tampering(diff)
    if not found:
        return ""
    lines = "\n".join(f"- {finding.describe()}" for finding in found[:20])
    more = f"\n- … and {len(found) - 20} more" if len(found) > 20 else ""
    return (
        "WARNING (agentd's tampering check): this candidate deletes or weakens tests. Unless the task is about "
        f"the tests themselves, agentd's gate will refuse to publish it.\n{lines}{more}"
    )


def outcomes_per_test(result: CommandResult) -> dict[str, bool]:
    """Per package/test pass-fail from `go test` output (the whole run when nothing is named)."""
    outcomes: dict[str, bool] = {}
    for status, name in _GO_RESULT.findall(result.stdout + "\n" + result.stderr):
        outcomes[name] = status in {"ok"} or status.endswith("PASS")
    return outcomes or {"(all)": result.ok}


@dataclass(frozen=True)
class Evidence:
    """agentd's test run of one tree: the result, how the agents are shown it, and pass/fail per test."""

    result: CommandResult
    shown: str
    outcomes: dict[str, bool]

    @classmethod
    def of(cls, result: CommandResult, command: list[str]) -> Evidence:
        """The evidence of one run of `command`."""
        return cls(result, show_test_run(result, command), outcomes_per_test(result))

    @property
    def ok(self) -> bool:
        """Whether the tests passed."""
        return self.result.ok


class Lane(Protocol):
    """One workspace of a job: a worktree with its sandbox and toolbox."""

    @property
    def name(self) -> str:
        """The lane's name (e.g. proposer-2)."""
        ...

    @property
    def tools(self) -> Tools:
        """The toolbox over this lane's workspace."""
        ...

    def diff(self) -> str:
        """The lane's change against the base, as agentd stages it."""
        ...

    def test(self) -> Evidence:
        """agentd's own test run in the lane (recorded as a candidate version)."""
        ...


class Lanes(Protocol):
    """Lanes over fresh workspaces of the base commit, by name; the same name gives the same lane."""

    def prepare(self, names: Sequence[str]) -> None:
        """Start making these lanes now, side by side (a hint: `lane` makes any lane it is asked for)."""
        ...

    def lane(self, name: str) -> Lane:
        """The lane called `name` (the job makes it on first request, or waits for the one it is preparing)."""
        ...
