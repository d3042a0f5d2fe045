"""The `single` protocol (one agent, no voters) and the tampering warning on the voters' ballot."""

from __future__ import annotations

import re

from agentd.engine.protocol import run_protocol
from agentd.engine.vote import vote
from tests.engine.fakes import BASE, FakeBench, FakeLane, Stage, ballot, propose, scene, step

PROBLEM = "TestTotal fails; fix cart.Total"
SKIPPED_TEST = 'package cart\n\nfunc TestTotal(t *testing.T) {\n\tt.Skip("flaky")\n}\n'


class GitStyleLane(FakeLane):
    """A fake lane whose diff has git's `diff --git` file headers, as agentd's real lanes stage it."""

    def diff(self) -> str:
        """The fake diff with a `diff --git a/P b/P` line before each file."""
        return re.sub(r"^--- a/(\S+)$", r"diff --git a/\1 b/\1\n--- a/\1", super().diff(), flags=re.MULTILINE)


def test_single_accepts_the_one_proposers_green_change(scripted: Stage) -> None:
    """single: one proposer in one lane, agentd tests it once, no voter is asked; green means accepted."""
    s = scene(scripted, {"proposer": propose(), "critic": [ballot(None)], "judge": [ballot(None)]}, protocol="single")
    bench = FakeBench()
    outcome = run_protocol(s.session, PROBLEM, bench)
    assert (outcome.accepted, outcome.lane, outcome.protocol) == (True, "single", "single")
    assert list(bench.lanes) == ["single"]
    assert bench.lanes["single"].tested == 1
    assert [row["agent"] for row in s.recorder.rows] == ["proposer"]
    assert outcome.reason == "agentd's own test run of the change passed"


def test_single_refuses_a_change_whose_tests_fail(scripted: Stage) -> None:
    """single: a change that fails agentd's own test run is not the team's decision."""
    s = scene(scripted, {"proposer": propose("total += 0\n", "zero it")}, protocol="single")
    outcome = run_protocol(s.session, PROBLEM, FakeBench())
    assert not outcome.accepted
    assert outcome.reason == "agentd's own test run of the change failed"
    assert outcome.tests is not None
    assert not outcome.tests.ok


def test_single_with_a_proposer_that_only_talks_ends_without_a_change(scripted: Stage) -> None:
    """single: a proposer that never submits leaves no candidate and the reason quotes its turn."""
    s = scene(scripted, {"proposer": [{"text": "I think it is fine."}] * 4}, protocol="single")
    bench = FakeBench()
    outcome = run_protocol(s.session, PROBLEM, bench)
    assert not outcome.accepted
    assert outcome.reason.startswith("the proposer submitted no patch: proposer did not call submit_patch")
    assert bench.lanes["single"].tested == 0


def test_single_with_a_submit_but_no_change_is_not_accepted(scripted: Stage) -> None:
    """single: submitting an untouched workspace is no decision, and agentd tests nothing."""
    s = scene(scripted, {"proposer": [step(("submit_patch", {"summary": "nothing to do"}))]}, protocol="single")
    outcome = run_protocol(s.session, PROBLEM, FakeBench())
    assert not outcome.accepted
    assert outcome.reason == "the proposer submitted without changing anything"


def test_the_ballot_warns_the_voters_of_a_candidate_that_skips_tests(scripted: Stage) -> None:
    """vote: a candidate adding t.Skip to a test is shown to the voters with agentd's tampering warning."""
    script = {"proposer": propose(), "critic@vote": [ballot("proposer-1")], "judge@vote": [ballot("proposer-1")]}
    s = scene(scripted, script, protocol="vote", proposers=2)
    bench = FakeBench()
    bench.lanes["proposer-1"] = GitStyleLane("proposer-1", files={**BASE, "cart_test.go": SKIPPED_TEST})
    bench.lanes["proposer-2"] = GitStyleLane("proposer-2")
    vote(s.session, PROBLEM, bench)
    brief = s.briefs("critic", "vote")[0]
    tampered, clean = brief.split("## Candidate proposer-2")
    assert "WARNING (agentd's tampering check): this candidate deletes or weakens tests" in tampered
    assert 'cart_test.go (TestTotal): adds a skip: t.Skip("flaky")' in tampered
    assert "WARNING" not in clean
