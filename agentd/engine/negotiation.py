"""The `negotiation` protocol: independent proposals as JSON → a synthesis table → critiques → keep what
several support or what survives critique → a second vote on a ballot → decision → implementation."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from agentd.engine.consensus import NEVER_GROUP, Candidate, Vote, count_votes
from agentd.engine.lanes import Lane
from agentd.engine.outcome import Outcome
from agentd.engine.session import Session
from agentd.engine.turn import Participant
from agentd.engine.verdicts import CastVote, SubmitCritique, SubmitPatch, SubmitProposal, SubmitTool

BLOCKING_OBJECTIONS = frozenset({"major", "critical"})


def negotiation(session: Session, problem: str, lane: Lane) -> Outcome:
    """Proposals → table → critiques → keep the supported → second vote → decision → implement."""
    panel = [session.participant(role, role, "propose", SubmitTool("submit_proposal")) for role in session.config.panel]
    proposed = session.phase(panel, problem, lambda _w: lane.tools, "negotiation:propose", "broadcast")
    proposals = {t.agent: p for t in proposed if (p := t.submitted(SubmitProposal))}
    table = [{"participant": name, **proposal.model_dump(mode="json")} for name, proposal in proposals.items()]
    critics = [replace(p, phase="critique", submit=SubmitTool("submit_critique")) for p in panel if p.name in proposals]
    critiques = _critiques(session, problem, critics, table, lane)
    support = {name: 1 + sum(name in c.supports for who, c in critiques.items() if who != name) for name in proposals}
    blocked = {o.participant for c in critiques.values() for o in c.objections if o.severity in BLOCKING_OBJECTIONS}
    kept = [name for name in proposals if support[name] >= 2 or name not in blocked]
    ballots = _second_vote(session, problem, critics, table, kept, lane) if kept else []
    votes = [Vote(voter, b.candidate, b.confidence, b.decision == "accept") for voter, b in ballots]
    findings = [finding for _, ballot in ballots for finding in ballot.findings]
    candidates = [Candidate(n, n, proposals[n].model_dump_json()) for n in kept]
    decision = count_votes(candidates, votes, session.config.consensus, findings=findings, similarity=NEVER_GROUP)
    record: dict[str, Any] = {
        "protocol": "negotiation",
        "proposals": table,
        "critiques": {who: c.model_dump(mode="json") for who, c in critiques.items()},
        "first_vote": support,
        "kept": kept,
        "second_vote": [vars(v) for v in votes],
        "decision": vars(decision),
        "dropped": session.dropped,
    }
    if not decision.agreed or decision.winner is None:
        shown_votes = [f"{v.voter}={v.candidate_id}" for v in votes]
        models = session.models_line()
        return Outcome(
            False, "", decision.reason, "negotiation", None, shown_votes, models, record=record, flagged_for_person=True
        )
    return _implement(session, problem, proposals[decision.winner], lane, decision.reason, votes, record)


def _critiques(
    session: Session, problem: str, critics: list[Participant], table: list[dict[str, Any]], lane: Lane
) -> dict[str, SubmitCritique]:
    brief = (
        f"{problem}\n\nThe proposals (one row per participant):\n{_rows(table)}\n\nSay which you support and "
        "object to what is wrong."
    )
    turns = session.phase(critics, brief, lambda _w: lane.tools, "negotiation:critique")
    return {t.agent: c for t in turns if (c := t.submitted(SubmitCritique))}


def _second_vote(
    session: Session,
    problem: str,
    critics: list[Participant],
    table: list[dict[str, Any]],
    kept: list[str],
    lane: Lane,
) -> list[tuple[str, CastVote]]:
    """(voter, ballot) of the panelists who voted; a ballot can name only a kept proposal."""
    ballot = SubmitTool("cast_vote", tuple(kept))
    voters = [replace(p, phase="vote", submit=ballot) for p in critics]
    brief = (
        f"{problem}\n\nThe proposals that survived critique:\n"
        + _rows([row for row in table if row["participant"] in kept])
        + "\n\nVote for one (give its participant name as `candidate`)."
    )
    turns = session.phase(voters, brief, lambda _w: lane.tools, "negotiation:vote")
    return [(t.agent, cast) for t in turns if (cast := t.submitted(CastVote))]


def _rows(table: list[dict[str, Any]]) -> str:
    return "\n".join(f"- {row['participant']}: {json.dumps(row)}" for row in table)


def _implement(
    session: Session,
    problem: str,
    plan: SubmitProposal,
    lane: Lane,
    agreed: str,
    votes: list[Vote],
    record: Mapping[str, Any],
) -> Outcome:
    """The proposer implements the agreed plan; agentd tests it."""
    made = session.speak(
        session.participant("proposer"),
        f"{problem}\n\nThe team agreed on this plan; implement it:\n{plan.model_dump_json()}",
        lane.tools,
        "negotiation:implement",
    )
    patch = made.submitted(SubmitPatch)
    proof = lane.test()
    accepted = patch is not None and proof.ok and bool(lane.diff().strip())
    return Outcome(
        accepted,
        patch.summary if patch is not None else "",
        agreed if accepted else "the agreed plan's implementation did not pass agentd's tests",
        "negotiation",
        lane.name,
        [f"{v.voter}={v.candidate_id}({v.confidence:.2f})" for v in votes],
        session.models_line(),
        tests=proof,
        record=dict(record),
    )
