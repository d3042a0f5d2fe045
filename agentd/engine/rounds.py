"""The `debate` protocol: propose → critique → revise → optimize → test → judge, in rounds on one lane,
until agentd's own tests are green, no blocking finding is open and the judge accepts."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from agentd.engine.lanes import Evidence, Lane, tail, tampering_warning
from agentd.engine.outcome import Outcome, blocking, finding_line
from agentd.engine.session import Session
from agentd.engine.verdicts import CastVote, ReviewFinding, SubmitPatch, SubmitReview


@dataclass
class Review:
    """What one round's stages said of the candidate: the critic's verdict and every finding raised."""

    verdict: str = "none"
    summary: str = ""
    findings: list[ReviewFinding] = field(default_factory=list)

    def shown(self) -> str:
        """The review as the judge is shown it."""
        findings = [f.model_dump(mode="json") for f in self.findings]
        return json.dumps({"verdict": self.verdict, "summary": self.summary, "findings": findings})


def debate(
    session: Session, problem: str, lane: Lane, why: str = "", findings: Sequence[ReviewFinding] = ()
) -> Outcome:
    """Rounds until the evidence agrees; `why` and `findings` say what a vote escalated with."""
    feedback = _escalated(why, findings)
    summary, proof, review, last_diff = "", None, Review(), None
    no_candidate = "no candidate patch reached review"
    rounds: list[dict[str, Any]] = []
    for round_no in range(1, session.config.max_rounds + 1):
        proposal = session.speak(
            session.participant("proposer"),
            f"{problem}\n\n{feedback}".strip(),
            lane.tools,
            f"debate:{round_no}:propose",
        )
        patch = proposal.submitted(SubmitPatch)
        if patch is None:
            break
        summary = patch.summary
        change = lane.diff()
        if not change.strip():  # nothing for the critic, tester and judge to weigh: their turns would be wasted
            no_candidate = "the proposer submitted without changing anything"
            rounds.append({"round": round_no, "stopped": no_candidate})
            proof = None
            break
        if change == last_diff:
            rounds.append({"round": round_no, "stopped": "the candidate did not change"})
            break
        last_diff = change
        proof, review = _stages(session, problem, summary, lane, round_no)
        open_findings = blocking(review.findings)
        rounds.append({"round": round_no, "tests_passed": proof.ok, "blocking": len(open_findings)})
        if proof.ok and not open_findings:
            break
        feedback = f"Round {round_no} was not accepted.\n{proof.shown}\n\nOpen findings:\n" + "\n".join(
            finding_line(f) for f in open_findings
        )
    record = {"protocol": "debate", "rounds": rounds, "dropped": session.dropped}
    if proof is None:
        return Outcome(False, summary, no_candidate, "debate", record=record)
    return _judge(session, problem, summary, lane, proof, review, record)


def _escalated(why: str, findings: Sequence[ReviewFinding]) -> str:
    if not why:
        return ""
    shown = "".join(f"\n{finding_line(f)}" for f in findings)
    return f"(Escalated from the vote: {why})" + (f"\nThe voters' findings:{shown}" if shown else "")


def _stages(session: Session, problem: str, summary: str, lane: Lane, round_no: int) -> tuple[Evidence, Review]:
    """The configured stages after a proposal; agentd re-tests whenever a stage changed the tree."""
    proof = lane.test()
    review = Review()
    for stage in session.config.stages:
        before = lane.diff()
        context = (
            f"{problem}\n\nThe proposer's summary: {summary}\n\nThe diff:\n```diff\n"
            f"{tail(before, 20_000)}\n```\n\n{proof.shown}"
        )
        role = {"critique": "critic", "optimize": "optimizer", "test": "tester"}[stage]
        turn = session.speak(session.participant(role), context, lane.tools, f"debate:{round_no}:{stage}")
        said = turn.submitted(SubmitReview)
        if stage == "critique" and said is not None:
            review.verdict, review.summary = said.verdict, said.summary
        if stage != "optimize" and said is not None:
            review.findings += said.findings
        if stage != "critique" and lane.diff() != before:
            proof = lane.test()
    return proof, review


def _judge(
    session: Session, problem: str, summary: str, lane: Lane, proof: Evidence, review: Review, record: dict[str, Any]
) -> Outcome:
    diff = lane.diff()
    warning = tampering_warning(diff)
    turn = session.speak(
        session.participant("judge"),
        f"{problem}\n\nCandidate summary: {summary}\n\nDiff:\n```diff\n"
        f"{tail(diff, 20_000)}\n```\n\n{proof.shown}\n\nThe review: {review.shown()}"
        + (f"\n\n{warning}" if warning else ""),
        lane.tools,
        "debate:judge",
    )
    votes = [f"critic={review.verdict}"]
    ruling = turn.submitted(CastVote)
    if ruling is None:
        reason = f"the judge cast no vote: {turn.content}"
        return Outcome(False, summary, reason, "debate", lane.name, votes, session.models_line(), [], proof, record)
    open_findings = blocking([*review.findings, *ruling.findings])  # the judge's own findings count too
    votes.append(f"judge={ruling.decision}({ruling.confidence:.2f})")
    accepted = ruling.decision == "accept" and proof.ok and not open_findings
    reason = ruling.rationale if accepted else _refusal(ruling, proof, open_findings)
    return Outcome(
        accepted,
        summary,
        reason,
        "debate",
        lane.name,
        votes,
        session.models_line(),
        open_findings,
        proof,
        {**record, "judge": ruling.model_dump(mode="json")},
    )


def _refusal(ruling: CastVote, proof: Evidence, open_findings: list[ReviewFinding]) -> str:
    if not proof.ok:
        return "agentd's own test run of the candidate failed"
    if open_findings:
        return f"{len(open_findings)} blocking finding(s) remain open"
    return f"the judge rejected the patch: {ruling.rationale}"
