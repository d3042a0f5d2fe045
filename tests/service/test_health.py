"""The daemon's health: unhealthy only when a check has not succeeded for longer than the limit."""

from __future__ import annotations

from agentd.service.health import Health


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_new_daemon_is_healthy() -> None:
    """Every check counts as succeeded at start, so a daemon that just started is healthy."""
    assert Health(["worker", "store"], 60, Clock()).report().healthy


def test_a_failure_within_the_limit_is_tolerated_and_one_beyond_it_is_reported() -> None:
    """A failing store is healthy for the first 60 s, then unhealthy with the check and its last error."""
    clock = Clock()
    health = Health(["worker", "store"], 60, clock)
    clock.now += 30
    health.ok("worker")
    health.failed("store", "OperationalError: connection refused")
    assert health.report().healthy
    clock.now += 31
    health.ok("worker")
    report = health.report()
    assert not report.healthy
    assert report.problems == ["store: no success for 61s (OperationalError: connection refused)"]


def test_a_success_heals_and_clears_the_error() -> None:
    """One success after a long failure makes the daemon healthy again and forgets the old error."""
    clock = Clock()
    health = Health(["store"], 10, clock)
    health.failed("store", "down")
    clock.now += 20
    assert not health.report().healthy
    health.ok("store")
    assert health.report().healthy
    clock.now += 5
    assert health.report().problems == []
