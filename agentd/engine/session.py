"""A debate session: its participants, their recorded turns, and the phases the protocols run.

Every turn is recorded as it completes; a resumed session replays a completed turn by its key
instead of asking the model again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from agentd.engine.config import DebateConfig, TeamConfig
from agentd.engine.record import Recorder, Replay
from agentd.engine.strategies import run_strategy
from agentd.engine.turn import Participant, Tools, TurnResult, run_turn
from agentd.engine.verdicts import SUBMIT_OF_ROLE, SubmitTool
from agentd.kernel import trace
from agentd.kernel.errors import AgentdError, BudgetExceeded, ModelError
from agentd.kernel.seams import Model


class Session:
    """One debate session of a task; participants come from the config's roles and models."""

    def __init__(
        self,
        models: Callable[[str], Model],
        recorder: Recorder,
        debate: DebateConfig,
        team: TeamConfig,
        cancel: threading.Event,
        replay: Replay | None = None,
        guidance: str = "",
    ) -> None:
        """A session asking `models` for each role's model and writing its turns to `recorder`.

        `guidance` (the repository's AGENTS.md, from the base branch) is given to every participant.
        """
        self.models = models
        self.recorder = recorder
        self.config = debate
        self.max_steps = team.max_steps_per_turn
        self.cancel = cancel
        self.replay = replay or Replay()
        self.guidance = guidance
        self.dropped: list[dict[str, str]] = []
        self.answered: dict[str, str] = {}  # role -> the model that last answered for it
        self._seq = self.replay.next_seq
        self._lock = threading.Lock()

    def participant(
        self, role: str, name: str | None = None, phase: str = "", submit: SubmitTool | None = None
    ) -> Participant:
        """A participant playing `role` (its model from [roles]), optionally in a named phase.

        It ends its turn with `submit`, by default its role's submit tool.
        """
        return Participant(
            name or role,
            role,
            self.models(role),
            submit or SubmitTool(SUBMIT_OF_ROLE.get(role, "submit_review")),
            self.config.priorities.get(role, 0),
            phase,
            self.guidance,
        )

    def speak(self, who: Participant, brief: str, tools: Tools, key: str) -> TurnResult:
        """One recorded turn; replayed from the record when a resumed session already has it."""
        done = self.replay.turn(key, who.submit)
        if done is not None:
            self._answered(done)
            return done
        seq = self._reserve()
        agent = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": who.name, "agentd.role": who.role}
        with trace.span(f"invoke_agent {who.name}", **agent, **{"agentd.key": key}) as current:
            try:
                turn = run_turn(who, brief, tools, self.recorder, self.max_steps, self.cancel, seq)
            except BudgetExceeded:
                raise
            except (ModelError, AgentdError) as exc:
                turn = TurnResult(
                    who.name, who.role, who.model.name, status="failed", content=f"{type(exc).__name__}: {exc}", seq=seq
                )
            current.set_attributes(
                {
                    "agentd.turn_status": turn.status,
                    "gen_ai.usage.input_tokens": turn.input_tokens,
                    "gen_ai.usage.output_tokens": turn.output_tokens,
                }
            )
        turn.key = key
        self.recorder.turn(turn)
        self._answered(turn)
        if turn.failed:
            self.dropped.append({"participant": who.name, "reason": turn.content or turn.status})
        return turn

    def phase(
        self,
        participants: Sequence[Participant],
        brief: str,
        tools: Callable[[Participant], Tools],
        key: str,
        strategy: str | None = None,
    ) -> list[TurnResult]:
        """One phase with several speakers, under the configured (or given) strategy."""

        def speak(who: Participant, text: str) -> TurnResult:
            return self.speak(who, text, tools(who), f"{key}:{who.name}")

        return run_strategy(strategy or self.config.strategy, speak, participants, brief)

    def models_line(self) -> list[str]:
        """`role=model` for each role, naming the model that really answered (for the commit trailer)."""
        with self._lock:
            return [f"{role}={name}" for role, name in sorted(self.answered.items())]

    def _reserve(self) -> int:
        with self._lock:
            seq, self._seq = self._seq, self._seq + 1
            return seq

    def _answered(self, turn: TurnResult) -> None:
        if turn.status != "failed":  # a failed turn's model is the chain nobody answered from
            with self._lock:
                self.answered[turn.role] = turn.model
