"""The team: proposer → critic → judge for a fix, a reviewer for a green commit.

Every claim is checked by agentd itself: after each proposal agentd runs the tests, and the
critic and judge see agentd's result, not the proposer's word. A patch is accepted only when the
judge accepts, agentd's test run is green and no blocking finding is open.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agentd.agent import Participant, Tools, Turn, run_turn
from agentd.errors import ModelError
from agentd.protocols import CommandResult, Completion
from agentd.store import Store

MAX_EVIDENCE = 6_000


def _tail(text: str, limit: int = MAX_EVIDENCE) -> str:
    return text if len(text) <= limit else f"[… {len(text) - limit} bytes cut …]\n{text[-limit:]}"


def evidence(result: CommandResult, command: list[str]) -> str:
    """agentd's own test run, as the agents see it."""
    verdict = "PASSED" if result.ok else ("TIMED OUT" if result.timed_out else f"FAILED (exit {result.exit_code})")
    output = _tail((result.stdout + ("\n" + result.stderr if result.stderr else "")).strip())
    return f"agentd ran `{' '.join(command)}`: {verdict}\n```\n{output}\n```"


@dataclass
class TeamResult:
    """What the team decided and why."""

    accepted: bool
    summary: str
    reason: str
    votes: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)
    tests: CommandResult | None = None


class Session:
    """A debate session's record: turns and usage are written to the store as they happen."""

    def __init__(self, store: Store, task_id: int, session_id: int) -> None:
        self.store = store
        self.task_id = task_id
        self.session_id = session_id
        self.seq = 0

    def usage(self, model: str, completion: Completion) -> None:
        """Record one model call's tokens."""
        self.store.add_usage(self.task_id, model, completion.usage.input_tokens, completion.usage.output_tokens)

    def record(self, turn: Turn) -> None:
        """Record a finished turn."""
        self.store.add_turn(
            self.session_id,
            {
                "seq": self.seq,
                "agent": turn.agent,
                "role": turn.role,
                "model": turn.model,
                "content": turn.content,
                "submission": turn.submission,
                "status": turn.status,
                "input_tokens": turn.input_tokens,
                "output_tokens": turn.output_tokens,
                "latency_ms": turn.latency_ms,
            },
        )
        self.seq += 1


class Team:
    """Runs the agents of one job over one workspace."""

    def __init__(
        self,
        participants: dict[str, Participant],
        tools: Tools,
        session: Session,
        cancel: threading.Event,
        max_steps: int,
        max_rounds: int,
    ) -> None:
        self.participants = participants
        self.tools = tools
        self.session = session
        self.cancel = cancel
        self.max_steps = max_steps
        self.max_rounds = max_rounds

    def _turn(self, role: str, brief: str) -> Turn:
        who = self.participants[role]
        try:
            turn = run_turn(who, brief, self.tools, self.session, self.max_steps, self.cancel, self.session.seq)
        except ModelError as exc:
            turn = Turn(who.name, who.role, who.model.name, status="failed", content=f"model failed: {exc}")
        self.session.record(turn)
        return turn

    def fix(
        self, problem: str, diff: Callable[[], str], run_tests: Callable[[], tuple[CommandResult, str]]
    ) -> TeamResult:
        """Propose, test, critique and revise up to max_rounds, then let the judge vote."""
        feedback = ""
        summary, review, tests, shown = "", None, None, ""
        for round_no in range(1, self.max_rounds + 1):
            proposal = self._turn("proposer", f"{problem}\n\n{feedback}".strip())
            if proposal.submission is None:
                return TeamResult(False, "", f"the proposer produced no patch in round {round_no}: {proposal.content}")
            summary = str(proposal.submission["summary"])
            tests, shown = run_tests()
            change = diff()
            if not change.strip():
                feedback = f"Round {round_no}: your submission changed no file.\n{shown}"
                continue
            review = self._turn(
                "critic",
                f"{problem}\n\nThe proposer's summary: {summary}\n\n"
                f"The diff:\n```diff\n{_tail(change, 20_000)}\n```\n\n{shown}",
            )
            blocking = _blocking(review.submission)
            if tests.ok and not blocking:
                break
            feedback = f"Round {round_no} was not accepted.\n{shown}\n\nOpen findings:\n" + "\n".join(
                f"- [{f['severity']}] {f.get('file') or ''}:{f.get('line') or ''} {f['message']}" for f in blocking
            )
        if tests is None or review is None:
            return TeamResult(False, summary, "no candidate patch reached review", tests=tests)
        return self._judge(problem, summary, diff(), shown, review, tests)

    def _judge(
        self, problem: str, summary: str, change: str, shown: str, review: Turn, tests: CommandResult
    ) -> TeamResult:
        critique = review.submission or {"verdict": "none", "summary": review.content, "findings": []}
        vote = self._turn(
            "judge",
            f"{problem}\n\nCandidate summary: {summary}\n\nDiff:\n```diff\n"
            f"{_tail(change, 20_000)}\n```\n\n{shown}\n\nThe critic's review: {critique}",
        )
        blocking = _blocking(review.submission)
        models = [f"{p.role}={p.model.name}" for p in self.participants.values() if p.role != "reviewer"]
        votes = [f"critic={critique.get('verdict')}"]
        if vote.submission is None:
            return TeamResult(False, summary, f"the judge cast no vote: {vote.content}", votes, models, tests=tests)
        votes.append(f"judge={vote.submission['decision']}({vote.submission['confidence']:.2f})")
        accepted = vote.submission["decision"] == "accept" and tests.ok and not blocking
        reason = str(vote.submission["rationale"]) if accepted else _refusal(vote.submission, tests, blocking)
        return TeamResult(accepted, summary, reason, votes, models, blocking, tests)

    def review(self, change: str, shown: str) -> TeamResult:
        """Review a change whose tests agentd saw pass; no patch results."""
        turn = self._turn("reviewer", f"Review this change.\n\n```diff\n{_tail(change, 30_000)}\n```\n\n{shown}")
        if turn.submission is None:
            return TeamResult(False, "", f"the reviewer gave no review: {turn.content}")
        findings = list(turn.submission.get("findings", []))
        return TeamResult(
            False,
            str(turn.submission["summary"]),
            f"review: {turn.submission['verdict']}",
            [f"reviewer={turn.submission['verdict']}"],
            [f"reviewer={turn.model}"],
            findings,
        )


def _blocking(submission: dict[str, Any] | None) -> list[dict[str, Any]]:
    if not submission:
        return []
    return [f for f in submission.get("findings", []) if f.get("severity") in {"major", "critical"}]


def _refusal(vote: dict[str, Any], tests: CommandResult, blocking: list[dict[str, Any]]) -> str:
    if not tests.ok:
        return "agentd's own test run of the candidate failed"
    if blocking:
        return f"{len(blocking)} blocking finding(s) remain open"
    return f"the judge rejected the patch: {vote['rationale']}"
