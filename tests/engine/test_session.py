"""A session's turns: who answered, what is recorded, what a resumed session replays."""

from __future__ import annotations

from agentd.engine.record import Replay, turn_row
from agentd.engine.turn import TurnResult
from agentd.engine.verdicts import SubmitReview, SubmitTool
from agentd.models import FallbackModel
from agentd.models.scripted import ScriptedModelServer
from tests.engine.fakes import FakeTools, Stage, finding, review, scene, scripted_model


def test_a_turn_records_the_model_that_answered_not_the_chain(scripted: Stage) -> None:
    """A fallback chain whose first model is down: the turn, its row, its usage and the trailer name the backup."""
    with ScriptedModelServer({"*": [{"error": 503}, {"text": "unused"}]}) as down:
        chain = FallbackModel([scripted_model(down, "primary"), scripted_model(scripted.server, "backup")])
        s = scene(scripted, {"critic": [review("approve")]}, model=chain)
        turn = s.session.speak(s.session.participant("critic"), "Review.", FakeTools({}), "review")
    assert chain.name == "primary:m | backup:m"
    assert (turn.status, turn.model) == ("done", "backup:m")
    assert s.recorder.rows[0]["model"] == "backup:m"
    assert s.recorder.usage_models == ["backup:m"]
    assert s.session.models_line() == ["critic=backup:m"]


def test_a_failed_turn_is_recorded_under_the_chain_and_dropped(scripted: Stage) -> None:
    """A turn whose model fails fatally is recorded as failed, names the configured model, and drops out."""
    s = scene(scripted, {"critic": [{"error": 400}, review("approve")]})
    turn = s.session.speak(s.session.participant("critic"), "Review.", FakeTools({}), "review")
    assert (turn.status, turn.model, turn.failed) == ("failed", "scripted:m", True)
    assert s.recorder.rows[0]["status"] == "failed"
    assert s.session.dropped[0]["participant"] == "critic"
    assert s.session.models_line() == []


def test_the_replay_key_is_a_field_and_the_submission_stays_typed(scripted: Stage) -> None:
    """A recorded turn carries its key; the row holds plain JSON; a replay gives the typed submission back."""
    s = scene(scripted, {"critic": [review("request_changes", finding("major"))]})
    turn = s.session.speak(s.session.participant("critic"), "Review.", FakeTools({}), "debate:1:critique")
    assert turn.key == "debate:1:critique"
    assert isinstance(turn.submission, SubmitReview) and turn.submission.findings[0].blocking
    (row,) = s.recorder.rows
    assert row["submission"]["findings"][0] == finding("major")
    replayed = Replay([row]).turn("debate:1:critique", SubmitTool("submit_review"))
    assert replayed is not None and replayed.submission == turn.submission
    assert (replayed.key, replayed.model, replayed.seq) == (turn.key, turn.model, turn.seq)


def test_a_replayed_turn_is_not_asked_again(scripted: Stage) -> None:
    """A session resumed with a completed turn returns it without a model call; the numbering goes on after it."""
    first = scene(scripted, {"critic": [review("approve")]})
    first.session.speak(first.session.participant("critic"), "Review.", FakeTools({}), "review")
    again = scene(scripted, {"critic": [review("request_changes")]}, replay=Replay(first.recorder.rows))
    turn = again.session.speak(again.session.participant("critic"), "Review.", FakeTools({}), "review")
    assert isinstance(turn.submission, SubmitReview) and turn.submission.verdict == "approve"
    assert scripted.server.requests == []
    assert again.session.models_line() == ["critic=scripted:m"]
    assert again.session.replay.next_seq == 1


def test_only_completed_turns_are_replayed() -> None:
    """Failed turns and turns without a key are not replayed, but their numbers are never reused."""
    done = turn_row(TurnResult("a", "critic", "m", SubmitReview(verdict="approve", summary="ok"), seq=0, key="k1"))
    failed = turn_row(TurnResult("b", "critic", "m", None, status="failed", seq=4, key="k2"))
    legacy = {**done, "seq": 2, "submission": {"verdict": "approve", "summary": "no key", "findings": []}}
    replay = Replay([done, failed, legacy])
    assert (len(replay), replay.next_seq) == (1, 5)
    assert replay.turn("k2", SubmitTool("submit_review")) is None


def test_a_model_that_only_talks_is_asked_for_a_tool_and_its_words_are_kept(scripted: Stage) -> None:
    """Text-only answers: agentd then requires a tool call, on the last step its submit tool, and the failed turn
    keeps the model's last replies (capped) with a note that agentd insisted."""
    talk = [{"text": f"I believe the bug is in Total ({i})."} for i in range(4)]
    s = scene(scripted, {"proposer": talk})
    turn = s.session.speak(s.session.participant("proposer"), "Fix it.", FakeTools({}), "vote:propose:p1")
    choices = [request.body.get("tool_choice") for request in scripted.server.requests]
    assert choices == [None, "required", "required", {"type": "function", "function": {"name": "submit_patch"}}]
    assert turn.status == "out_of_steps"
    assert "agentd asked for a tool call (tool_choice, where the endpoint takes it) 3 time(s)" in turn.content
    assert "Its last replies:\n> I believe the bug is in Total (1)." in turn.content
    assert "> I believe the bug is in Total (3)." in turn.content
    assert "(0)" not in turn.content  # only the last three replies are kept
    assert s.recorder.rows[0]["content"] == turn.content


def test_a_refused_submit_is_named_when_the_turn_runs_out(scripted: Stage) -> None:
    """A model whose only submit_patch lacks its summary runs out of steps, and the record says the submit was
    refused and why (not that it never called it)."""
    steps = [{"text": "thinking"}] * 3 + [{"tool_calls": [{"name": "submit_patch", "arguments": {"confidence": 1}}]}]
    s = scene(scripted, {"proposer": steps})
    turn = s.session.speak(s.session.participant("proposer"), "Fix it.", FakeTools({}), "vote:propose:p1")
    assert turn.status == "out_of_steps"
    assert turn.content.startswith("proposer did not call submit_patch validly within 4 model calls (the last try: ")
    assert "invalid submit_patch: summary: Field required" in turn.content


def test_the_repositorys_guidance_reaches_every_role_in_its_system_prompt(scripted: Stage) -> None:
    """A session given AGENTS.md text puts it, after the role's own prompt, in every participant's system prompt."""
    s = scene(scripted, {"*": [review("approve")]})
    s.session.guidance = "Use tabs. Never edit generated files."
    for role in ("critic", "reviewer"):
        s.session.speak(s.session.participant(role), "Review.", FakeTools({}), f"review:{role}")
    systems = [m["content"] for r in s.server.requests for m in r.body["messages"] if m["role"] == "system"]
    assert len(systems) == 2
    for role, system in zip(("critic", "reviewer"), systems, strict=True):
        assert system.startswith(f"Role: {role}\n")
        assert system.rstrip().endswith("Use tabs. Never edit generated files.")
        assert "never override agentd's rules" in system
