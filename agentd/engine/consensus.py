"""Consensus as data: group candidate patches by behaviour, rank them by test evidence, count votes.

Everything here is a pure function over plain data. Test evidence comes before opinion: only the
candidates with the best test score may win, whatever the vote says, and an unresolved critical
finding vetoes any agreement. Low consensus is not an error; it is a `Decision` that says why and
asks a person to look.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Literal

from agentd.engine.verdicts import ReviewFinding

Rule = Literal["majority", "supermajority", "unanimous", "weighted"]
_HEADER_PREFIXES = ("+++", "---", "@@", "diff ", "index ")


@dataclass(frozen=True)
class Candidate:
    """A proposed patch: who wrote it, its diff, and agentd's own test results (name → passed)."""

    id: str
    author: str
    diff: str
    test_results: dict[str, bool] | None = None  # None: not tested


@dataclass(frozen=True)
class Vote:
    """One voter's choice: a candidate (None abstains), how sure, and whether it approves it."""

    voter: str
    candidate_id: str | None
    confidence: float
    approve: bool = True


@dataclass(frozen=True)
class Decision:
    """The outcome of a vote: the winning candidate (if agreed), its support, and why."""

    winner: str | None
    agreed: bool
    rule: Rule
    support: float
    groups: list[list[str]]
    reason: str
    flagged_for_person: bool


# ---------------------------------------------------------------- similarity and grouping

NEVER_GROUP = math.inf  # `similarity` for candidates that are plans, not diffs: each stands alone


def _changed_lines(diff: str) -> list[str]:
    """The +/- lines of a unified diff with all whitespace removed; headers and blank changes dropped."""
    lines: list[str] = []
    for line in diff.splitlines():
        if line.startswith(_HEADER_PREFIXES) or line[:1] not in ("+", "-"):
            continue
        body = "".join(line[1:].split())
        if body:
            lines.append(line[0] + body)
    return lines


def diff_similarity(a: str, b: str) -> float:
    """How alike two diffs' changed lines are, 0..1, ignoring whitespace-only differences.

    Lines are aligned first (fast on long diffs); lines that replace each other then count by
    how many characters they share, so `x = 2` and `x = 3` are close but not equal.
    """
    la, lb = _changed_lines(a), _changed_lines(b)
    total = sum(map(len, la)) + sum(map(len, lb))
    if total == 0:
        return 1.0
    shared = 0
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, la, lb, autojunk=False).get_opcodes():
        if tag == "equal":
            shared += sum(map(len, la[i1:i2]))
        elif tag == "replace":
            left, right = "\n".join(la[i1:i2]), "\n".join(lb[j1:j2])
            blocks = SequenceMatcher(None, left, right, autojunk=False).get_matching_blocks()
            shared += sum(block.size for block in blocks)
    return min(1.0, 2 * shared / total)


def _behaviour(candidate: Candidate) -> tuple[tuple[str, bool], ...] | None:
    if candidate.test_results is None:
        return None
    return tuple(sorted(candidate.test_results.items()))


def group_candidates(candidates: Sequence[Candidate], similarity: float = 0.85) -> list[list[Candidate]]:
    """Candidates with the same pass/fail pattern and similar diffs, grouped, in input order.

    Behaviour splits first: two candidates that differ on any test never share a group. Within a
    pattern a candidate joins the first group whose first member's diff is at least `similarity`
    alike (comparing with the first member, not any member, keeps groups from chaining apart).
    """
    groups: list[list[Candidate]] = []
    for candidate in candidates:
        for group in groups:
            first = group[0]
            same = _behaviour(first) == _behaviour(candidate)
            if same and diff_similarity(first.diff, candidate.diff) >= similarity:
                group.append(candidate)
                break
        else:
            groups.append([candidate])
    return groups


# ---------------------------------------------------------------- evidence and votes


def evidence_score(candidate: Candidate) -> tuple[bool, int]:
    """(all tests green, tests passed); compares so that more evidence ranks higher.

    A candidate with no test results, or an empty set, has no evidence: (False, 0).
    """
    results = candidate.test_results or {}
    passed = sum(results.values())
    return bool(results) and passed == len(results), passed


def _latest_votes(votes: Sequence[Vote]) -> list[Vote]:
    """One vote per voter: a voter who voted twice is counted by their last vote."""
    return list({vote.voter: vote for vote in votes}.values())


def _weight(vote: Vote, rule: Rule) -> float:
    return max(0.0, vote.confidence) if rule == "weighted" else 1.0


def _meets(rule: Rule, support: float, supermajority: float) -> bool:
    if rule == "supermajority":
        return support >= supermajority - 1e-9
    if rule == "unanimous":
        return support >= 1.0 - 1e-9
    return support > 0.5


def _threshold_text(rule: Rule, supermajority: float) -> str:
    return {
        "majority": "more than half of the votes",
        "supermajority": f"at least {supermajority:.0%} of the votes",
        "unanimous": "every vote",
        "weighted": "more than half of the voters' total confidence",
    }[rule]


def count_votes(
    candidates: Sequence[Candidate],
    votes: Sequence[Vote],
    rule: Rule,
    *,
    findings: Sequence[ReviewFinding] = (),
    supermajority: float = 2 / 3,
    similarity: float = 0.85,
) -> Decision:
    """Count `votes` by group under `rule`; only the best-tested groups may win.

    Votes for a candidate count for its whole group. Votes for a group with a worse test score
    are recorded (the reason names them) but left out of the count, so a minority patch that
    passes more tests beats a majority that passes fewer. Abstentions, rejections and votes for
    unknown candidates count as cast for no one. An unresolved critical finding among `findings`
    (the voters' and critics') vetoes agreement; a tie never agrees.
    """
    groups = group_candidates(candidates, similarity)
    ids = [[c.id for c in group] for group in groups]
    critical = sum(finding.severity == "critical" for finding in findings)
    veto = f"; vetoed by {critical} unresolved critical finding(s)" if critical else ""

    def verdict(winner: str | None, support: float, reason: str, *, flagged: bool) -> Decision:
        return Decision(winner, winner is not None, rule, support, ids, reason + veto, flagged)

    if not groups:
        return verdict(None, 0.0, "no candidates to vote on", flagged=True)
    support, set_aside = _support(groups, _latest_votes(votes), rule)
    aside = f"; {set_aside} vote(s) went to candidates that pass fewer tests" if set_aside else ""
    top = max(support.values(), default=0.0)
    if top <= 0:
        return verdict(None, 0.0, f"no counted vote approves a best-tested candidate{aside}", flagged=True)
    leaders = [i for i, share in support.items() if math.isclose(share, top)]
    if len(leaders) > 1:
        names = " and ".join("/".join(ids[i]) for i in leaders)
        return verdict(None, top, f"tie at {top:.0%} between {names}{aside}", flagged=True)
    winner = _favourite(groups[leaders[0]], votes)
    if not _meets(rule, top, supermajority):
        need = _threshold_text(rule, supermajority)
        reason = f"{rule}: {winner} has {top:.0%} of the counted support, short of {need}{aside}"
        return verdict(None, top, reason, flagged=True)
    if veto:
        # not flagged: another round can resolve the finding; the reason names who would have won
        return verdict(None, top, f"{rule}: {winner} had {top:.0%} of the counted support{aside}", flagged=False)
    return verdict(winner, top, f"{rule}: {winner} agreed with {top:.0%} of the counted support{aside}", flagged=False)


def _support(groups: list[list[Candidate]], votes: list[Vote], rule: Rule) -> tuple[dict[int, float], int]:
    """(share of the counted votes per best-tested group, how many votes were set aside)."""
    best = max(evidence_score(group[0]) for group in groups)
    eligible = [i for i, group in enumerate(groups) if evidence_score(group[0]) == best]
    group_of = {c.id: i for i, group in enumerate(groups) for c in group}
    tally = dict.fromkeys(eligible, 0.0)
    total, set_aside = 0.0, 0
    for vote in votes:
        group = None if vote.candidate_id is None else group_of.get(vote.candidate_id)
        if group is not None and group not in tally:
            set_aside += 1
            continue
        total += _weight(vote, rule)
        if vote.approve and group is not None:
            tally[group] += _weight(vote, rule)
    if total <= 0:
        return dict.fromkeys(eligible, 0.0), set_aside
    return {i: weight / total for i, weight in tally.items()}, set_aside


def _favourite(group: list[Candidate], votes: Sequence[Vote]) -> str:
    """The group member most voted for; the earliest proposed on a tie."""
    counts = {c.id: 0 for c in group}
    for vote in _latest_votes(votes):
        if vote.approve and vote.candidate_id in counts:
            counts[vote.candidate_id] += 1
    return max(counts, key=lambda cid: counts[cid])  # max keeps the first of equals


# ---------------------------------------------------------------- the "auto" protocol


def escalate(
    candidates: Sequence[Candidate], review_findings: Sequence[ReviewFinding], *, similarity: float = 0.85
) -> tuple[bool, str]:
    """(escalate from vote to debate?, why): the rule of the `auto` protocol.

    Debate when a voter or critic raised a blocking finding, when no tested candidate passes all its
    tests, or when the surviving candidates (all green; every candidate if none was tested)
    fall into more than one group. Otherwise a vote is enough.
    """
    reasons: list[str] = []
    blocking = [f for f in review_findings if f.blocking]
    if blocking:
        worst = "critical" if any(f.severity == "critical" for f in blocking) else "major"
        reasons.append(f"{len(blocking)} blocking finding(s), the worst {worst}")
    if not candidates:
        reasons.append("no candidates to vote on")
    tested = [c for c in candidates if c.test_results]
    surviving = [c for c in tested if evidence_score(c)[0]] if tested else list(candidates)
    if tested and not surviving:
        reasons.append(f"all {len(tested)} tested candidate(s) fail at least one test")
    groups = group_candidates(surviving, similarity)
    if len(groups) > 1:
        reasons.append(f"the surviving candidates disagree: {len(groups)} different patches")
    if reasons:
        return True, "; ".join(reasons)
    return False, "the surviving candidates agree and no critic raised a blocking finding"
