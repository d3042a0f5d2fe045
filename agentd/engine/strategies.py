"""Strategies: who speaks when inside one phase of a debate.

A strategy gets the participants of a phase, the brief, and a `speak` function that runs one
turn (and records it). It returns the turns in the order they finished being decided. A
participant whose turn failed stays in the list with its failure recorded; the protocols drop it
from the quorum. Strategies can be switched between phases of one session.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

from agentd.engine.turn import Participant, TurnResult
from agentd.kernel import trace

Speak = Callable[[Participant, str], TurnResult]
StrategyName = Literal["broadcast", "round_robin", "moderator_led", "hierarchical", "priority"]
LEADS = ("moderator", "judge")
SUPERVISORS = ("supervisor", "judge", "moderator")


def _said(turn: TurnResult) -> str:
    said = turn.submission.model_dump_json() if turn.submission is not None else f"(no submission: {turn.content})"
    return f"- {turn.agent} ({turn.role}) said: {said}"


def _with_earlier(brief: str, earlier: Sequence[TurnResult]) -> str:
    if not earlier:
        return brief
    return f"{brief}\n\nWhat the others before you said:\n" + "\n".join(_said(t) for t in earlier)


def broadcast(speak: Speak, participants: Sequence[Participant], brief: str) -> list[TurnResult]:
    """Everyone at once, in parallel; nobody sees the others (independent answers)."""
    if len(participants) <= 1:
        return [speak(p, brief) for p in participants]
    with ThreadPoolExecutor(max_workers=len(participants), thread_name_prefix="speaker") as pool:
        return list(pool.map(trace.in_context(lambda p: speak(p, brief)), participants))


def round_robin(speak: Speak, participants: Sequence[Participant], brief: str) -> list[TurnResult]:
    """One after another; each sees what those before said."""
    turns: list[TurnResult] = []
    for participant in participants:
        turns.append(speak(participant, _with_earlier(brief, turns)))
    return turns


def priority(speak: Speak, participants: Sequence[Participant], brief: str) -> list[TurnResult]:
    """Highest priority first, then as round_robin."""
    return round_robin(speak, sorted(participants, key=lambda p: -p.priority), brief)


def moderator_led(speak: Speak, participants: Sequence[Participant], brief: str) -> list[TurnResult]:
    """The moderator (or judge) frames the problem; the others then answer in parallel, seeing the frame."""
    leads = [p for p in participants if p.role in LEADS][:1]
    if not leads:
        return broadcast(speak, participants, brief)
    frame = speak(leads[0], f"{brief}\n\nYou speak first: frame the problem for the others.")
    rest = [p for p in participants if p is not leads[0]]
    return [frame, *broadcast(speak, rest, _with_earlier(brief, [frame]))]


def hierarchical(speak: Speak, participants: Sequence[Participant], brief: str) -> list[TurnResult]:
    """Workers in parallel, then supervisors one after another, synthesising the workers' answers."""
    supervisors = [p for p in participants if p.role in SUPERVISORS]
    workers = [p for p in participants if p.role not in SUPERVISORS]
    if not supervisors or not workers:
        return broadcast(speak, participants, brief)
    below = broadcast(speak, workers, brief)
    return [*below, *round_robin(speak, supervisors, _with_earlier(brief, below))]


STRATEGIES: dict[str, Callable[[Speak, Sequence[Participant], str], list[TurnResult]]] = {
    "broadcast": broadcast,
    "round_robin": round_robin,
    "priority": priority,
    "moderator_led": moderator_led,
    "hierarchical": hierarchical,
}


def run_strategy(name: str, speak: Speak, participants: Sequence[Participant], brief: str) -> list[TurnResult]:
    """Run one phase with the named strategy."""
    return STRATEGIES[name](speak, participants, brief)
