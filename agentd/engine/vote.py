"""The `vote` protocol: independent proposers, each in its own lane; agentd tests every candidate;
voters choose on a ballot that lists the candidates; the consensus rule counts, evidence first."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from agentd.engine.consensus import Candidate, Vote, count_votes, escalate
from agentd.engine.lanes import Evidence, Lane, Lanes, tail, tampering_warning
from agentd.engine.outcome import Outcome, blocking
from agentd.engine.session import Session
from agentd.engine.turn import TurnResult
from agentd.engine.verdicts import CastVote, SubmitPatch, SubmitTool

BALLOT = (
    "Vote for the best candidate: give its id as `candidate`. agentd's own test runs are shown; a candidate "
    "whose tests fail should not win. List any defect you find in `findings` with its severity; a critical "
    "finding vetoes the vote."
)


def proposer_lanes(proposers: int) -> list[str]:
    """The lanes of a vote: one per proposer, named after it."""
    return [f"proposer-{i + 1}" for i in range(proposers)]


def vote(session: Session, problem: str, workspaces: Lanes) -> Outcome:
    """Independent proposers in parallel, each in its own lane; agentd tests; voters choose."""
    names = proposer_lanes(session.config.proposers)
    workspaces.prepare(names)
    lanes = {name: workspaces.lane(name) for name in names}
    proposers = [session.participant("proposer", name) for name in names]
    turns = session.phase(proposers, problem, lambda who: lanes[who.name].tools, "vote:propose", "broadcast")
    candidates, tests, shown = _candidates(turns, lanes)
    if not candidates:
        nothing = {"protocol": "vote", "escalate": True, "escalate_reason": "no candidate", "dropped": session.dropped}
        return Outcome(False, "", "no proposer produced a change", "vote", record=nothing)
    ballots = _ballots(session, problem, candidates, shown, lanes[candidates[0].id])
    votes = [Vote(voter, b.candidate, b.confidence, b.decision == "accept") for voter, b in ballots]
    findings = [finding for _, ballot in ballots for finding in ballot.findings]
    decision = count_votes(candidates, votes, session.config.consensus, findings=findings)
    go_on, why = escalate(candidates, findings)
    winner = decision.winner or ""
    summaries = {t.agent: patch.summary for t in turns if (patch := t.submitted(SubmitPatch))}
    record: dict[str, Any] = {
        "protocol": "vote",
        "candidates": [{"id": c.id, "tests": c.test_results} for c in candidates],
        "groups": decision.groups,
        "ballots": [vars(v) for v in votes],
        "decision": vars(decision),
        "escalate": (not decision.agreed) or go_on,
        "escalate_reason": why if go_on else decision.reason,
        "dropped": session.dropped,
    }
    won = tests.get(winner)
    return Outcome(
        bool(decision.agreed and won and won.ok),
        summaries.get(winner, ""),
        decision.reason,
        "vote",
        winner or None,
        [f"{v.voter}={v.candidate_id}({v.confidence:.2f})" for v in votes],
        session.models_line(),
        blocking(findings),
        won,
        record,
        decision.flagged_for_person,
    )


def _candidates(
    turns: Sequence[TurnResult], lanes: Mapping[str, Lane]
) -> tuple[list[Candidate], dict[str, Evidence], list[str]]:
    """The proposals that changed something, each tested by agentd: (candidates, evidence, as shown)."""
    candidates: list[Candidate] = []
    tests: dict[str, Evidence] = {}
    shown: list[str] = []
    for turn in turns:
        patch = turn.submitted(SubmitPatch)
        lane = lanes[turn.agent]
        change = lane.diff() if patch is not None else ""
        if patch is None or not change.strip():
            continue
        proof = tests[turn.agent] = lane.test()
        candidates.append(Candidate(turn.agent, turn.agent, change, proof.outcomes))
        warning = tampering_warning(change)
        shown.append(
            f"## Candidate {turn.agent}\nSummary: {patch.summary}\n```diff\n{tail(change, 8_000)}\n```\n{proof.shown}"
            + (f"\n{warning}" if warning else "")
        )
    return candidates, tests, shown


def _ballots(
    session: Session, problem: str, candidates: Sequence[Candidate], shown: Sequence[str], lane: Lane
) -> list[tuple[str, CastVote]]:
    """(voter, ballot) of every voter who cast one; a ballot can name only a shown candidate."""
    ballot = SubmitTool("cast_vote", tuple(c.id for c in candidates))
    voters = [session.participant(role, phase="vote", submit=ballot) for role in session.config.voters]
    brief = f"{problem}\n\n{BALLOT}\n\n" + "\n\n".join(shown)
    turns = session.phase(voters, brief, lambda _who: lane.tools, "vote:ballot")
    return [(t.agent, cast) for t in turns if (cast := t.submitted(CastVote))]
