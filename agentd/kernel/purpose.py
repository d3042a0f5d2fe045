"""What a task is for, read from its words: speed (the speed gate applies) or behaviour, and whether it is about tests.

A pure function over the request's kind and description, so the job, the gate and `agentd eval`
ask the same thing and every answer says why. A `--kind optimize` is taken as given; otherwise
the description decides: a request for speed or memory ("make it faster", "is slow", "reduce
allocations", a `Benchmark…` named) makes it an optimization. Symptoms that only sound like
performance ("runs out of memory" from a leak, "hangs", "takes minutes to shut down") do not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

PurposeKind = Literal["fix", "feature", "optimize", "review"]

# Each rule: (pattern, what it shows); the first that matches is quoted as the reason.
_SLOW = "says it is slow"
_SPEED = "asks for speed"
_LESS = "asks for less memory or time"
_SPEED_ASKS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), said)
    for pattern, said in (
        (r"\b(?:faster|quicker|speed(?:s|ing)?\s+(?:it\s+|this\s+|\w+\s+)?up|speed-?up)\b", _SPEED),
        (r"\bmake\s+(?:it|this|them|the\s+\w+|\w+(?:\.\w+)?)\s+(?:much\s+|a\s+lot\s+)?fast(?:er)?\b", _SPEED),
        (r"\b(?:too|is|are|so|far|very|been|become|becomes|got|gets|getting)\s+(?:\w+\s+)?slow(?:er)?\b", _SLOW),
        (r"\bslow(?:er)?\s+than\b|\bslow\s+(?:for|with|on|when)\b", _SLOW),
        (r"\bless\s+memory\b|\breduce\s+(?:the\s+)?(?:memory|allocations?|latency|cpu|run\s*time)\b", _LESS),
        (r"\bfewer\s+allocations\b|\blots\s+of\s+memory\b|\bmemory\s+(?:use|usage|footprint)\b", _LESS),
        (r"\boptimi[sz](?:e|ation)\b|\bperformance\b|\bthroughput\b|\blatency\b", "names performance"),
        (r"\bBenchmark[A-Z]\w*", "names a benchmark"),
    )
)
_TEST_WORK = re.compile(
    r"\b(?:fix|update|rewrite|remove|delete|drop|skip|disable|adjust|correct|repair|relax|tighten)\s+"
    r"(?:the\s+|a\s+|this\s+|that\s+|our\s+|these\s+|those\s+)?(?:flaky\s+|broken\s+|failing\s+|wrong\s+|"
    r"obsolete\s+|outdated\s+|stale\s+)*(?:tests?|test\s+cases?|assertions?|Test[A-Z]\w*)\b"
    r"|\b(?:the\s+)?(?:test|Test[A-Z]\w*)\s+(?:is|was)\s+(?:wrong|flaky|broken|obsolete|outdated)\b"
    r"|\bflaky\s+tests?\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Purpose:
    """The kind agentd works the task as, why, and whether the task is about the tests themselves."""

    kind: PurposeKind
    why: str
    about_tests: bool = False
    asked: str = ""  # the kind the request named (the CLI's --kind, the API's kind)

    @property
    def optimizing(self) -> bool:
        """Whether the speed gate (or the SQL gate) applies."""
        return self.kind == "optimize"

    def line(self) -> str:
        """One line for the report: the kind, who chose it and why."""
        chosen = "as asked" if self.kind == self.asked else f"chosen by agentd; asked {self.asked or 'nothing'}"
        tests = "; the task is about the tests, so changing them is allowed" if self.about_tests else ""
        return f"Kind: {self.kind} ({chosen}: {self.why}){tests}."


def speed_request(description: str) -> str | None:
    """Why the description asks for speed or memory (the rule and the words), or None when it does not."""
    for pattern, said in _SPEED_ASKS:
        found = pattern.search(description)
        if found:
            return f'the description {said} ("{" ".join(found.group(0).split())}")'
    return None


def about_tests(description: str) -> str | None:
    """The words by which a description asks for work on the tests themselves, or None."""
    found = _TEST_WORK.search(description)
    return None if found is None else " ".join(found.group(0).split())


def classify(asked: str, description: str) -> Purpose:
    """The purpose of a requested task: `asked` is the kind the request named, `description` its text."""
    tests = about_tests(description)
    if asked == "optimize":
        return Purpose("optimize", "the request named the kind optimize", tests is not None, asked)
    speed = speed_request(description)
    if speed is not None and asked in {"fix", "feature", ""}:
        return Purpose("optimize", f"{speed}, so agentd's speed gate applies", tests is not None, asked)
    kind: PurposeKind = asked if asked in {"fix", "feature", "review"} else "fix"  # type: ignore[assignment]
    why = "the request named it and the description does not ask for speed or memory"
    if tests is not None:
        why += f'; it asks for work on the tests ("{tests}")'
    return Purpose(kind, why, tests is not None, asked)
