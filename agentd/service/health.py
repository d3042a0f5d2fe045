"""Whether the daemon can do its work: each check's last success, judged against a time limit.

The worker, the store and the Docker engine each report success as they go; when one of them
has not succeeded for longer than `unhealthy_after_s`, the daemon is unhealthy: `/healthz` says
so (503) and the systemd watchdog is no longer fed, so systemd restarts it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class HealthReport:
    """The daemon's health at one moment: healthy or not, and what is wrong."""

    healthy: bool
    problems: list[str] = field(default_factory=list)
    ages_s: dict[str, float] = field(default_factory=dict)


class Health:
    """Thread-safe record of when each named check last succeeded, and its last error."""

    def __init__(
        self, checks: Iterable[str], unhealthy_after_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.unhealthy_after_s = unhealthy_after_s
        self._clock = clock
        now = clock()
        self._last_ok = dict.fromkeys(checks, now)
        self._errors: dict[str, str] = {}
        self._lock = threading.Lock()

    def ok(self, check: str) -> None:
        """The check just succeeded."""
        with self._lock:
            self._last_ok[check] = self._clock()
            self._errors.pop(check, None)

    def failed(self, check: str, error: str) -> None:
        """The check just failed; the daemon turns unhealthy only when failures outlast the limit."""
        with self._lock:
            self._errors[check] = error[:300]

    def failing(self, check: str) -> bool:
        """Whether the check's last attempt failed (at once, without waiting for the limit)."""
        with self._lock:
            return check in self._errors

    def report(self) -> HealthReport:
        """Healthy unless a check has had no success for longer than the limit."""
        now = self._clock()
        with self._lock:
            ages = {name: round(now - last, 1) for name, last in self._last_ok.items()}
            problems = [
                f"{name}: no success for {age:.0f}s" + (f" ({self._errors[name]})" if name in self._errors else "")
                for name, age in sorted(ages.items())
                if age > self.unhealthy_after_s
            ]
        return HealthReport(not problems, problems, ages)
