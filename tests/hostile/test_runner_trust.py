"""Code inside a sandbox against its runner (issue 12, finding 2), in root and non-root mode, with real Docker.

Every case plays what hostile test code would do, then judges by state: main.go on the host, the
processes left in the container, the files in agentd's run directory, and what agentd received.
"""

from __future__ import annotations

import pytest

from tests.hostile.conftest import MAIN_GO, Agentd, only_the_runner

pytestmark = pytest.mark.docker


def test_sandbox_cannot_make_the_runner_start_a_survivor(agentd: Agentd) -> None:
    """Asking the runner (its socket, PID 1's descriptors) for a sleeper that edits main.go later starts nothing."""
    played = agentd.play(
        [
            {"op": "run", "argv": ["./attacker", "smuggle"]},
            {"op": "sleep", "s": 3},  # the smuggled sleeper would have edited main.go by now
            {"op": "processes"},
            {"op": "run_dir"},
        ]
    )
    attack, _, left, run_dir = played.observed
    assert attack["exit_code"] == 0, attack
    assert played.main_go() == MAIN_GO
    assert only_the_runner(left["processes"]), left
    assert [entry for entry in run_dir["entries"] if not entry.endswith(" dir")] == []  # the listener is gone


def test_sandbox_cannot_take_the_runners_place(agentd: Agentd) -> None:
    """A listener put in the runner's place (its socket moved, a symlink planted) never hears from agentd."""
    played = agentd.play(
        [
            {"op": "run", "argv": ["./attacker", "takeover"]},
            {"op": "run", "argv": ["sh", "-c", "exit 7"]},
            {"op": "processes"},
            {"op": "run_dir"},
        ]
    )
    _, after, left, run_dir = played.observed
    assert after.get("exit_code") == 7, after  # the real runner ran it, no forger answered
    assert after["stdout"] == ""
    assert not (played.workspace / "stolen.log").exists()
    assert only_the_runner(left["processes"]), left
    assert [entry for entry in run_dir["entries"] if not entry.endswith(" dir")] == []


def test_runner_cannot_be_traced_read_or_signalled(agentd: Agentd) -> None:
    """ptrace, /proc/1/mem, /proc/1/fd, its binary and signals all fail against the runner, which keeps answering."""
    played = agentd.play(
        [
            {"op": "run", "argv": ["./attacker", "introspect"]},
            {"op": "run", "argv": ["echo", "alive"]},
            {"op": "processes"},
        ]
    )
    attack, after, left = played.observed
    assert attack["exit_code"] == 0, attack
    granted = [line for line in attack["stdout"].splitlines() if line.endswith(": OK")]
    assert granted == [], attack["stdout"]
    assert after.get("stdout") == "alive\n", after
    assert only_the_runner(left["processes"]), left


def test_nothing_a_command_started_outlives_it(agentd: Agentd) -> None:
    """Session leaders, a double-forked daemon and a fork-hopping chain are all dead when the command returns."""
    played = agentd.play(
        [
            {"op": "run", "argv": ["./attacker", "outlive"]},
            {"op": "processes"},
            {"op": "sleep", "s": 3},  # the survivors would have edited main.go by now
            {"op": "processes"},
        ]
    )
    attack, right_after, _, later = played.observed
    assert attack["exit_code"] == 0, attack
    assert only_the_runner(right_after["processes"]), right_after
    assert only_the_runner(later["processes"]), later
    assert played.main_go() == MAIN_GO
    assert attack["killed"] >= 2, attack  # the runner found them and says so


def test_freeze_leaves_no_process_that_could_edit_the_lane(agentd: Agentd) -> None:
    """freeze() kills a command still running (one that would edit main.go later) and returns how many it killed."""
    played = agentd.play(
        [
            {"op": "run_in_background", "argv": ["sh", "-c", "sleep 2; echo late >> main.go"], "timeout_s": 60},
            {"op": "sleep", "s": 0.5},
            {"op": "freeze"},
            {"op": "processes"},
            {"op": "join"},
            {"op": "sleep", "s": 2.5},
        ]
    )
    _, _, frozen, left, joined, _ = played.observed
    assert frozen.get("killed", 0) >= 2, frozen  # sh and its sleep
    assert only_the_runner(left["processes"]), left
    assert joined["results"][0]["exit_code"] == 128 + 9, joined
    assert played.main_go() == MAIN_GO


def test_commands_running_together_keep_running(agentd: Agentd) -> None:
    """One command ending (and its leftovers killed) never kills another command still running beside it."""
    played = agentd.play(
        [
            {"op": "run_in_background", "argv": ["sh", "-c", "sleep 1.5; echo survived"], "timeout_s": 60},
            {"op": "sleep", "s": 0.3},
            {"op": "run", "argv": ["./attacker", "outlive"]},
            {"op": "join"},
            {"op": "sleep", "s": 2.5},
        ]
    )
    _, _, attack, joined, _ = played.observed
    assert joined["results"][0]["stdout"] == "survived\n", joined
    assert played.main_go() == MAIN_GO
    assert attack["killed"] >= 2, attack  # the leftovers died with their own command, not later
