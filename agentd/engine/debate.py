"""Protocols: what the phases of a session are, and how the team reaches a verdict.

- `vote`: N proposers work in parallel, each in its own worktree and sandbox; agentd tests every
  candidate; voters choose; consensus rules (agentd.engine.consensus) count, evidence first.
- `debate`: propose → critique → revise → optimize → test → judge, in rounds, until agentd's own
  tests are green, no blocking finding is open and the judge accepts citing that evidence.
- `negotiation`: independent proposals (structured JSON) → a synthesis table → critiques →
  keep what several support or what survives critique → second vote → decision → implementation.
- `auto`: vote first; debate only when the surviving patches disagree, all fail, or a voter
  raises a blocking finding.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from agentd.engine.config import DebateConfig
from agentd.engine.consensus import Candidate, Vote, decide, escalate
from agentd.engine.strategies import run_strategy
from agentd.engine.turn import Participant, Tools, Turn, run_turn
from agentd.engine.verdicts import SUBMIT_OF_ROLE, Finding
from agentd.kernel.errors import AgentdError, BudgetExceeded, ModelError
from agentd.kernel.seams import CommandResult, Completion, Model, Usage
from agentd.store.base import Store

MAX_EVIDENCE = 6_000
FAILED = ("failed", "out_of_steps", "stuck")
_GO_RESULT = re.compile(r"^(ok|FAIL|---\s+(?:PASS|FAIL)):?\s+(\S+)", re.MULTILINE)


def _tail(text: str, limit: int = MAX_EVIDENCE) -> str:
    return text if len(text) <= limit else f"[… {len(text) - limit} bytes cut …]\n{text[-limit:]}"


def evidence(result: CommandResult, command: list[str]) -> str:
    """agentd's own test run, as the agents see it."""
    verdict = "PASSED" if result.ok else ("TIMED OUT" if result.timed_out else f"FAILED (exit {result.exit_code})")
    output = _tail((result.stdout + ("\n" + result.stderr if result.stderr else "")).strip())
    return f"agentd ran `{' '.join(command)}`: {verdict}\n```\n{output}\n```"


def test_outcomes(result: CommandResult) -> dict[str, bool]:
    """Per package/test pass-fail from `go test` output (the whole run when nothing is named)."""
    outcomes: dict[str, bool] = {}
    for status, name in _GO_RESULT.findall(result.stdout + "\n" + result.stderr):
        outcomes[name] = status in {"ok"} or status.endswith("PASS")
    return outcomes or {"(all)": result.ok}


@dataclass
class Evidence:
    """agentd's test run of one tree."""

    result: CommandResult
    shown: str

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
        """The toolbox over this lane's worktree and sandbox."""
        ...

    def diff(self) -> str:
        """The lane's change against the base, as agentd stages it."""
        ...

    def test(self) -> Evidence:
        """agentd's own test run in the lane (recorded as a candidate version)."""
        ...


class Bench(Protocol):
    """What a job gives the protocols: lanes over fresh worktrees of the base commit."""

    def lane(self, name: str) -> Lane:
        """A lane by name, created on first use from the base commit."""
        ...


@dataclass
class Outcome:
    """What the team decided, on which lane, and why; `record` is shown by `agentd show`."""

    accepted: bool
    summary: str
    reason: str
    protocol: str
    lane: Lane | None = None
    votes: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)
    tests: CommandResult | None = None
    record: dict[str, Any] = field(default_factory=dict)
    flagged_for_person: bool = False


class Session:
    """A debate session's record; turns are written as they complete and replayed on resume."""

    def __init__(
        self,
        store: Store,
        task_id: int,
        session_id: int,
        replay: dict[str, dict[str, Any]],
        price: Callable[[str, Usage], float] | None = None,
    ) -> None:
        self.store = store
        self.price = price
        self.task_id = task_id
        self.session_id = session_id
        self.replay = replay
        self._seq = max((int(t["seq"]) for t in replay.values()), default=-1) + 1
        self._lock = threading.Lock()

    def reserve(self) -> int:
        """The next turn number."""
        with self._lock:
            seq, self._seq = self._seq, self._seq + 1
            return seq

    def usage(self, model: str, completion: Completion) -> None:
        """Record one model call's tokens."""
        cost = self.price(completion.model or model, completion.usage) if self.price else 0.0
        self.store.add_usage(self.task_id, model, completion.usage.input_tokens, completion.usage.output_tokens, cost)

    def record(self, turn: Turn, key: str) -> None:
        """Record a finished turn under its replay key."""
        self.store.add_turn(
            self.session_id,
            {
                "seq": turn.seq,
                "agent": turn.agent,
                "role": turn.role,
                "model": turn.model,
                "content": turn.content,
                "submission": {"key": key, **(turn.submission or {})} if turn.submission is not None else None,
                "status": turn.status,
                "input_tokens": turn.input_tokens,
                "output_tokens": turn.output_tokens,
                "latency_ms": turn.latency_ms,
            },
        )


class Team:
    """Runs one session's protocol; participants come from the config's roles and models."""

    def __init__(
        self,
        models: Callable[[str], Model],
        session: Session,
        config: DebateConfig,
        cancel: threading.Event,
        max_steps: int,
    ) -> None:
        self.models = models
        self.session = session
        self.config = config
        self.cancel = cancel
        self.max_steps = max_steps
        self.dropped: list[dict[str, str]] = []
        self.used_models: dict[str, str] = {}

    # ------------------------------------------------------------ turns

    def participant(
        self, role: str, name: str | None = None, phase: str = "", submit: str | None = None
    ) -> Participant:
        """A participant playing `role` (its model from [roles]), optionally in a named phase."""
        model = self.models(role)
        self.used_models[role] = model.name
        return Participant(
            name or role,
            role,
            model,
            submit or SUBMIT_OF_ROLE.get(role, "submit_review"),
            self.config.priorities.get(role, 0),
            phase,
        )

    def speak(self, who: Participant, brief: str, tools: Tools, key: str) -> Turn:
        """One recorded turn; replayed from the store when a resumed session already has it."""
        done = self.session.replay.get(key)
        if done is not None and done["status"] == "done":
            submission = {k: v for k, v in (done.get("submission") or {}).items() if k != "key"}
            return Turn(who.name, who.role, done["model"], submission or None, done["content"], seq=int(done["seq"]))
        seq = self.session.reserve()
        try:
            turn = run_turn(who, brief, tools, self.session, self.max_steps, self.cancel, seq)
        except BudgetExceeded:
            raise
        except (ModelError, AgentdError) as exc:
            turn = Turn(
                who.name, who.role, who.model.name, status="failed", content=f"{type(exc).__name__}: {exc}", seq=seq
            )
        self.session.record(turn, key)
        if turn.status in FAILED or turn.submission is None:
            self.dropped.append({"participant": who.name, "reason": turn.content or turn.status})
        return turn

    def phase(
        self,
        participants: Sequence[Participant],
        brief: str,
        tools: Callable[[Participant], Tools],
        key: str,
        strategy: str | None = None,
    ) -> list[Turn]:
        """One phase with several speakers, under the configured (or given) strategy."""

        def speak(who: Participant, text: str) -> Turn:
            return self.speak(who, text, tools(who), f"{key}:{who.name}")

        return run_strategy(strategy or self.config.strategy, speak, participants, brief)

    def _models_line(self) -> list[str]:
        return [f"{role}={name}" for role, name in sorted(self.used_models.items())]

    # ------------------------------------------------------------ review

    def review(self, change: str, shown: str, tools: Tools) -> Outcome:
        """Review a change; findings with file:line and severity, no patch."""
        brief = f"Review this change.\n\n```diff\n{_tail(change, 30_000)}\n```\n\n{shown}"
        turn = self.speak(self.participant("reviewer"), brief, tools, "review")
        if turn.submission is None:
            return Outcome(False, "", f"the reviewer gave no review: {turn.content}", "review")
        return Outcome(
            False,
            str(turn.submission["summary"]),
            f"review: {turn.submission['verdict']}",
            "review",
            votes=[f"reviewer={turn.submission['verdict']}"],
            models=self._models_line(),
            findings=list(turn.submission.get("findings", [])),
        )

    # ------------------------------------------------------------ protocols

    def decide(self, problem: str, bench: Bench) -> Outcome:
        """Run the configured protocol (auto escalates from vote to debate)."""
        protocol = self.config.protocol
        if protocol == "debate":
            return self.debate(problem, bench.lane("debate"))
        if protocol == "negotiation":
            return self.negotiation(problem, bench.lane("negotiation"))
        outcome = self.vote(problem, bench)
        if protocol == "vote" or not outcome.record.get("escalate"):
            return outcome
        debated = self.debate(problem, bench.lane("debate"), why=str(outcome.record.get("escalate_reason", "")))
        debated.record = {**debated.record, "escalated_from": outcome.record}
        return debated

    def vote(self, problem: str, bench: Bench) -> Outcome:
        """Independent proposers in parallel, each in its own lane; agentd tests; voters choose."""
        lanes = {f"proposer-{i + 1}": bench.lane(f"proposer-{i + 1}") for i in range(self.config.proposers)}
        proposers = [self.participant("proposer", name) for name in lanes]
        turns = self.phase(proposers, problem, lambda who: lanes[who.name].tools, "vote:propose", "broadcast")
        candidates, shown, tests = [], [], {}
        for turn in turns:
            lane = lanes[turn.agent]
            change = lane.diff() if turn.submission is not None else ""
            if not change.strip():
                continue
            proof = lane.test()
            tests[turn.agent] = proof
            candidates.append(Candidate(turn.agent, turn.agent, change, test_outcomes(proof.result)))
            shown.append(
                f"## Candidate {turn.agent}\nSummary: {turn.submission and turn.submission['summary']}\n"
                f"```diff\n{_tail(change, 8_000)}\n```\n{proof.shown}"
            )
        if not candidates:
            return Outcome(
                False,
                "",
                "no proposer produced a change",
                "vote",
                record={
                    "protocol": "vote",
                    "escalate": True,
                    "escalate_reason": "no candidate",
                    "dropped": self.dropped,
                },
            )
        voters = [self.participant(role, phase="vote", submit="cast_vote") for role in self.config.voters]
        brief = (
            f"{problem}\n\nVote for the best candidate (give its id as `candidate`). agentd's own test runs "
            f"are shown; a candidate whose tests fail should not win.\n\n" + "\n\n".join(shown)
        )
        ballots = self.phase(voters, brief, lambda _who: lanes[candidates[0].id].tools, "vote:ballot")
        votes = [
            Vote(
                t.agent,
                t.submission.get("candidate") or candidates[0].id,
                float(t.submission["confidence"]),
                t.submission["decision"] == "accept",
            )
            for t in ballots
            if t.submission
        ]
        decision = decide(candidates, votes, self.config.consensus)
        go_on, why = escalate(candidates, [])
        winner = decision.winner
        won = tests.get(winner or "")
        summaries = {t.agent: str(t.submission["summary"]) for t in turns if t.submission}
        record = {
            "protocol": "vote",
            "candidates": [{"id": c.id, "tests": c.test_results} for c in candidates],
            "groups": decision.groups,
            "ballots": [vars(v) for v in votes],
            "decision": vars(decision),
            "escalate": (not decision.agreed) or go_on,
            "escalate_reason": why if go_on else decision.reason,
            "dropped": self.dropped,
        }
        accepted = bool(decision.agreed and winner and won and won.ok)
        return Outcome(
            accepted,
            summaries.get(winner or "", ""),
            decision.reason,
            "vote",
            lanes.get(winner or ""),
            [f"{v.voter}={v.candidate_id}({v.confidence:.2f})" for v in votes],
            self._models_line(),
            tests=won.result if won else None,
            record=record,
            flagged_for_person=decision.flagged_for_person,
        )

    def debate(self, problem: str, lane: Lane, why: str = "") -> Outcome:
        """propose → critique → revise → optimize → test → judge, in rounds, until the evidence agrees."""
        feedback = f"(Escalated from the vote: {why})" if why else ""
        summary, proof, review, last_diff = "", None, None, None
        rounds: list[dict[str, Any]] = []
        for round_no in range(1, self.config.max_rounds + 1):
            proposal = self.speak(
                self.participant("proposer"),
                f"{problem}\n\n{feedback}".strip(),
                lane.tools,
                f"debate:{round_no}:propose",
            )
            if proposal.submission is None:
                break
            summary = str(proposal.submission["summary"])
            change = lane.diff()
            if change == last_diff:
                rounds.append({"round": round_no, "stopped": "the candidate did not change"})
                break
            last_diff = change
            proof, review = self._stages(problem, summary, lane, round_no)
            blocking = _blocking(review)
            rounds.append({"round": round_no, "tests_passed": proof.ok, "blocking": len(blocking)})
            if proof.ok and not blocking:
                break
            feedback = f"Round {round_no} was not accepted.\n{proof.shown}\n\nOpen findings:\n" + "\n".join(
                _finding_line(f) for f in blocking
            )
        record = {"protocol": "debate", "rounds": rounds, "dropped": self.dropped}
        if proof is None:
            return Outcome(False, summary, "no candidate patch reached review", "debate", record=record)
        return self._judge(problem, summary, lane, proof, review, record)

    def _stages(self, problem: str, summary: str, lane: Lane, round_no: int) -> tuple[Evidence, Turn | None]:
        proof = lane.test()
        review = None
        for stage in self.config.stages:
            context = (
                f"{problem}\n\nThe proposer's summary: {summary}\n\nThe diff:\n```diff\n"
                f"{_tail(lane.diff(), 20_000)}\n```\n\n{proof.shown}"
            )
            if stage == "critique":
                review = self.speak(self.participant("critic"), context, lane.tools, f"debate:{round_no}:critique")
            elif stage == "optimize":
                before = lane.diff()
                self.speak(self.participant("optimizer"), context, lane.tools, f"debate:{round_no}:optimize")
                if lane.diff() != before:
                    proof = lane.test()
            else:
                before = lane.diff()
                tested = self.speak(self.participant("tester"), context, lane.tools, f"debate:{round_no}:test")
                if lane.diff() != before:
                    proof = lane.test()
                if review is not None and tested.submission:
                    merged = list((review.submission or {}).get("findings", [])) + tested.submission.get("findings", [])
                    review.submission = {
                        **(review.submission or {"verdict": "approve", "summary": ""}),
                        "findings": merged,
                    }
        return proof, review

    def _judge(
        self, problem: str, summary: str, lane: Lane, proof: Evidence, review: Turn | None, record: dict[str, Any]
    ) -> Outcome:
        critique = (review.submission if review else None) or {"verdict": "none", "findings": []}
        vote = self.speak(
            self.participant("judge"),
            f"{problem}\n\nCandidate summary: {summary}\n\nDiff:\n```diff\n"
            f"{_tail(lane.diff(), 20_000)}\n```\n\n{proof.shown}\n\nThe review: {json.dumps(critique)}",
            lane.tools,
            "debate:judge",
        )
        blocking = _blocking(review)
        votes = [f"critic={critique.get('verdict')}"]
        if vote.submission is None:
            return Outcome(
                False,
                summary,
                f"the judge cast no vote: {vote.content}",
                "debate",
                lane,
                votes,
                self._models_line(),
                tests=proof.result,
                record=record,
            )
        votes.append(f"judge={vote.submission['decision']}({vote.submission['confidence']:.2f})")
        accepted = vote.submission["decision"] == "accept" and proof.ok and not blocking
        reason = str(vote.submission["rationale"]) if accepted else _refusal(vote.submission, proof, blocking)
        return Outcome(
            accepted,
            summary,
            reason,
            "debate",
            lane,
            votes,
            self._models_line(),
            blocking,
            proof.result,
            {**record, "judge": vote.submission},
        )

    def negotiation(self, problem: str, lane: Lane) -> Outcome:
        """Proposals as JSON → table → critiques → keep the supported → second vote → decision → implement."""
        panel = [self.participant(role, role, "propose", "submit_proposal") for role in self.config.panel]
        proposals = {
            t.agent: t.submission
            for t in self.phase(panel, problem, lambda _w: lane.tools, "negotiation:propose", "broadcast")
            if t.submission
        }
        table = [{"participant": name, **proposal} for name, proposal in proposals.items()]
        shown = "\n".join(f"- {row['participant']}: {json.dumps(row)}" for row in table)
        critics = [replace(p, phase="critique", submit="submit_critique") for p in panel if p.name in proposals]
        critiques = {
            t.agent: t.submission
            for t in self.phase(
                critics,
                f"{problem}\n\nThe proposals (one row per participant):\n{shown}\n\nSay which you support and "
                "object to what is wrong.",
                lambda _w: lane.tools,
                "negotiation:critique",
            )
            if t.submission
        }
        support = {
            name: 1 + sum(name in (c.get("supports") or []) for who, c in critiques.items() if who != name)
            for name in proposals
        }
        blocked = {
            o["participant"]
            for c in critiques.values()
            for o in c.get("objections", [])
            if o.get("severity") in {"major", "critical"}
        }
        kept = [name for name in proposals if support[name] >= 2 or name not in blocked]
        voters = [replace(p, phase="vote", submit="cast_vote") for p in critics]
        ballot_brief = (
            f"{problem}\n\nThe proposals that survived critique:\n"
            + "\n".join(f"- {row['participant']}: {json.dumps(row)}" for row in table if row["participant"] in kept)
            + "\n\nVote for one (give its participant name as `candidate`)."
        )
        ballots = self.phase(voters, ballot_brief, lambda _w: lane.tools, "negotiation:vote") if kept else []
        votes = [
            Vote(
                t.agent,
                t.submission.get("candidate"),
                float(t.submission["confidence"]),
                t.submission["decision"] == "accept",
            )
            for t in ballots
            if t.submission
        ]
        decision = decide([Candidate(n, n, json.dumps(proposals[n])) for n in kept], votes, self.config.consensus)
        record = {
            "protocol": "negotiation",
            "proposals": table,
            "critiques": critiques,
            "first_vote": support,
            "kept": kept,
            "second_vote": [vars(v) for v in votes],
            "decision": vars(decision),
            "dropped": self.dropped,
        }
        if not decision.agreed or decision.winner is None:
            return Outcome(
                False,
                "",
                decision.reason,
                "negotiation",
                votes=[f"{v.voter}={v.candidate_id}" for v in votes],
                models=self._models_line(),
                record=record,
                flagged_for_person=True,
            )
        plan = json.dumps(proposals[decision.winner])
        made = self.speak(
            self.participant("proposer"),
            f"{problem}\n\nThe team agreed on this plan; implement it:\n{plan}",
            lane.tools,
            "negotiation:implement",
        )
        proof = lane.test()
        accepted = made.submission is not None and proof.ok and bool(lane.diff().strip())
        reason = decision.reason if accepted else "the agreed plan's implementation did not pass agentd's tests"
        return Outcome(
            accepted,
            str((made.submission or {}).get("summary", "")),
            reason,
            "negotiation",
            lane,
            [f"{v.voter}={v.candidate_id}({v.confidence:.2f})" for v in votes],
            self._models_line(),
            tests=proof.result,
            record=record,
        )


def _blocking(review: Turn | None) -> list[dict[str, Any]]:
    if review is None or not review.submission:
        return []
    return [f for f in review.submission.get("findings", []) if Finding.model_validate(f).blocking]


def _finding_line(finding: dict[str, Any]) -> str:
    return f"- [{finding['severity']}] {finding.get('file') or ''}:{finding.get('line') or ''} {finding['message']}"


def _refusal(vote: dict[str, Any], proof: Evidence, blocking: list[dict[str, Any]]) -> str:
    if not proof.ok:
        return "agentd's own test run of the candidate failed"
    if blocking:
        return f"{len(blocking)} blocking finding(s) remain open"
    return f"the judge rejected the patch: {vote['rationale']}"
