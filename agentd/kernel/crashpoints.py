"""A test hook: `AGENTD_TEST_CRASH_AT` names phases at which agentd SIGKILLs itself, so crash tests hit each on purpose.

The value is a comma-separated list of `phase` or `phase:n` (the n-th time this process reaches
it). The phases are `PHASES`. With the variable unset, as in production, `reached` is one
environment lookup; agentd never sets it itself.
"""

from __future__ import annotations

import functools
import os
import signal
import threading
from collections import Counter

ENV = "AGENTD_TEST_CRASH_AT"
PHASES = {
    "claimed": "a worker has leased a job, before anything of it ran",
    "debate": "a debate turn was recorded (mid-debate)",
    "committed": "the agreed commit exists and passed the gate, before it is published",
    "pushed": "the agentd/ branch was pushed, before agentd recorded publishing it",
    "report": "the task's end is recorded, before its report is written",
}
_seen: Counter[str] = Counter()
_lock = threading.Lock()


@functools.cache
def _targets(value: str) -> dict[str, int]:
    """phase -> the time it is reached at which to die, from the variable's value."""
    targets: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        phase, _, nth = item.partition(":")
        if phase not in PHASES or (nth and not nth.isdigit()):
            raise ValueError(f"{ENV}={value!r}: {item!r} is not one of {sorted(PHASES)}, optionally with :N")
        targets[phase] = int(nth or 1)
    return targets


def reached(phase: str) -> None:
    """Mark that this process reached `phase`; SIGKILL it here when the test hook asks for that."""
    value = os.environ.get(ENV)
    if not value:
        return
    target = _targets(value).get(phase)
    if target is None:
        return
    with _lock:
        _seen[phase] += 1
        hit = _seen[phase] == target
    if hit:
        os.kill(os.getpid(), signal.SIGKILL)
