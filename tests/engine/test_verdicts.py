"""The submit tools: a ballot's schema lists its candidates, and a ballot naming none of them is refused."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from agentd.engine.verdicts import CastVote, SubmitTool

ACCEPT = '{"decision": "accept", "confidence": 0.8, "rationale": "green"'


def test_a_ballot_offers_its_candidates_as_an_enum_and_requires_one() -> None:
    """With several candidates, `candidate` is an enum of them and required; other fields stay as defined."""
    spec = SubmitTool("cast_vote", ("proposer-1", "proposer-2")).spec()
    candidate = spec.parameters["properties"]["candidate"]
    assert (candidate["type"], candidate["enum"]) == ("string", ["proposer-1", "proposer-2"])
    assert set(spec.parameters["required"]) == {"decision", "confidence", "rationale", "candidate"}
    assert "findings" in spec.parameters["properties"]


def test_a_ballot_naming_an_unknown_candidate_is_refused_with_the_valid_names() -> None:
    """A ballot for a name that is not a candidate fails validation, and the error lists the candidates."""
    with pytest.raises(ValidationError, match=r"'ok' is not a candidate; name one of: proposer-1, proposer-2"):
        SubmitTool("cast_vote", ("proposer-1", "proposer-2")).parse(ACCEPT + ', "candidate": "ok"}')


def test_a_ballot_among_several_must_name_one() -> None:
    """Leaving `candidate` out is refused when there are several to choose from."""
    with pytest.raises(ValidationError, match=r"name the candidate you vote for; one of: a, b"):
        SubmitTool("cast_vote", ("a", "b")).parse(ACCEPT + "}")


def test_a_ballot_with_one_candidate_means_it_when_unnamed() -> None:
    """With a single candidate, an unnamed ballot is a vote for it, and the schema does not require the name."""
    tool = SubmitTool("cast_vote", ("proposer-1",))
    ballot = tool.parse(ACCEPT + "}")
    assert isinstance(ballot, CastVote) and ballot.candidate == "proposer-1"
    assert "candidate" not in tool.spec().parameters["required"]


def test_a_judges_vote_without_candidates_names_none() -> None:
    """cast_vote outside a ballot (the debate's judge) takes no candidate list and needs no name."""
    tool = SubmitTool("cast_vote")
    ballot = tool.parse(ACCEPT + "}")
    assert isinstance(ballot, CastVote) and ballot.candidate is None
    assert "enum" not in str(tool.spec().parameters["properties"]["candidate"])


def test_only_a_vote_takes_candidates() -> None:
    """A candidate list on another submit tool, or an unknown tool, is a programming error said plainly."""
    with pytest.raises(ValueError, match="only cast_vote takes candidates"):
        SubmitTool("submit_patch", ("a",))
    with pytest.raises(ValueError, match="unknown submit tool 'submit_poem'"):
        SubmitTool("submit_poem")


@pytest.mark.parametrize("name", ["submit_patch", "cast_vote"])
def test_confidence_is_described_as_a_number_from_0_to_1(name: str) -> None:
    """The schema's words say confidence runs from 0 to 1 (a real model sent larger numbers), beside its bounds."""
    confidence = SubmitTool(name).spec().parameters["properties"]["confidence"]
    assert (confidence["minimum"], confidence["maximum"]) == (0, 1)
    assert "a number from 0 to 1" in confidence["description"]
