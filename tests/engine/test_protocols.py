"""Each protocol against in-memory lanes and the scripted model server: vote, debate, negotiation, auto."""

from __future__ import annotations

from agentd.engine.config import DebateConfig
from agentd.engine.negotiation import negotiation
from agentd.engine.protocol import first_lanes, run_protocol
from agentd.engine.record import Replay
from agentd.engine.rounds import debate
from agentd.engine.vote import vote
from tests.engine.fakes import BUG, FIX, FakeBench, FakeLane, Stage, ballot, finding, propose, review, scene, step

WRONG = "total += it.Price + it.Qty\n"
PROBLEM = "TestTotal fails; fix cart.Total"
CANDIDATES = ["proposer-1", "proposer-2", "proposer-3"]

# ---------------------------------------------------------------- vote


def test_a_ballot_naming_no_candidate_goes_back_to_the_voter_with_the_names(scripted: Stage) -> None:
    """vote: the ballot lists the candidates as an enum; a vote for "ok" is refused and the voter retries."""
    script = {
        "proposer": propose(),
        "critic@vote": [ballot("ok"), ballot("proposer-2")],
        "judge@vote": [ballot("ok"), ballot("proposer-1")],
    }
    s = scene(scripted, script, protocol="vote")
    outcome = vote(s.session, PROBLEM, FakeBench())
    schema = s.offered("critic", "cast_vote", "vote")
    refusals = s.tool_results("critic", "vote")
    assert schema["properties"]["candidate"]["enum"] == CANDIDATES
    assert "candidate" in schema["required"]
    assert any(f"'ok' is not a candidate; name one of: {', '.join(CANDIDATES)}" in r for r in refusals)
    assert outcome.record["decision"]["agreed"]
    assert (outcome.accepted, outcome.lane) == (True, "proposer-1")
    assert outcome.votes == ["critic=proposer-2(0.90)", "judge=proposer-1(0.90)"]


def test_a_critical_finding_on_a_ballot_vetoes_the_vote(scripted: Stage) -> None:
    """vote: a voter's critical finding reaches the consensus veto and the escalation rule."""
    script = {
        "proposer": propose(),
        "critic@vote": [ballot("proposer-1", findings=[finding("critical")])],
        "judge@vote": [ballot("proposer-1")],
    }
    s = scene(scripted, script, protocol="vote")
    outcome = vote(s.session, PROBLEM, FakeBench())
    assert not outcome.accepted
    assert "vetoed by 1 unresolved critical finding" in outcome.reason
    assert [f.severity for f in outcome.findings] == ["critical"]
    assert outcome.record["escalate"] is True
    assert "1 blocking finding(s), the worst critical" in outcome.record["escalate_reason"]


def test_the_candidate_that_passes_beats_a_majority_that_fails(scripted: Stage) -> None:
    """vote: two proposers agree on a failing fix; the one passing patch wins with fewer votes."""
    script = {
        "proposer-1": propose(),
        "proposer": propose(WRONG, "add the quantity"),
        "critic@vote": [ballot("proposer-2")],
        "judge@vote": [ballot("proposer-1")],
    }
    s = scene(scripted, script, protocol="vote", consensus="majority")
    bench = FakeBench()
    outcome = vote(s.session, PROBLEM, bench)
    assert (outcome.accepted, outcome.lane) == (True, "proposer-1")
    assert outcome.tests is not None and outcome.tests.ok
    assert [len(group) for group in outcome.record["groups"]] == [1, 2]
    assert {lane.tested for lane in bench.lanes.values()} == {1}
    assert bench.prepared == CANDIDATES  # every proposer's lane asked for at once, before the first is used


def test_no_change_from_any_proposer_escalates(scripted: Stage) -> None:
    """vote: proposers that change nothing leave no candidate, and the vote asks to escalate."""
    s = scene(scripted, {"proposer": [step(("submit_patch", {"summary": "nothing to do"}))]})
    outcome = vote(s.session, PROBLEM, FakeBench())
    assert (outcome.accepted, outcome.reason) == (False, "no proposer produced a change")
    assert outcome.record["escalate"] is True
    assert s.requests("critic") == []


# ---------------------------------------------------------------- auto


def test_auto_hands_the_voters_findings_to_the_debate(scripted: Stage) -> None:
    """auto: a vote vetoed by a critical finding escalates to a debate whose proposer is told the finding."""
    script = {
        "proposer": propose(),
        "critic@vote": [ballot("proposer-1", findings=[finding("critical", "Total overflows on big carts")])],
        "judge@vote": [ballot("proposer-1")],
        "critic": [review("approve")],
        "judge": [ballot(None)],
    }
    s = scene(scripted, script, protocol="auto", stages=["critique"])
    outcome = run_protocol(s.session, PROBLEM, FakeBench())
    debated = [b for b in s.briefs("proposer") if "Escalated from the vote" in b]
    assert (outcome.protocol, outcome.accepted, outcome.lane) == ("debate", True, "debate")
    assert outcome.record["escalated_from"]["protocol"] == "vote"
    assert len(debated) == 1
    assert "[critical] cart.go:2 Total overflows on big carts" in debated[0]


def test_auto_stays_a_vote_when_the_candidates_agree(scripted: Stage) -> None:
    """auto: agreeing green candidates and a clean vote end the session without a debate."""
    script = {"proposer": propose(), "critic@vote": [ballot("proposer-1")], "judge@vote": [ballot("proposer-1")]}
    s = scene(scripted, script, protocol="auto")
    bench = FakeBench()
    outcome = run_protocol(s.session, PROBLEM, bench)
    assert (outcome.protocol, outcome.accepted, outcome.record["escalate"]) == ("vote", True, False)
    assert "debate" not in bench.lanes


# ---------------------------------------------------------------- debate


def test_debate_accepts_a_green_candidate_without_blocking_findings(scripted: Stage) -> None:
    """debate: green tests, only a minor finding and the judge's accept make an accepted outcome."""
    script = {
        "proposer": propose(),
        "critic": [review("approve", finding("minor"))],
        "tester": [review("approve")],
        "optimizer": [step(("submit_patch", {"summary": "nothing faster"}))],
        "judge": [ballot(None)],
    }
    s = scene(scripted, script, protocol="debate")
    outcome = debate(s.session, PROBLEM, FakeLane("debate"))
    assert (outcome.accepted, outcome.lane, outcome.findings) == (True, "debate", [])
    assert outcome.record["rounds"] == [{"round": 1, "tests_passed": True, "blocking": 0}]
    assert outcome.votes == ["critic=approve", "judge=accept(0.90)"]


def test_a_blocking_finding_overrules_the_judge(scripted: Stage) -> None:
    """debate: the judge accepts, but a major finding left open after the last round refuses the patch."""
    script = {"proposer": propose(), "critic": [review("request_changes", finding("major"))], "judge": [ballot(None)]}
    s = scene(scripted, script, protocol="debate", stages=["critique"], max_rounds=1)
    outcome = debate(s.session, PROBLEM, FakeLane("debate"))
    assert not outcome.accepted
    assert outcome.reason == "1 blocking finding(s) remain open"
    assert [f.severity for f in outcome.findings] == ["major"]


def test_the_judges_own_critical_finding_blocks_its_accept(scripted: Stage) -> None:
    """debate: a judge that accepts while raising a critical finding does not get the patch committed."""
    judge = [ballot(None, findings=[finding("critical")])]
    script = {"proposer": propose(), "critic": [review("approve")], "judge": judge}
    s = scene(scripted, script, protocol="debate", stages=["critique"])
    outcome = debate(s.session, PROBLEM, FakeLane("debate"))
    assert (outcome.accepted, outcome.reason) == (False, "1 blocking finding(s) remain open")


def test_debate_stops_when_the_candidate_does_not_change(scripted: Stage) -> None:
    """debate: a revision that leaves the diff as it was ends the rounds; the failing tests refuse it."""
    critic = [review("request_changes", finding("major"))]
    script = {"proposer": propose(WRONG), "critic": critic, "judge": [ballot(None)]}
    s = scene(scripted, script, protocol="debate", stages=["critique"], max_rounds=3)
    outcome = debate(s.session, PROBLEM, FakeLane("debate"))
    assert outcome.record["rounds"][1] == {"round": 2, "stopped": "the candidate did not change"}
    assert (outcome.accepted, outcome.reason) == (False, "agentd's own test run of the candidate failed")
    assert "Round 1 was not accepted" in s.briefs("proposer")[-1]


def test_a_debate_proposal_without_a_change_ends_before_any_review(scripted: Stage) -> None:
    """debate: a submit over an untouched workspace ends the debate; no critic, tester or judge is asked, nothing
    is tested (a real model did this, and four reviewers spent their turns on an empty diff)."""
    proposer = [step(("submit_patch", {"summary": "nothing to do"}))]
    script = {"proposer": proposer, "critic": [review("approve")], "tester": [review("approve")]}
    script["judge"] = [ballot(None)]
    s = scene(scripted, script, protocol="debate")
    lane = FakeLane("debate")
    outcome = debate(s.session, PROBLEM, lane)
    assert (outcome.accepted, outcome.reason) == (False, "the proposer submitted without changing anything")
    assert outcome.record["rounds"] == [{"round": 1, "stopped": "the proposer submitted without changing anything"}]
    assert [row["agent"] for row in s.recorder.rows] == ["proposer"]
    assert lane.tested == 0


def test_a_testers_change_is_tested_again_and_its_findings_count(scripted: Stage) -> None:
    """debate: the tester fixes the tree, agentd re-tests it, and the tester's findings are the review's."""
    tester = step(
        ("code", {"action": "replace", "file_path": "cart.go", "old_text": WRONG, "new_text": FIX}),
        ("submit_review", {"verdict": "approve", "summary": "fixed", "findings": [finding("info")]}),
    )
    script = {"proposer": propose(WRONG), "tester": [tester], "judge": [ballot(None)]}
    s = scene(scripted, script, protocol="debate", stages=["test"])
    lane = FakeLane("debate")
    outcome = debate(s.session, PROBLEM, lane)
    judged = s.briefs("judge")[0]
    assert (outcome.accepted, lane.tested) == (True, 2)
    assert '"severity": "info"' in judged


# ---------------------------------------------------------------- negotiation


def proposal(approach: str) -> list[dict[str, object]]:
    """A panelist's proposal."""
    changes = [{"file": "cart.go", "change": "multiply by Qty"}]
    return [step(("submit_proposal", {"approach": approach, "changes": changes, "estimate_minutes": 5}))]


def critique(*supports: str) -> list[dict[str, object]]:
    """A panelist's critique supporting `supports` and objecting to the optimizer's rewrite."""
    objection = {"participant": "optimizer", "reason": "rewrites too much", "severity": "major"}
    return [step(("submit_critique", {"supports": list(supports), "objections": [objection]}))]


NEGOTIATION = {
    "proposer@propose": proposal("Restore price times quantity"),
    "critic@propose": proposal("Restore the multiplication, keep the loop"),
    "optimizer@propose": proposal("Rewrite Total with a precomputed table"),
    "proposer@critique": critique("critic"),
    "critic@critique": critique("proposer"),
    "optimizer@critique": critique(),
    "proposer@vote": [ballot("proposer")],
    "critic@vote": [ballot("proposer")],
    "optimizer@vote": [ballot("the table plan"), ballot("proposer")],
    "proposer": propose(),
}


def test_negotiation_keeps_the_supported_plans_and_implements_the_winner(scripted: Stage) -> None:
    """negotiation: the objected plan is dropped, the ballot lists the kept ones, the winner is implemented."""
    s = scene(scripted, NEGOTIATION, protocol="negotiation")
    lane = FakeLane("negotiation")
    outcome = negotiation(s.session, PROBLEM, lane)
    schema = s.offered("optimizer", "cast_vote", "vote")
    refusals = s.tool_results("optimizer", "vote")
    implemented = s.briefs("proposer")[-1]
    assert outcome.record["kept"] == ["proposer", "critic"]
    assert schema["properties"]["candidate"]["enum"] == ["proposer", "critic"]
    assert any("'the table plan' is not a candidate; name one of: proposer, critic" in r for r in refusals)
    assert [v["candidate_id"] for v in outcome.record["second_vote"]] == ["proposer"] * 3
    assert outcome.record["decision"]["winner"] == "proposer"
    assert outcome.record["decision"]["groups"] == [["proposer"], ["critic"]]  # plans are never merged like diffs
    assert "Restore price times quantity" in implemented
    assert (outcome.accepted, outcome.lane, lane.tested) == (True, "negotiation", 1)


def test_negotiation_without_agreement_is_flagged_for_a_person(scripted: Stage) -> None:
    """negotiation: split ballots end with no implementation and a flag for a person."""
    rejected = [ballot("critic", decision="reject")]
    script = {**NEGOTIATION, "critic@vote": rejected, "optimizer@vote": rejected}
    s = scene(scripted, script, protocol="negotiation")
    lane = FakeLane("negotiation")
    outcome = negotiation(s.session, PROBLEM, lane)
    assert (outcome.accepted, outcome.flagged_for_person, outcome.lane) == (False, True, None)
    assert "short of at least 67% of the votes" in outcome.reason
    assert (lane.tested, [b for b in s.briefs("proposer") if "implement it" in b]) == (0, [])


# ---------------------------------------------------------------- resume


def test_a_resumed_session_replays_completed_turns_and_asks_only_for_the_rest(scripted: Stage) -> None:
    """Resume: the proposers' recorded turns are replayed typed; only the voters are asked again."""
    script = {"proposer": propose(), "critic@vote": [ballot("proposer-1")], "judge@vote": [ballot("proposer-1")]}
    first = scene(scripted, script, protocol="vote")
    vote(first.session, PROBLEM, FakeBench())
    proposed = [row for row in first.recorder.rows if row["role"] == "proposer"]
    bench = FakeBench()
    for name in CANDIDATES:  # the job restores each lane's last tested change on resume
        bench.lane(name).files["cart.go"] = bench.lane(name).files["cart.go"].replace(BUG, FIX)
    again = scene(scripted, script, protocol="vote", replay=Replay(proposed))
    outcome = vote(again.session, PROBLEM, bench)
    assert [again.requests(name) for name in CANDIDATES] == [[], [], []]
    assert len(again.requests("critic")) == 1
    assert (outcome.accepted, outcome.lane) == (True, "proposer-1")
    assert outcome.record["candidates"][0]["tests"] == {"example/cart": True}
    assert min(row["seq"] for row in again.recorder.rows) == max(row["seq"] for row in proposed) + 1


def test_the_first_lanes_of_each_protocol_are_the_ones_it_asks_for() -> None:
    """A job can make ahead exactly the lanes the configured protocol will ask for first."""
    assert first_lanes(DebateConfig(protocol="auto", proposers=3)) == CANDIDATES
    assert first_lanes(DebateConfig(protocol="vote", proposers=2)) == CANDIDATES[:2]
    assert first_lanes(DebateConfig(protocol="debate")) == ["debate"]
    assert first_lanes(DebateConfig(protocol="negotiation")) == ["negotiation"]
