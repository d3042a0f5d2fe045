"""The `single` protocol: one agent and no debate. One proposer works in one lane; agentd tests its change,
and the change is the team's decision when agentd's own test run passes. The baseline the other
protocols are measured against (`agentd eval run --protocols single,…`)."""

from __future__ import annotations

from agentd.engine.lanes import Lanes
from agentd.engine.outcome import Outcome
from agentd.engine.session import Session
from agentd.engine.verdicts import SubmitPatch


def single(session: Session, problem: str, lanes: Lanes) -> Outcome:
    """One proposer, one lane; accepted when it submits a change and agentd's tests pass on it."""
    lane = lanes.lane("single")
    turn = session.speak(session.participant("proposer"), problem, lane.tools, "single:propose")
    patch = turn.submitted(SubmitPatch)
    record = {"protocol": "single", "dropped": session.dropped}
    if patch is None:
        return Outcome(False, "", f"the proposer submitted no patch: {turn.content}", "single", record=record)
    if not lane.diff().strip():
        unchanged = "the proposer submitted without changing anything"
        return Outcome(False, patch.summary, unchanged, "single", record=record)
    proof = lane.test()
    reason = "agentd's own test run of the change passed" if proof.ok else "agentd's own test run of the change failed"
    return Outcome(
        proof.ok, patch.summary, reason, "single", lane.name, [], session.models_line(), tests=proof, record=record
    )
