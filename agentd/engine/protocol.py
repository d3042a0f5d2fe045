"""Which protocol a session runs: `single`, `vote`, `debate`, `negotiation`, or `auto` (a vote that escalates to
a debate when the passing candidates disagree, all fail, a voter raises a blocking finding or the vote
finds no agreement); and the single reviewer's pass over a commit or pull request."""

from __future__ import annotations

from agentd.engine.config import DebateConfig
from agentd.engine.lanes import Lanes, tail
from agentd.engine.negotiation import negotiation
from agentd.engine.outcome import Outcome
from agentd.engine.rounds import debate
from agentd.engine.session import Session
from agentd.engine.single import single
from agentd.engine.turn import Tools
from agentd.engine.verdicts import SubmitReview
from agentd.engine.vote import proposer_lanes, vote


def first_lanes(config: DebateConfig) -> list[str]:
    """The lanes the configured protocol asks for first, so a job can make them before it starts."""
    if config.protocol in {"debate", "negotiation"}:
        return [config.protocol]
    return proposer_lanes(config.proposers)


def run_protocol(session: Session, problem: str, lanes: Lanes) -> Outcome:
    """Run the configured protocol on lanes asked of `lanes` (auto escalates from vote to debate)."""
    protocol = session.config.protocol
    if protocol == "single":
        return single(session, problem, lanes)
    if protocol == "debate":
        return debate(session, problem, lanes.lane("debate"))
    if protocol == "negotiation":
        return negotiation(session, problem, lanes.lane("negotiation"))
    voted = vote(session, problem, lanes)
    if protocol == "vote" or not voted.record.get("escalate"):
        return voted
    why = str(voted.record.get("escalate_reason", ""))
    debated = debate(session, problem, lanes.lane("debate"), why, voted.findings)
    debated.record = {**debated.record, "escalated_from": voted.record}
    return debated


def review(session: Session, change: str, shown: str, tools: Tools, ask: str = "Review this change.") -> Outcome:
    """Review a change: findings with file:line and severity, no patch; `ask` says what the reviewer is asked."""
    brief = f"{ask}\n\n```diff\n{tail(change, 30_000)}\n```\n\n{shown}"
    turn = session.speak(session.participant("reviewer"), brief, tools, "review")
    said = turn.submitted(SubmitReview)
    if said is None:
        return Outcome(False, "", f"the reviewer gave no review: {turn.content}", "review")
    return Outcome(
        False,
        said.summary,
        f"review: {said.verdict}",
        "review",
        votes=[f"reviewer={said.verdict}"],
        models=session.models_line(),
        findings=list(said.findings),
    )
