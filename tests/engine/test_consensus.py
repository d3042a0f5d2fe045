"""Consensus rules as data: grouping, evidence ranking, every voting rule, the veto, escalation."""

from __future__ import annotations

import pytest

from agentd.engine.consensus import (
    Candidate,
    Rule,
    Vote,
    count_votes,
    diff_similarity,
    escalate,
    evidence_score,
    group_candidates,
)
from agentd.engine.verdicts import ReviewFinding

FIX = """\
diff --git a/calc.go b/calc.go
index 1111111..2222222 100644
--- a/calc.go
+++ b/calc.go
@@ -10,3 +10,3 @@ func Add(a, b int) int {
-	return a - b
+	return a + b
 }
"""
FIX_REFORMATTED = """\
--- a/calc.go
+++ b/calc.go
@@ -12,3 +12,4 @@ func Add(a, b int) int {
-    return a - b
+    return a+b
+
 }
"""
OTHER = """\
--- a/server.go
+++ b/server.go
@@ -1,2 +1,5 @@
+import "sync"
+var mu sync.Mutex
+func lock() { mu.Lock(); defer mu.Unlock() }
-var counter int
"""
GREEN = {"TestAdd": True, "TestSub": True}
RED = {"TestAdd": False, "TestSub": True}


def cand(cid: str, diff: str = FIX, tests: dict[str, bool] | None = None) -> Candidate:
    """A candidate by `cid`'s author, green unless told otherwise."""
    return Candidate(cid, f"author-{cid}", diff, GREEN if tests is None else tests)


def votes_for(*choices: str | None, confidence: float = 0.8) -> list[Vote]:
    """One vote per choice, by voters v0, v1, …"""
    return [Vote(f"v{i}", choice, confidence) for i, choice in enumerate(choices)]


# ---------------------------------------------------------------- similarity and grouping


def test_identical_diffs_are_fully_similar() -> None:
    """A diff compared with itself scores 1.0."""
    assert diff_similarity(FIX, FIX) == 1.0


def test_whitespace_and_hunk_headers_do_not_count() -> None:
    """Diffs that differ only in indentation, spacing, blank lines and hunk headers are equal."""
    assert diff_similarity(FIX, FIX_REFORMATTED) == 1.0


def test_unrelated_diffs_are_dissimilar() -> None:
    """Two diffs that change different code score low."""
    assert diff_similarity(FIX, OTHER) < 0.3


def test_a_one_character_change_is_close_but_not_equal() -> None:
    """Replacing lines counts the characters they share, so a tiny edit stays similar."""
    assert 0.85 < diff_similarity(FIX, FIX.replace("a + b", "a + c")) < 1.0


def test_two_empty_diffs_are_equal() -> None:
    """Two candidates that change nothing are the same change."""
    assert diff_similarity("", "") == 1.0
    assert diff_similarity("", FIX) == 0.0


def test_grouping_puts_same_behaviour_and_similar_diffs_together() -> None:
    """Candidates with one pass/fail pattern and near-identical diffs form one group."""
    groups = group_candidates([cand("a"), cand("b", FIX_REFORMATTED), cand("c", OTHER)])
    assert [[c.id for c in g] for g in groups] == [["a", "b"], ["c"]]


def test_grouping_splits_identical_diffs_that_behave_differently() -> None:
    """Behaviour comes first: the same diff with a different test outcome is another group."""
    groups = group_candidates([cand("a"), cand("b", tests=RED), Candidate("c", "x", FIX, {})])
    assert [[c.id for c in g] for g in groups] == [["a"], ["b"], ["c"]]


def test_grouping_keeps_untested_candidates_apart_from_tested_ones() -> None:
    """A candidate never tested shares a group only with other untested ones."""
    untested = [Candidate("u1", "x", FIX, None), Candidate("u2", "y", FIX, None)]
    groups = group_candidates([cand("a"), *untested])
    assert [[c.id for c in g] for g in groups] == [["a"], ["u1", "u2"]]


def test_evidence_ranks_all_green_above_more_passes_with_failures() -> None:
    """All green beats failures; more passes beat fewer; no tests is no evidence."""
    assert evidence_score(cand("a")) == (True, 2)
    assert evidence_score(cand("b", tests={"T1": True, "T2": True, "T3": False})) == (False, 2)
    assert evidence_score(Candidate("c", "x", FIX, {})) == (False, 0)
    assert evidence_score(cand("a")) > evidence_score(cand("b", tests={f"T{i}": i > 0 for i in range(9)}))


# ---------------------------------------------------------------- rules


@pytest.mark.parametrize(
    ("rule", "choices", "agreed"),
    [
        ("majority", ["a", "a", "c"], True),
        ("majority", ["a", "c"], False),
        ("majority", ["a", "a", None], True),
        ("majority", ["a", None], False),
        ("supermajority", ["a", "a", "c"], True),
        ("supermajority", ["a", "a", "c", "c", "a"], False),
        ("unanimous", ["a", "b", "a"], True),
        ("unanimous", ["a", "a", "c"], False),
        ("unanimous", ["a", "a", None], False),
    ],
)
def test_counting_rules(rule: Rule, choices: list[str | None], agreed: bool) -> None:
    """Majority needs > 1/2, supermajority ≥ 2/3 and unanimity every vote; abstentions count as cast."""
    candidates = [cand("a"), cand("b", FIX_REFORMATTED), cand("c", OTHER)]
    decision = count_votes(candidates, votes_for(*choices), rule)
    assert decision.agreed is agreed
    assert decision.winner == ("a" if agreed else None)
    assert decision.flagged_for_person is not agreed
    assert decision.groups == [["a", "b"], ["c"]]


def test_votes_for_a_group_member_count_for_the_group() -> None:
    """Two votes split between two near-identical patches are one group's majority."""
    candidates = [cand("a"), cand("b", FIX_REFORMATTED), cand("c", OTHER)]
    decision = count_votes(candidates, votes_for("a", "b", "c"), "majority")
    assert decision.agreed
    assert decision.support == pytest.approx(2 / 3)
    assert decision.winner == "a"


def test_the_winner_is_the_group_member_most_voted_for() -> None:
    """Within the winning group, the member with the most votes is the one committed."""
    decision = count_votes([cand("a"), cand("b", FIX_REFORMATTED)], votes_for("b", "b", "a"), "majority")
    assert decision.winner == "b"


def test_weighted_rule_counts_confidence_not_heads() -> None:
    """One very sure voter outweighs two unsure ones under the weighted rule, not under majority."""
    votes = [Vote("v0", "c", 0.9), Vote("v1", "a", 0.2), Vote("v2", "a", 0.2)]
    candidates = [cand("a"), cand("c", OTHER)]
    weighted = count_votes(candidates, votes, "weighted")
    assert weighted.winner == "c"
    assert weighted.support == pytest.approx(0.9 / 1.3)
    assert count_votes(candidates, votes, "majority").winner == "a"


def test_a_custom_supermajority_threshold_applies() -> None:
    """`supermajority=0.75` refuses what 2/3 would accept."""
    candidates = [cand("a"), cand("c", OTHER)]
    assert count_votes(candidates, votes_for("a", "a", "c"), "supermajority").agreed
    assert not count_votes(candidates, votes_for("a", "a", "c"), "supermajority", supermajority=0.75).agreed


def test_rejections_count_as_cast_but_support_no_one() -> None:
    """A vote that rejects a candidate adds to the votes cast, not to its support."""
    votes = [Vote("v0", "a", 0.9), Vote("v1", "a", 0.9, approve=False)]
    decision = count_votes([cand("a")], votes, "majority")
    assert not decision.agreed
    assert decision.support == 0.5


def test_a_voter_counts_once_by_their_last_vote() -> None:
    """A voter who votes twice is counted by the later vote only."""
    votes = [Vote("v0", "c", 0.9), Vote("v1", "a", 0.9), Vote("v0", "a", 0.9)]
    decision = count_votes([cand("a"), cand("c", OTHER)], votes, "unanimous")
    assert decision.winner == "a"


def test_a_minority_patch_that_passes_more_tests_beats_a_majority_that_passes_fewer() -> None:
    """Only the best-tested group may win; votes for worse-tested patches are set aside and named."""
    candidates = [cand("green", OTHER), cand("red", tests=RED)]
    decision = count_votes(candidates, votes_for("red", "red", "red", "green"), "majority")
    assert decision.agreed
    assert decision.winner == "green"
    assert "3 vote(s) went to candidates that pass fewer tests" in decision.reason


def test_a_majority_for_the_worse_patch_alone_agrees_on_nothing() -> None:
    """When every vote backs a worse-tested patch, nothing wins and a person is asked."""
    decision = count_votes([cand("green", OTHER), cand("red", tests=RED)], votes_for("red", "red"), "majority")
    assert (decision.agreed, decision.winner, decision.flagged_for_person) == (False, None, True)
    assert "pass fewer tests" in decision.reason


def test_an_unresolved_critical_finding_vetoes_agreement() -> None:
    """A unanimous vote is still not agreed while a critical finding is open; a major one does not veto."""
    findings = [finding("major"), finding("critical")]
    assert count_votes([cand("a")], votes_for("a", "a"), "unanimous", findings=findings[:1]).agreed
    decision = count_votes([cand("a")], votes_for("a", "a"), "unanimous", findings=findings)
    assert (decision.agreed, decision.winner) == (False, None)
    assert "vetoed by 1 unresolved critical finding" in decision.reason
    assert "a had 100%" in decision.reason


def test_a_tie_is_not_agreed() -> None:
    """Two best-tested groups with equal support never agree, even when the threshold allows both."""
    candidates = [cand("a"), cand("c", OTHER)]
    decision = count_votes(candidates, votes_for("a", "c"), "supermajority", supermajority=0.5)
    assert (decision.agreed, decision.flagged_for_person) == (False, True)
    assert decision.reason.startswith("tie at 50% between a and c")


def test_a_weighted_tie_survives_float_rounding() -> None:
    """Equal confidence sums that differ only by float rounding are still a tie."""
    votes = [Vote("v0", "a", 0.1), Vote("v1", "a", 0.2), Vote("v2", "c", 0.3)]
    assert count_votes([cand("a"), cand("c", OTHER)], votes, "weighted").reason.startswith("tie")


def test_no_threshold_reached_is_flagged_with_the_reason() -> None:
    """Falling short of the rule's threshold flags the task for a person and says by how much."""
    decision = count_votes([cand("a"), cand("c", OTHER)], votes_for("a", "a", "c"), "unanimous")
    assert decision.flagged_for_person
    assert decision.reason == "unanimous: a has 67% of the counted support, short of every vote"


@pytest.mark.parametrize(
    ("candidates", "votes", "reason"),
    [
        ([], votes_for("a"), "no candidates to vote on"),
        ([cand("a")], [], "no counted vote approves a best-tested candidate"),
        ([cand("a")], votes_for(None, None), "no counted vote approves a best-tested candidate"),
        ([cand("a")], votes_for("nope"), "no counted vote approves a best-tested candidate"),
    ],
)
def test_nothing_to_count_is_flagged(candidates: list[Candidate], votes: list[Vote], reason: str) -> None:
    """No candidates, no votes, only abstentions or only votes for unknown ids: flagged, not agreed."""
    decision = count_votes(candidates, votes, "majority")
    assert (decision.agreed, decision.flagged_for_person, decision.reason) == (False, True, reason)


# ---------------------------------------------------------------- escalation


def finding(severity: str) -> ReviewFinding:
    """A reviewer finding of `severity`."""
    return ReviewFinding.model_validate({"severity": severity, "message": "look here"})


def test_no_escalation_when_survivors_agree_and_no_blocking_finding() -> None:
    """Agreeing green candidates and only minor findings: the vote is enough."""
    go, why = escalate([cand("a"), cand("b", FIX_REFORMATTED), cand("r", OTHER, RED)], [finding("minor")])
    assert not go
    assert "agree" in why


def test_escalates_when_survivors_disagree() -> None:
    """Two different all-green patches are a disagreement worth a debate."""
    go, why = escalate([cand("a"), cand("c", OTHER)], [])
    assert go
    assert why == "the surviving candidates disagree: 2 different patches"


def test_escalates_when_every_candidate_fails() -> None:
    """No candidate passing all its tests is a reason to debate."""
    go, why = escalate([cand("a", tests=RED), cand("b", OTHER, RED)], [])
    assert go
    assert why == "all 2 tested candidate(s) fail at least one test"


@pytest.mark.parametrize("severity", ["major", "critical"])
def test_escalates_on_a_blocking_finding(severity: str) -> None:
    """A major or critical finding from a critic escalates even when candidates agree."""
    go, why = escalate([cand("a")], [finding("info"), finding(severity)])
    assert go
    assert why == f"1 blocking finding(s), the worst {severity}"


def test_untested_candidates_are_judged_by_their_diffs() -> None:
    """Without any test results, candidates survive and escalate only if their diffs differ."""
    same = [Candidate("a", "x", FIX, None), Candidate("b", "y", FIX_REFORMATTED, None)]
    assert not escalate(same, [])[0]
    assert escalate([*same, Candidate("c", "z", OTHER, None)], [])[0]


def test_escalation_names_every_trigger() -> None:
    """Several triggers at once are all named in the reason."""
    go, why = escalate([cand("a", tests=RED)], [finding("critical")])
    assert go
    assert why == "1 blocking finding(s), the worst critical; all 1 tested candidate(s) fail at least one test"
